// The worker outside Lambda (beside webhook-server.ts, the webhook's local server): polls SQS and feeds each batch to the very same Worker the Lambda
// handler uses, then does what the Lambda event source mapping would: deletes the acknowledged
// messages and releases the failed ones (visible again after `retryDelaySeconds`, so SQS counts
// the attempt and, past maxReceiveCount, moves the message to the dead-letter queue).
// Stops between batches when `signal` aborts; never abandons a batch halfway.
import type { SQSRecord } from 'aws-lambda';
import type { SqsPoller } from '../adapters/sqs-poller';
import type { Worker } from '../worker/worker';

export interface LocalRunnerOptions {
  readonly poller: SqsPoller;
  readonly worker: Worker;
  /** Process what is in the queue, then return (a receive that yields nothing ends the run). */
  readonly once: boolean;
  /** Long-polling wait per receive, 0-20 s. */
  readonly waitSeconds: number;
  /** Delay before a failed message is visible again. */
  readonly retryDelaySeconds: number;
  readonly signal?: AbortSignal;
  readonly onBatch?: (summary: BatchSummary) => void;
}

export interface BatchSummary {
  readonly received: number;
  readonly acknowledged: number;
  readonly failed: number;
}

export interface RunSummary {
  readonly batches: number;
  readonly received: number;
  readonly acknowledged: number;
  readonly failed: number;
}

export async function runLocalWorker(options: LocalRunnerOptions): Promise<RunSummary> {
  const totals = { batches: 0, received: 0, acknowledged: 0, failed: 0 };
  while (!options.signal?.aborted) {
    const records = await options.poller.receive({
      waitSeconds: options.waitSeconds,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    if (records.length === 0) {
      if (options.once) break;
      continue;
    }
    const response = await options.worker.handleEvent({ Records: [...records] });
    const failedIds = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    const failed: SQSRecord[] = records.filter((r) => failedIds.has(r.messageId));
    const done: SQSRecord[] = records.filter((r) => !failedIds.has(r.messageId));
    await options.poller.acknowledge(done);
    await options.poller.release(failed, options.retryDelaySeconds);
    totals.batches++;
    totals.received += records.length;
    totals.acknowledged += done.length;
    totals.failed += failed.length;
    options.onBatch?.({ received: records.length, acknowledged: done.length, failed: failed.length });
  }
  return totals;
}
