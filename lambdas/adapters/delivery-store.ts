// Where the webhook remembers GitHub delivery ids (X-GitHub-Delivery) so a redelivery enqueues
// nothing new: DynamoDB with a conditional write (table from DELIVERIES_TABLE, partition key
// `deliveryId` (S), TTL attribute `expiresAt`), or memory for local use. Stores ids, states and
// times only; never a payload or a secret.
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { toAwsServiceError, type AwsServiceError } from '../core/errors';
import {
  CLAIM_STALE_AFTER_MS,
  DELIVERY_TTL_SECONDS,
  type ClaimResult,
  type DeliveryStore,
} from '../core/webhook-ports';

export function createDynamoDeliveryStore(client: DynamoDBClient, tableName: string): DeliveryStore {
  const fail = (what: string, e: unknown): AwsServiceError =>
    toAwsServiceError(e, 'dynamodb', `DynamoDB ${what} on table ${tableName}`);
  return {
    claim: async (deliveryId: string, now: Date): Promise<ClaimResult> => {
      try {
        await client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: {
              deliveryId: { S: deliveryId },
              state: { S: 'claimed' },
              claimedAt: { N: String(now.getTime()) },
              expiresAt: { N: String(Math.floor(now.getTime() / 1000) + DELIVERY_TTL_SECONDS) },
            },
            ConditionExpression:
              'attribute_not_exists(deliveryId) OR (#state = :claimed AND claimedAt < :stale)',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: {
              ':claimed': { S: 'claimed' },
              ':stale': { N: String(now.getTime() - CLAIM_STALE_AFTER_MS) },
            },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return { kind: 'claimed' };
      } catch (e: unknown) {
        if (e instanceof ConditionalCheckFailedException) {
          return { kind: 'duplicate', state: e.Item?.['state']?.S === 'enqueued' ? 'enqueued' : 'claimed' };
        }
        throw fail('claim', e);
      }
    },
    markEnqueued: async (deliveryId: string, jobs: number, now: Date): Promise<void> => {
      try {
        await client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: { deliveryId: { S: deliveryId } },
            UpdateExpression: 'SET #state = :enqueued, enqueuedAt = :now, jobs = :jobs',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: {
              ':enqueued': { S: 'enqueued' },
              ':now': { N: String(now.getTime()) },
              ':jobs': { N: String(jobs) },
            },
          }),
        );
      } catch (e: unknown) {
        throw fail('mark enqueued', e);
      }
    },
    release: async (deliveryId: string): Promise<void> => {
      try {
        await client.send(
          new DeleteItemCommand({
            TableName: tableName,
            Key: { deliveryId: { S: deliveryId } },
            // Never forget a delivery whose jobs are on the queue.
            ConditionExpression: '#state = :claimed',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: { ':claimed': { S: 'claimed' } },
          }),
        );
      } catch (e: unknown) {
        if (e instanceof ConditionalCheckFailedException) return;
        throw fail('release', e);
      }
    },
  };
}

/** The same semantics in memory: one process, forgotten on exit (local server, tests). */
export function createMemoryDeliveryStore(): DeliveryStore {
  const items = new Map<string, { state: 'claimed' | 'enqueued'; claimedAt: number; expiresAt: number }>();
  return {
    claim: (deliveryId, now) => {
      const item = items.get(deliveryId);
      const live = item !== undefined && item.expiresAt * 1000 > now.getTime();
      if (live && (item.state === 'enqueued' || item.claimedAt >= now.getTime() - CLAIM_STALE_AFTER_MS)) {
        return Promise.resolve({ kind: 'duplicate', state: item.state });
      }
      items.set(deliveryId, {
        state: 'claimed',
        claimedAt: now.getTime(),
        expiresAt: Math.floor(now.getTime() / 1000) + DELIVERY_TTL_SECONDS,
      });
      return Promise.resolve({ kind: 'claimed' });
    },
    markEnqueued: (deliveryId) => {
      const item = items.get(deliveryId);
      if (item) item.state = 'enqueued';
      return Promise.resolve();
    },
    release: (deliveryId) => {
      if (items.get(deliveryId)?.state === 'claimed') items.delete(deliveryId);
      return Promise.resolve();
    },
  };
}
