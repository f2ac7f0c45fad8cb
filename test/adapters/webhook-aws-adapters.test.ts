// The webhook's AWS adapters against moto_server: the SQS job queue (batches of 10, every job
// delivered once, validated bodies), the DynamoDB delivery store (conditional claim, duplicate,
// release, stale takeover; the memory store must agree) and the Secrets Manager reader (plain and
// rotation JSON, cached for the TTL). Partial SendMessageBatch failures, which moto cannot produce,
// use aws-sdk-client-mock.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CreateTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  CreateQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
  DeleteMessageCommand,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { createDynamoDeliveryStore, createMemoryDeliveryStore } from '../../lambdas/adapters/delivery-store';
import {
  createSecretReader,
  createWebhookSecrets,
  parseWebhookSecrets,
} from '../../lambdas/adapters/secrets';
import { createSqsJobQueue } from '../../lambdas/adapters/sqs-queue';
import { AwsServiceError, ConfigError } from '../../lambdas/core/errors';
import { parsePromotionJob, type PromotionJob } from '../../lambdas/core/job';
import {
  CLAIM_STALE_AFTER_MS,
  DELIVERY_TTL_SECONDS,
  type DeliveryStore,
} from '../../lambdas/core/webhook-ports';
import { startMoto, type MotoServer } from '../support/moto-server';

function job(environment: string): PromotionJob {
  return {
    version: 1,
    deliveryId: 'd-1',
    repository: 'acme/deploy',
    ref: 'refs/heads/main',
    commit: 'a'.repeat(40),
    environment,
    pusher: 'octocat',
    pushedAt: '2026-01-01T00:00:00.000Z',
    promotions: [
      {
        source: '111111111111.dkr.ecr.us-east-1.amazonaws.com/shop/api:1.0',
        destination: '222222222222.dkr.ecr.us-east-1.amazonaws.com/shop/api:1.0',
      },
    ],
  };
}

