// The worker's SQS batch entry point, shared by the Lambda handler and the local runner: each
// record is validated into a PromotionJob (an invalid one is logged and dropped: acknowledged, never
// retried forever), then processed; Powertools `processPartialResponse` turns the records whose
// handler threw into `batchItemFailures`, which SQS redelivers (and, after maxReceiveCount, moves to
// the dead-letter queue). Throw to retry, return to acknowledge. Wiring only.
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { deadlineSignal, workerCopyBudgetMs } from '../copy/deadline';
import { addMetric, METRICS } from '../core/contract';
import { describeError } from '../core/errors';
import { parsePromotionJob, type PromotionJob } from '../core/job';
import { processPromotionJob, type WorkerDependencies } from './process-job';

export interface Worker {
  handleEvent(event: SQSEvent, context?: Context): Promise<SQSBatchResponse>;
}

/** Thrown for a record whose job must come back: the batch processor reports it as failed. */
export class RetryLaterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryLaterError';
  }
}

export function createWorker(deps: WorkerDependencies): Worker {
  const processor = new BatchProcessor(EventType.SQS);
  const handleRecord = async (record: SQSRecord, context?: Context): Promise<void> => {
    let job: PromotionJob;
    try {
      job = parsePromotionJob(record.body);
    } catch (e: unknown) {
      // Only the webhook writes to the queue, and it writes valid jobs: anything else came from
      // someone else with access to the queue, a security event like a job the config refuses.
      deps.logger.error('invalid message dropped', {
        securityEvent: true,
        reason: 'invalid-message',
        messageId: record.messageId,
        error: describeError(e),
        bodyBytes: Buffer.byteLength(record.body),
      });
      addMetric(deps.metrics, METRICS.rejectedJobs, 1);
      deps.metrics.publishStoredMetrics();
      return;
    }
    const attempt = Math.max(1, Number.parseInt(record.attributes.ApproximateReceiveCount, 10) || 1);
    // The copies end before the Lambda does, so the outcome is still reported (copy/deadline.ts).
    const signal =
      context === undefined
        ? undefined
        : deadlineSignal(
            workerCopyBudgetMs(context.getRemainingTimeInMillis()),
            "the Lambda's remaining time",
          );
    const outcome = await processPromotionJob(
      { job, attempt, ...(signal === undefined ? {} : { signal }) },
      deps,
    );
    if (!outcome.acknowledge) {
      throw new RetryLaterError(
        outcome.decision.kind === 'retry'
          ? outcome.decision.reason
          : `${outcome.decision.kind}: ${'description' in outcome.decision ? outcome.decision.description : ''}`,
      );
    }
  };
  return {
    handleEvent: (event: SQSEvent, context?: Context): Promise<SQSBatchResponse> => {
      // Request id, function name and cold start on every log line.
      if (context !== undefined) deps.logger.addContext(context);
      return processPartialResponse(event, handleRecord, processor, {
        ...(context === undefined ? {} : { context }),
        // Every record failing is an ordinary answer here (each gets retried on its own), not a
        // reason to fail the invocation.
        throwOnFullBatchFailure: false,
      });
    },
  };
}
