// The promotion job queue and its dead-letter queue. A STANDARD queue: exactly-once in effect comes
// from the webhook's DynamoDB claim per delivery id, not from FIFO deduplication. Never holds
// secrets; never accepts plaintext transport (SSL-only policy on both queues).
import { Duration } from 'aws-cdk-lib';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface PromotionQueueProps {
  /** Deliveries of a job before SQS moves it to the DLQ: config.worker.maxReceiveCount, which the
   * worker also reads to report its last attempt. */
  readonly maxReceiveCount: number;
  /** Must be >= 6 x the worker's timeout (AWS's guidance for SQS event sources). */
  readonly visibilityTimeout: Duration;
}

export class PromotionQueue extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: PromotionQueueProps) {
    super(scope, id);
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The longest SQS allows: time for someone to look and redrive.
      retentionPeriod: Duration.days(14),
    });
    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: props.visibilityTimeout,
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });
  }
}