describe('webhook AWS adapters (moto)', () => {
  let moto: MotoServer;
  let restore: () => void;
  before(async () => {
    moto = await startMoto();
    restore = moto.applyToProcess();
  });
  after(async () => {
    restore?.();
    await moto?.stop();
  });

  describe('SQS job queue', () => {
    it('sends every job exactly once, in batches of at most 10, as validated job JSON', async () => {
      // Prepare
      const sqs = new SQSClient({});
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'jobs-batches' }));
      const jobs = Array.from({ length: 23 }, (_, i) => job(`env-${i}`));
      const batchSizes: number[] = [];
      sqs.middlewareStack.add(
        (next) => async (args) => {
          const input = args.input as { Entries?: unknown[] };
          if (input.Entries) batchSizes.push(input.Entries.length);
          return next(args);
        },
        { step: 'initialize' },
      );
      // Act
      await createSqsJobQueue(sqs, QueueUrl!).send(jobs);
      // Assess
      const received: string[] = [];
      for (let i = 0; i < 10 && received.length < 23; i++) {
        const out = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }),
        );
        for (const m of out.Messages ?? []) {
          received.push(parsePromotionJob(m.Body!).environment);
          assert.equal(m.MessageAttributes?.['deliveryId']?.StringValue, 'd-1');
          await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: m.ReceiptHandle! }));
        }
      }
      assert.deepEqual(
        batchSizes.sort((a, b) => a - b),
        [3, 10, 10],
      );
      assert.deepEqual(received.sort(), jobs.map((j) => j.environment).sort());
    });

    it('refuses to send an invalid job', async () => {
      const queue = createSqsJobQueue(new SQSClient({}), 'http://127.0.0.1:1/never');
      await assert.rejects(
        queue.send([{ ...job('prod'), commit: 'nope' }]),
        /must be a 40-character commit SHA/,
      );
    });

    const partial: readonly {
      readonly name: string;
      readonly answers: readonly { readonly failed: readonly string[]; readonly senderFault?: boolean }[];
      readonly expect: 'sent' | 'retryable' | 'permanent';
      readonly calls: number;
    }[] = [
      {
        name: 'a server-side entry failure is re-sent',
        answers: [{ failed: ['job-1'] }, { failed: [] }],
        expect: 'sent',
        calls: 2,
      },
      {
        name: 'entries failing every time give up, retryable',
        answers: [{ failed: ['job-0'] }, { failed: ['job-0'] }, { failed: ['job-0'] }],
        expect: 'retryable',
        calls: 3,
      },
      {
        name: 'a sender fault is not retried',
        answers: [{ failed: ['job-0'], senderFault: true }],
        expect: 'permanent',
        calls: 1,
      },
    ];
    for (const c of partial) {
      it(`partial batch failures: ${c.name}`, async () => {
        // Prepare
        const client = new SQSClient({});
        const mock = mockClient(client);
        const sentIds: string[][] = [];
        let call = 0;
        mock.on(SendMessageBatchCommand).callsFake((input: { Entries: { Id: string }[] }) => {
          sentIds.push(input.Entries.map((e) => e.Id));
          const answer = c.answers[call++]!;
          return {
            Successful: input.Entries.filter((e) => !answer.failed.includes(e.Id)).map((e) => ({
              Id: e.Id,
              MessageId: `m-${e.Id}`,
              MD5OfMessageBody: 'x',
            })),
            Failed: answer.failed.map((id) => ({
              Id: id,
              Code: 'InternalError',
              SenderFault: answer.senderFault === true,
            })),
          };
        });
        // Act
        const outcome = await createSqsJobQueue(client, 'https://sqs.test/queue', { baseDelayMs: 1 })
          .send([job('a'), job('b')])
          .then(
            () => 'sent' as const,
            (e: unknown) =>
              e instanceof AwsServiceError && e.retryable ? ('retryable' as const) : ('permanent' as const),
          );
        mock.restore();
        // Assess
        assert.equal(outcome, c.expect);
        assert.equal(sentIds.length, c.calls);
        if (c.expect === 'sent') assert.deepEqual(sentIds[1], ['job-1']);
      });
    }
  });

  describe('delivery store', () => {
    let dynamo: DynamoDBClient;
    before(async () => {
      dynamo = new DynamoDBClient({});
      await dynamo.send(
        new CreateTableCommand({
          TableName: 'deliveries',
          KeySchema: [{ AttributeName: 'deliveryId', KeyType: 'HASH' }],
          AttributeDefinitions: [{ AttributeName: 'deliveryId', AttributeType: 'S' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
    });

    const stores: readonly { readonly name: string; readonly create: () => DeliveryStore }[] = [
      { name: 'dynamodb', create: () => createDynamoDeliveryStore(dynamo, 'deliveries') },
      { name: 'memory', create: () => createMemoryDeliveryStore() },
    ];
    const t0 = new Date('2026-03-01T10:00:00Z');
    const later = (ms: number): Date => new Date(t0.getTime() + ms);

    for (const s of stores) {
      it(`${s.name}: claims once, refuses duplicates, releases only unfinished claims`, async () => {
        // Prepare
        const store = s.create();
        const id = `${s.name}-${Math.random()}`;
        // Act
        const first = await store.claim(id, t0);
        const whileClaimed = await store.claim(id, later(1000));
        await store.release(id);
        const afterRelease = await store.claim(id, later(2000));
        await store.markEnqueued(id, 2, later(3000));
        const afterEnqueue = await store.claim(id, later(4000));
        await store.release(id);
        const afterReleaseOfEnqueued = await store.claim(id, later(CLAIM_STALE_AFTER_MS * 10));
        // Assess
        assert.deepEqual(
          [first, whileClaimed, afterRelease, afterEnqueue, afterReleaseOfEnqueued],
          [
            { kind: 'claimed' },
            { kind: 'duplicate', state: 'claimed' },
            { kind: 'claimed' },
            { kind: 'duplicate', state: 'enqueued' },
            { kind: 'duplicate', state: 'enqueued' },
          ],
        );
      });

      it(`${s.name}: a stale claim (the invocation died) is taken over`, async () => {
        const store = s.create();
        const id = `${s.name}-stale-${Math.random()}`;
        assert.deepEqual(await store.claim(id, t0), { kind: 'claimed' });
        assert.deepEqual(await store.claim(id, later(CLAIM_STALE_AFTER_MS + 1)), { kind: 'claimed' });
      });
    }

    it('dynamodb: writes the TTL attribute expiresAt in epoch seconds', async () => {
      const store = createDynamoDeliveryStore(dynamo, 'deliveries');
      await store.claim('ttl-check', t0);
      const item = await dynamo.send(
        new GetItemCommand({ TableName: 'deliveries', Key: { deliveryId: { S: 'ttl-check' } } }),
      );
      assert.equal(item.Item?.['expiresAt']?.N, String(t0.getTime() / 1000 + DELIVERY_TTL_SECONDS));
      assert.equal(item.Item?.['state']?.S, 'claimed');
    });

    it('dynamodb: a missing table is an AwsServiceError, not a duplicate', async () => {
      const store = createDynamoDeliveryStore(dynamo, 'no-such-table');
      await assert.rejects(store.claim('x', t0), AwsServiceError);
    });
  });

  describe('secrets', () => {
    it('reads plain and rotation secrets from Secrets Manager and caches them for the TTL', async () => {
      // Prepare
      const sm = new SecretsManagerClient({});
      const plain = await sm.send(
        new CreateSecretCommand({ Name: 'webhook-plain', SecretString: 'only-one' }),
      );
      const rotating = await sm.send(
        new CreateSecretCommand({ Name: 'webhook-rotating', SecretString: '{"secrets":["new","old"]}' }),
      );
      const token = await sm.send(
        new CreateSecretCommand({ Name: 'gh-token', SecretString: '{"token":"ghs_abc"}' }),
      );
      let now = 0;
      const reader = createSecretReader(sm, 1000, () => now);
      const fromArn = (arn: string): ReturnType<typeof createWebhookSecrets> =>
        createWebhookSecrets({ WEBHOOK_SECRET_ARN: arn, GITHUB_TOKEN_SECRET_ARN: token.ARN }, () => reader);
      // Act
      const one = await fromArn(plain.ARN!).webhookSecrets();
      const two = await fromArn(rotating.ARN!).webhookSecrets();
      const githubToken = await fromArn(plain.ARN!).githubToken();
      await sm.send(
        new PutSecretValueCommand({ SecretId: rotating.ARN, SecretString: '{"secrets":["newer"]}' }),
      );
      const cached = await fromArn(rotating.ARN!).webhookSecrets();
      now = 1001;
      const reread = await fromArn(rotating.ARN!).webhookSecrets();
      // Assess
      assert.deepEqual(one, ['only-one']);
      assert.deepEqual(two, ['new', 'old']);
      assert.equal(githubToken, 'ghs_abc');
      assert.deepEqual(cached, ['new', 'old']);
      assert.deepEqual(reread, ['newer']);
    });

    it('prefers direct values, and names what to set (never the value) when nothing is set', async () => {
      const direct = createWebhookSecrets({ WEBHOOK_SECRET: 'a, b', GITHUB_TOKEN: 't' }, () => {
        throw new Error('must not read Secrets Manager');
      });
      assert.deepEqual(await direct.webhookSecrets(), ['a', 'b']);
      assert.equal(await direct.githubToken(), 't');
      const none = createWebhookSecrets({}, () => createSecretReader(new SecretsManagerClient({})));
      await assert.rejects(none.webhookSecrets(), /set WEBHOOK_SECRET_ARN or WEBHOOK_SECRET/);
      await assert.rejects(none.githubToken(), /set GITHUB_TOKEN_SECRET_ARN or GITHUB_TOKEN/);
    });

    it('a missing secret is a permanent error naming the ARN only', async () => {
      const reader = createSecretReader(new SecretsManagerClient({}));
      const arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf';
      const error = await reader.read(arn).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof AwsServiceError);
      assert.equal(error.retryable, false);
      assert.match(error.message, /missing-AbCdEf/);
    });

    const bad: readonly (readonly [string, RegExp])[] = [
      ['', /empty/],
      ['{"secrets": []}', /non-empty array/],
      ['{"secrets": "x"}', /non-empty array/],
      ['{not json', /does not parse/],
    ];
    for (const [value, message] of bad) {
      it(`rejects webhook secret value ${JSON.stringify(value)}`, () => {
        assert.throws(
          () => parseWebhookSecrets(value, 'arn:x'),
          (e: unknown) => e instanceof ConfigError && message.test(e.message),
        );
      });
    }
  });
});
