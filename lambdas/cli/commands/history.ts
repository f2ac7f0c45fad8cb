// `image-promoter history --environment NAME`: what the worker promoted into an environment, newest
// first (tag, digest, source, commit, pusher, delivery, time, bytes), read from the deliveries table
// where the worker records each promoted image. Wiring only: the store is
// adapters/promotion-history-store, ordering and filtering core/promotion-history.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createDynamoPromotionHistory } from '../../adapters/promotion-history-store';
import { UsageError } from '../../core/errors';
import { selectHistory } from '../../core/promotion-history';
import { formatTable } from '../format-table';
import type { Command, CommandIo } from '../command';
import { parseCommandArgs } from '../parse-command-args';
import { formatBytes } from '../progress-line';

const USAGE = `usage: image-promoter history --environment NAME [--image REPO] [--latest] [--table NAME] [--json]

Lists the images the worker promoted into an environment, newest first: tag, digest, source,
commit, pusher, delivery (reconcile-... for the scheduled reconcile and verify --fix), time, bytes.
  --environment NAME  the environment
  --image REPO        only this repository path (e.g. shop/web)
  --latest            only the newest promotion of each repository: what runs where now
  --table NAME        the deliveries table (default: $DELIVERIES_TABLE; the stack's DeliveriesTable)
  --json              print {"environment", "promotions": [{"image", "repository", "tag", "digest",
                      "source", "commit", "pusher", "deliveryId", "promotedAt", "bytes"}]}

AWS credentials and region as for the AWS CLI; AWS_ENDPOINT_URL for a local endpoint.`;

export const historyCommand: Command = {
  summary: 'list what was promoted into an environment, by whom, from which commit',
  usage: USAGE,
  run: async (args: readonly string[], io: CommandIo): Promise<number> => {
    const { values } = parseCommandArgs({
      args: [...args],
      options: {
        environment: { type: 'string' },
        image: { type: 'string' },
        latest: { type: 'boolean', default: false },
        table: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    const environment = values.environment;
    if (environment === undefined || environment === '') throw new UsageError('missing --environment');
    const table = values.table ?? io.env['DELIVERIES_TABLE'];
    if (table === undefined || table === '') throw new UsageError('missing --table (or DELIVERIES_TABLE)');
    const client = new DynamoDBClient({});
    try {
      const records = selectHistory(await createDynamoPromotionHistory(client, table).list(environment), {
        ...(values.image === undefined ? {} : { repository: values.image }),
        latestOnly: values.latest,
      });
      if (values.json) {
        io.stdout.write(`${JSON.stringify({ environment, promotions: records }, null, 2)}\n`);
      } else {
        const rows = records.map((r) => [
          r.promotedAt,
          r.image,
          r.digest.slice(0, 19),
          r.commit.slice(0, 12),
          r.pusher,
          formatBytes(r.bytes),
          r.deliveryId,
        ]);
        io.stdout.write(
          `${formatTable(['PROMOTED', 'IMAGE', 'DIGEST', 'COMMIT', 'PUSHER', 'BYTES', 'DELIVERY'], rows)}\n` +
            `${records.length} promotion${records.length === 1 ? '' : 's'} into ${environment}\n`,
        );
      }
      return 0;
    } finally {
      client.destroy();
    }
  },
};
