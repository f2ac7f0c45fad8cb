// The promotion history in the deliveries table (DynamoDB; the table the webhook already keeps
// delivery ids in, partition key `deliveryId`): one item per promoted image under the key prefix
// `promotion#<environment>#`, without a TTL. Writes with PutItem, reads with a paginated Scan
// filtered on the prefix (the table has no sort key; history is read by a person, rarely).
// Never stores credentials or payloads.
import {
  PutItemCommand,
  ScanCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { toAwsServiceError, type AwsServiceError } from '../core/errors';
import {
  historyKey,
  historyKeyPrefix,
  type PromotionHistory,
  type PromotionRecord,
} from '../core/promotion-history';

/** Pages of a history Scan at most: 1 MB each, far more than any environment's promotions. */
const MAX_SCAN_PAGES = 100;

export function createDynamoPromotionHistory(client: DynamoDBClient, tableName: string): PromotionHistory {
  const fail = (what: string, e: unknown): AwsServiceError =>
    toAwsServiceError(e, 'dynamodb', `DynamoDB ${what} on table ${tableName}`);
  return {
    record: async (entry) => {
      const item: Record<string, AttributeValue> = {
        deliveryId: { S: historyKey(entry) },
        kind: { S: 'promotion' },
        environment: { S: entry.environment },
        image: { S: entry.image },
        repository: { S: entry.repository },
        digest: { S: entry.digest },
        source: { S: entry.source },
        commit: { S: entry.commit },
        pusher: { S: entry.pusher },
        promotionDeliveryId: { S: entry.deliveryId },
        promotedAt: { S: entry.promotedAt },
        bytes: { N: String(entry.bytes) },
        ...(entry.tag === undefined ? {} : { tag: { S: entry.tag } }),
      };
      try {
        await client.send(new PutItemCommand({ TableName: tableName, Item: item }));
      } catch (e: unknown) {
        throw fail('put promotion record', e);
      }
    },
    list: async (environment) => {
      const records: PromotionRecord[] = [];
      let start: Record<string, AttributeValue> | undefined;
      for (let page = 0; page < MAX_SCAN_PAGES; page++) {
        let out;
        try {
          out = await client.send(
            new ScanCommand({
              TableName: tableName,
              FilterExpression: 'begins_with(deliveryId, :prefix)',
              ExpressionAttributeValues: { ':prefix': { S: historyKeyPrefix(environment) } },
              ...(start === undefined ? {} : { ExclusiveStartKey: start }),
            }),
          );
        } catch (e: unknown) {
          throw fail('scan promotion history', e);
        }
        for (const item of out.Items ?? []) records.push(toRecord(item));
        start = out.LastEvaluatedKey;
        if (start === undefined) break;
      }
      return records;
    },
  };
}

function toRecord(item: Record<string, AttributeValue>): PromotionRecord {
  const s = (name: string): string => item[name]?.S ?? '';
  const tag = item['tag']?.S;
  return {
    environment: s('environment'),
    image: s('image'),
    repository: s('repository'),
    ...(tag === undefined ? {} : { tag }),
    digest: s('digest'),
    source: s('source'),
    commit: s('commit'),
    pusher: s('pusher'),
    deliveryId: s('promotionDeliveryId'),
    promotedAt: s('promotedAt'),
    bytes: Number(item['bytes']?.N ?? 0),
  };
}
