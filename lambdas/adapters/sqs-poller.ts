// SQS for the local worker runner (`image-promoter worker`): long-poll a queue, hand out messages as
// Lambda-shaped SQS records (with attributes.ApproximateReceiveCount, so the same handler decides
// retries and gives up on the last attempt exactly as in Lambda), delete what was acknowledged,
// and make failed messages visible again after a backoff. Never deletes a message it was not told to.
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { AwsServiceError, toAwsServiceError } from '../core/errors';

export interface ReceiveOptions {
  /** Long-polling wait, 0-20 s. */
  readonly waitSeconds: number;
  /** 1-10. */
  readonly maxMessages?: number;
  readonly signal?: AbortSignal;
}

export interface SqsPoller {
  receive(options: ReceiveOptions): Promise<readonly SQSRecord[]>;
  /** Deletes the messages (they were processed or dropped). */
  acknowledge(records: readonly SQSRecord[]): Promise<void>;
  /** Makes the messages visible again after `delaySeconds` (0: at once). */
  release(records: readonly SQSRecord[], delaySeconds: number): Promise<void>;
}

export function createSqsPoller(client: SQSClient, queueUrl: string): SqsPoller {
  let queueArn: Promise<string> | undefined;
  const arn = (): Promise<string> =>
    (queueArn ??= client
      .send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))
      .then((out) => out.Attributes?.['QueueArn'] ?? '')
      .catch((e: unknown) => {
        queueArn = undefined;
        throw toSqsError(e, 'GetQueueAttributes', queueUrl);
      }));
  const region = (): string =>
    /sqs[.-]([a-z0-9-]+)\.amazonaws/.exec(queueUrl)?.[1] ?? process.env['AWS_REGION'] ?? '';

  return {
    async receive(options: ReceiveOptions): Promise<readonly SQSRecord[]> {
      const eventSourceARN = await arn();
      let messages: readonly Message[];
      try {
        const out = await client.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            WaitTimeSeconds: options.waitSeconds,
            MaxNumberOfMessages: options.maxMessages ?? 10,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          options.signal === undefined ? {} : { abortSignal: options.signal },
        );
        messages = out.Messages ?? [];
      } catch (e: unknown) {
        if (options.signal?.aborted) return [];
        throw toSqsError(e, 'ReceiveMessage', queueUrl);
      }
      return messages.map((m) => toRecord(m, eventSourceARN, region()));
    },

    async acknowledge(records: readonly SQSRecord[]): Promise<void> {
      for (const chunk of chunks(records, 10)) {
        try {
          const out = await client.send(
            new DeleteMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: chunk.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
            }),
          );
          if ((out.Failed ?? []).length > 0) {
            throw new AwsServiceError(
              `SQS DeleteMessageBatch on ${queueUrl}: ${out.Failed?.[0]?.Code ?? 'failed'} (${out.Failed?.length} of ${chunk.length})`,
              'sqs',
              true,
            );
          }
        } catch (e: unknown) {
          throw toSqsError(e, 'DeleteMessageBatch', queueUrl);
        }
      }
    },

    async release(records: readonly SQSRecord[], delaySeconds: number): Promise<void> {
      for (const chunk of chunks(records, 10)) {
        try {
          await client.send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl: queueUrl,
              Entries: chunk.map((r, i) => ({
                Id: String(i),
                ReceiptHandle: r.receiptHandle,
                VisibilityTimeout: delaySeconds,
              })),
            }),
          );
        } catch (e: unknown) {
          throw toSqsError(e, 'ChangeMessageVisibilityBatch', queueUrl);
        }
      }
    },
  };
}

/** A received message in the shape Lambda's SQS event source delivers it. */
export function toRecord(message: Message, eventSourceARN: string, awsRegion: string): SQSRecord {
  const a = message.Attributes ?? {};
  const messageAttributes: SQSRecord['messageAttributes'] = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      dataType: value.DataType ?? 'String',
      ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
      ...(value.BinaryValue === undefined
        ? {}
        : { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
    };
  }
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: a['ApproximateReceiveCount'] ?? '1',
      SentTimestamp: a['SentTimestamp'] ?? '',
      SenderId: a['SenderId'] ?? '',
      ApproximateFirstReceiveTimestamp: a['ApproximateFirstReceiveTimestamp'] ?? '',
      ...(a['AWSTraceHeader'] === undefined ? {} : { AWSTraceHeader: a['AWSTraceHeader'] }),
    },
    messageAttributes,
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN,
    awsRegion,
  };
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function toSqsError(e: unknown, action: string, queueUrl: string): AwsServiceError {
  return toAwsServiceError(e, 'sqs', `SQS ${action} on ${queueUrl}`);
}
