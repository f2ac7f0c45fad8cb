// Amazon SQS as the webhook's JobQueue: SendMessageBatch, 10 messages per call (the API's limit),
// entries that failed with a retryable (server-side) error re-sent a few times. Bodies are the
// versioned job JSON (serializePromotionJob): a job that does not validate never leaves.
// Never swallows a failed entry: send() resolves only when every job is on the queue.
import type { SendMessageBatchRequestEntry, SQSClient } from '@aws-sdk/client-sqs';
import { AwsServiceError, toAwsServiceError } from '../core/errors';
import { serializePromotionJob, type PromotionJob } from '../core/job';
import type { JobQueue } from '../core/webhook-ports';

export const SQS_BATCH_SIZE = 10;

export interface SqsJobQueueOptions {
  /** Attempts per entry for retryable entry failures (default 3). */
  readonly attempts?: number;
  readonly baseDelayMs?: number;
}

/** An SQS client with the function's own credentials, its SDK module imported on first use, not
 * at load: the webhook and reconcile send jobs only when a plan has some, and importing
 * @aws-sdk/client-sqs is ~50-150 ms of a cold start (bench:bundle). */
export function lazySqsClient(): () => Promise<SQSClient> {
  let client: Promise<SQSClient> | undefined;
  return () => {
    client ??= import('@aws-sdk/client-sqs').then(({ SQSClient }) => new SQSClient({}));
    client.catch(() => (client = undefined));
    return client;
  };
}

/** `client`: a client, or a function giving one on the first send (lazySqsClient). */
export function createSqsJobQueue(
  client: SQSClient | (() => Promise<SQSClient>),
  queueUrl: string,
  options: SqsJobQueueOptions = {},
): JobQueue {
  const attempts = Math.max(1, options.attempts ?? 3);
  const baseDelayMs = options.baseDelayMs ?? 100;
  return {
    send: async (jobs: readonly PromotionJob[]): Promise<void> => {
      const entries: SendMessageBatchRequestEntry[] = jobs.map((job, i) => ({
        Id: `job-${i}`,
        MessageBody: serializePromotionJob(job),
        MessageAttributes: {
          deliveryId: { DataType: 'String', StringValue: job.deliveryId },
          environment: { DataType: 'String', StringValue: job.environment },
          commit: { DataType: 'String', StringValue: job.commit },
        },
      }));
      const batches: SendMessageBatchRequestEntry[][] = [];
      for (let i = 0; i < entries.length; i += SQS_BATCH_SIZE)
        batches.push(entries.slice(i, i + SQS_BATCH_SIZE));
      const sqs = typeof client === 'function' ? await client() : client;
      await Promise.all(batches.map((batch) => sendBatch(sqs, queueUrl, batch, attempts, baseDelayMs)));
    },
  };
}

async function sendBatch(
  client: SQSClient,
  queueUrl: string,
  batch: readonly SendMessageBatchRequestEntry[],
  attempts: number,
  baseDelayMs: number,
): Promise<void> {
  const { SendMessageBatchCommand } = await import('@aws-sdk/client-sqs');
  let pending = [...batch];
  for (let attempt = 1; ; attempt++) {
    let failed: { readonly id: string; readonly code: string; readonly senderFault: boolean }[];
    try {
      const output = await client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }));
      failed = (output.Failed ?? []).map((f) => ({
        id: f.Id ?? '',
        code: f.Code ?? 'Unknown',
        senderFault: f.SenderFault === true,
      }));
    } catch (e: unknown) {
      const error = toAwsServiceError(e, 'sqs', `SQS SendMessageBatch to ${queueUrl}`);
      if (!error.retryable || attempt >= attempts) throw error;
      await delay(baseDelayMs * 2 ** (attempt - 1));
      continue;
    }
    if (failed.length === 0) return;
    const permanent = failed.find((f) => f.senderFault);
    if (permanent !== undefined || attempt >= attempts) {
      const first = permanent ?? failed[0]!;
      throw new AwsServiceError(
        `SQS refused ${failed.length} of ${pending.length} jobs (${first.code}) on ${queueUrl}`,
        'sqs',
        permanent === undefined,
        { awsCode: first.code },
      );
    }
    const ids = new Set(failed.map((f) => f.id));
    pending = pending.filter((entry) => ids.has(entry.Id ?? ''));
    await delay(baseDelayMs * 2 ** (attempt - 1));
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
