// The webhook Lambda end to end on loopback: real signed GitHub payloads in Function URL events, the
// GitHub REST test server over a real git repository, SQS and DynamoDB on moto. Every bad input has
// its exact response, commit statuses and queue contents; a redelivery enqueues nothing new.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { parseConfig, type Config } from '../../lambdas/core/config';
import { parsePromotionJob, type PromotionJob } from '../../lambdas/core/job';
import { createWebhookHandler, type WebhookHandler } from '../../lambdas/webhook/handler';
import type { DeliveryLog } from '../../lambdas/webhook/process-delivery';
import { createGitRepo, type GitRepo } from '../support/git-repo';
import { startGitHubServer, type GitHubServer } from '../support/github-server';
import { startMoto, type MotoServer } from '../support/moto-server';
import { examplePayload, functionUrlEvent, pushPayload, signBytes, type EventOptions } from './fixtures';

const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const PROD = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
const STAGING = '333333333333.dkr.ecr.us-east-1.amazonaws.com';
const SECRET = 'current-secret';
const OLD_SECRET = 'previous-secret';
const NULL = '0'.repeat(40);

const kustomization =
  'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\n';
function deployment(image: string): string {
  return [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: api',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: api',
    `          image: ${image}`,
    '',
  ].join('\n');
}

const config: Config = parseConfig(
  JSON.stringify({
    github: { repository: 'acme/deploy', branches: ['main', 'release/*'] },
    environments: [
      { name: 'prod', overlay: 'overlays/prod', source: { registry: SRC }, destination: { registry: PROD } },
      {
        name: 'staging',
        overlay: 'overlays/staging',
        source: { registry: SRC },
        destination: { registry: STAGING },
      },
    ],
  }),
);

interface LogLine {
  readonly level: string;
  readonly message: string;
  readonly attributes: Readonly<Record<string, unknown>>;
}

describe('webhook handler', () => {
  let repo: GitRepo;
  let github: GitHubServer;
  let moto: MotoServer;
  let restoreEnv: () => void;
  let sqs: SQSClient;
  let queueUrl: string;
  let handler: WebhookHandler;
  let logs: LogLine[];
  const allLogs: LogLine[] = [];
  let c0: string; // prod shop/api:1.0, staging shop/api:1.0
  let c1: string; // prod shop/api:1.1
  let c2: string; // prod deployment.yaml malformed
  let c3: string; // prod again valid, shop/api:1.2, staging shop/web:3.0 added

  before(async () => {
    repo = await createGitRepo({
      'overlays/prod/kustomization.yaml': kustomization,
      'overlays/prod/deployment.yaml': deployment(`${PROD}/shop/api:1.0`),
      'overlays/staging/kustomization.yaml': kustomization,
      'overlays/staging/deployment.yaml': deployment(`${STAGING}/shop/api:1.0`),
    });
    c0 = (await repo.git('rev-parse', 'HEAD')).trim();
    c1 = await repo.commitFiles({ 'overlays/prod/deployment.yaml': deployment(`${PROD}/shop/api:1.1`) });
    c2 = await repo.commitFiles({ 'overlays/prod/deployment.yaml': 'kind: Deployment\nspec: [unclosed\n' });
    c3 = await repo.commitFiles({
      'overlays/prod/deployment.yaml': deployment(`${PROD}/shop/api:1.2`),
      'overlays/staging/web.yaml': deployment(`${STAGING}/shop/web:3.0`).replace('name: api', 'name: web'),
      'overlays/staging/kustomization.yaml': `${kustomization}  - web.yaml\n`,
    });
    [github, moto] = await Promise.all([
      startGitHubServer({ repository: 'acme/deploy', gitDirectory: repo.dir }),
      startMoto(),
    ]);
    restoreEnv = moto.applyToProcess();
    sqs = new SQSClient({});
    queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'promotion-jobs' }))).QueueUrl!;
    await new DynamoDBClient({}).send(
      new CreateTableCommand({
        TableName: 'deliveries',
        KeySchema: [{ AttributeName: 'deliveryId', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'deliveryId', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const record =
      (level: string) =>
      (message: string, attributes: Readonly<Record<string, unknown>> = {}): void => {
        logs.push({ level, message, attributes });
        allLogs.push({ level, message, attributes });
      };
    const log: DeliveryLog = { info: record('info'), warn: record('warn'), error: record('error') };
    handler = createWebhookHandler({
      config,
      log,
      env: {
        WEBHOOK_SECRET: `${SECRET},${OLD_SECRET}`,
        GITHUB_TOKEN: github.token,
        GITHUB_API_URL: github.url,
        QUEUE_URL: queueUrl,
        DELIVERIES_TABLE: 'deliveries',
      },
    });
  });
  after(async () => {
    restoreEnv?.();
    await Promise.all([github?.stop(), moto?.stop(), repo?.remove()]);
  });
  beforeEach(() => {
    logs = [];
  });

  async function drainQueue(): Promise<PromotionJob[]> {
    const jobs: PromotionJob[] = [];
    for (;;) {
      const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
      if (!out.Messages || out.Messages.length === 0) return jobs;
      for (const m of out.Messages) {
        jobs.push(parsePromotionJob(m.Body!));
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle! }));
      }
    }
  }

  // Statuses are set concurrently: compare them sorted by context.
  const statusesOf = (sha: string): string[] =>
    github
      .statuses(sha)
      .map((s) => `${s.context} ${s.state} ${s.description ?? ''}`)
      .sort();

  async function deliver(
    body: string | Buffer,
    options: EventOptions = {},
  ): Promise<APIGatewayProxyStructuredResultV2> {
    return handler(await functionUrlEvent(body, { secret: SECRET, ...options }));
  }

  const push = (fields: Partial<Parameters<typeof pushPayload>[0]> = {}): string =>
    JSON.stringify(pushPayload({ repository: 'acme/deploy', before: c0, after: c1, ...fields }));

  interface BadCase {
    readonly name: string;
    readonly body: () => string | Buffer;
    readonly options?: EventOptions;
    readonly status: number;
    readonly message: string;
  }
  const badInputs: readonly BadCase[] = [
    {
      name: 'no signature',
      body: () => push(),
      options: { secret: undefined },
      status: 401,
      message: 'unauthorized',
    },
    {
      name: 'signed with an unknown secret',
      body: () => push(),
      options: { secret: 'guess' },
      status: 401,
      message: 'unauthorized',
    },
    {
      name: 'sha1 signature only',
      body: () => push(),
      options: { signature: `sha1=${'a'.repeat(40)}` },
      status: 401,
      message: 'unauthorized',
    },
    {
      name: 'signature of another body',
      body: () => push(),
      options: { signature: 'sha256=' + 'ab'.repeat(32) },
      status: 401,
      message: 'unauthorized',
    },
    {
      name: 'empty body, correctly signed',
      body: () => '',
      options: { signature: `sha256=${createHmac('sha256', SECRET).update('').digest('hex')}` },
      status: 401,
      message: 'unauthorized',
    },
    {
      name: 'GET request',
      body: () => push(),
      options: { method: 'GET' },
      status: 405,
      message: 'method not allowed: POST a GitHub webhook',
    },
    {
      name: 'body over 25 MiB',
      body: () => Buffer.alloc(25 * 1024 * 1024 + 1, 0x20),
      options: { base64: true },
      status: 413,
      message: `payload over ${25 * 1024 * 1024} bytes (GitHub's cap)`,
    },
    { name: 'signed but not JSON', body: () => 'not json {', status: 400, message: 'body is not JSON' },
    {
      name: 'missing X-GitHub-Event',
      body: () => push(),
      options: { omitHeaders: ['x-github-event'] },
      status: 400,
      message: 'missing X-GitHub-Event header',
    },
    {
      name: 'missing X-GitHub-Delivery',
      body: () => push(),
      options: { omitHeaders: ['x-github-delivery'] },
      status: 400,
      message: 'missing or invalid X-GitHub-Delivery header',
    },
    {
      name: 'push payload with an invalid after SHA',
      body: () => push({ after: 'HEAD' }),
      status: 400,
      message: 'not a push payload: after: must be a 40-character commit SHA',
    },
    {
      name: 'push payload without repository',
      body: () => JSON.stringify({ ...JSON.parse(push()), repository: undefined }),
      status: 400,
      message: 'not a push payload: repository: Invalid input: expected object, received undefined',
    },
    {
      name: 'an issues event',
      body: () => JSON.stringify(examplePayload('issues')),
      options: { event: 'issues' },
      status: 202,
      message: 'ignored: event "issues" is not handled (only push and pull_request)',
    },
    {
      name: 'push to another repository',
      body: () => JSON.stringify(pushPayload({ repository: 'acme/other', before: c0, after: c1 })),
      status: 202,
      message: 'ignored: push to acme/other, not acme/deploy',
    },
    {
      name: 'tag push',
      body: () => push({ ref: 'refs/tags/v1.0' }),
      status: 202,
      message: 'ignored: tag push (refs/tags/v1.0)',
    },
    {
      name: 'branch deletion',
      body: () => push({ after: NULL, deleted: true }),
      status: 202,
      message: 'ignored: branch main was deleted',
    },
    {
      name: 'unconfigured branch',
      body: () => push({ ref: 'refs/heads/feature/x' }),
      status: 202,
      message: 'ignored: branch feature/x is not configured (github.branches: main, release/*)',
    },
    {
      name: 'a notes ref',
      body: () => push({ ref: 'refs/notes/commits' }),
      status: 202,
      message: 'ignored: not a branch (refs/notes/commits)',
    },
  ];
  for (const c of badInputs) {
    it(`bad input: ${c.name} -> ${c.status}, nothing enqueued, no status`, async () => {
      // Prepare
      await drainQueue();
      github.clearRequests();
      // Act
      const response = await deliver(c.body(), c.options);
      // Assess
      assert.equal(response.statusCode, c.status);
      assert.deepEqual(JSON.parse(String(response.body)), { message: c.message });
      assert.deepEqual(await drainQueue(), []);
      assert.deepEqual(github.requests(), []);
    });
  }

  it('ping -> 200 pong', async () => {
    const response = await deliver(JSON.stringify(examplePayload('ping')), { event: 'ping' });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(JSON.parse(String(response.body)), { message: 'pong' });
  });

  it('a push enqueues one job per environment with work and sets every status; a redelivery enqueues nothing', async () => {
    // Prepare
    await drainQueue();
    const deliveryId = 'push-c0-c1';
    // Act
    const response = await deliver(push(), { deliveryId });
    const jobs = await drainQueue();
    const redelivery = await deliver(push(), { deliveryId });
    const afterRedelivery = await drainQueue();
    // Assess
    assert.equal(response.statusCode, 202);
    assert.deepEqual(JSON.parse(String(response.body)), {
      message: 'promotions enqueued',
      jobs: [{ environment: 'prod', promotions: 1 }],
      environments: { prod: 'pending', staging: 'success' },
    });
    assert.equal(jobs.length, 1);
    assert.deepEqual(
      { ...jobs[0]!, pushedAt: undefined },
      {
        version: 1,
        deliveryId,
        repository: 'acme/deploy',
        ref: 'refs/heads/main',
        commit: c1,
        environment: 'prod',
        pusher: 'Codertocat',
        pushedAt: undefined,
        promotions: [{ source: `${SRC}/shop/api:1.1`, destination: `${PROD}/shop/api:1.1` }],
      },
    );
    assert.deepEqual(statusesOf(c1), [
      `image-promotion/prod pending promoting ${PROD}/shop/api:1.1`,
      'image-promotion/staging success no image changes',
    ]);
    assert.equal(redelivery.statusCode, 200);
    assert.deepEqual(JSON.parse(String(redelivery.body)), {
      message: 'duplicate delivery',
      state: 'enqueued',
    });
    assert.deepEqual(afterRedelivery, []);
    assert.equal(statusesOf(c1).length, 2);
    const planned = logs.find((l) => l.message === 'push planned');
    assert.equal(planned?.attributes['githubApiCalls'], 2 + 4); // 2 trees + 4 distinct blobs
  });

  it('malformed YAML: failure status naming the file for that environment only, never a 500', async () => {
    // Prepare
    await drainQueue();
    // Act
    const response = await deliver(push({ before: c1, after: c2 }));
    // Assess
    assert.equal(response.statusCode, 202);
    assert.deepEqual(JSON.parse(String(response.body)).environments, { prod: 'failure', staging: 'success' });
    assert.deepEqual(await drainQueue(), []);
    const byContext = new Map(github.statuses(c2).map((s) => [s.context, s]));
    const prod = byContext.get('image-promotion/prod');
    const staging = byContext.get('image-promotion/staging');
    assert.equal(prod?.context, 'image-promotion/prod');
    assert.equal(prod?.state, 'failure');
    assert.match(prod?.description ?? '', /^overlays\/prod\/deployment\.yaml/);
    assert.ok([...(prod?.description ?? '')].length <= 140);
    assert.equal(staging?.description, 'no image changes');
    const line = logs.find((l) => l.message === 'planning failed for an environment');
    assert.equal(line?.attributes['environment'], 'prod');
  });

  it('a push fixing a broken overlay, signed with the previous secret, base64 body, promotes', async () => {
    await drainQueue();
    const response = await deliver(push({ before: c2, after: c3 }), { secret: OLD_SECRET, base64: true });
    const jobs = await drainQueue();
    assert.equal(response.statusCode, 202);
    assert.deepEqual(
      jobs.map((j) => `${j.environment}: ${j.promotions.map((p) => p.destination).join(', ')}`).sort(),
      [`prod: ${PROD}/shop/api:1.2`, `staging: ${STAGING}/shop/web:3.0`],
    );
  });

  it('a created branch (before = 40 zeros) promotes everything the overlays deploy; form-encoded payloads work', async () => {
    await drainQueue();
    const body = `payload=${encodeURIComponent(push({ ref: 'refs/heads/release/1', before: NULL, after: c1 }))}`;
    const response = await deliver(body, { contentType: 'application/x-www-form-urlencoded' });
    const jobs = await drainQueue();
    assert.equal(response.statusCode, 202);
    assert.deepEqual(
      jobs.map((j) => `${j.environment} ${j.ref}: ${j.promotions.map((p) => p.source).join(', ')}`).sort(),
      [`prod refs/heads/release/1: ${SRC}/shop/api:1.1`, `staging refs/heads/release/1: ${SRC}/shop/api:1.0`],
    );
  });

  it('statuses GitHub refuses are logged and reported, the jobs stay enqueued, a redelivery is a duplicate', async () => {
    // Prepare
    await drainQueue();
    github.failNext(100, 502, 'POST');
    const deliveryId = 'statuses-down';
    // Act
    const response = await deliver(push({ before: c0, after: c3 }), { deliveryId }).finally(() =>
      github.failNext(0),
    );
    const jobs = await drainQueue();
    const redelivery = await deliver(push({ before: c0, after: c3 }), { deliveryId });
    // Assess
    assert.equal(response.statusCode, 202);
    const body = JSON.parse(String(response.body)) as { statusErrors: string[] };
    assert.deepEqual(
      body.statusErrors.map((e) => e.split(':')[0]),
      ['prod', 'staging'],
    );
    assert.match(body.statusErrors[0]!, /HTTP 502/);
    assert.deepEqual(jobs.map((j) => j.environment).sort(), ['prod', 'staging']);
    assert.deepEqual(await drainQueue(), []);
    assert.equal(logs.filter((l) => l.message === 'could not set a commit status').length, 2);
    assert.equal(redelivery.statusCode, 200);
  });

  it('queue unusable -> 500, pending statuses turned to error, claim released so a redelivery enqueues', async () => {
    // Prepare: same delivery table, a queue that does not exist.
    await drainQueue();
    const deliveryId = 'queue-missing';
    const broken = createWebhookHandler({
      config,
      log: { info: () => undefined, warn: () => undefined, error: () => undefined },
      env: {
        WEBHOOK_SECRET: SECRET,
        GITHUB_TOKEN: github.token,
        GITHUB_API_URL: github.url,
        QUEUE_URL: `${queueUrl}-missing`,
        DELIVERIES_TABLE: 'deliveries',
      },
    });
    const body = push({ before: c1, after: c3 });
    const seen = github.statuses(c3).length;
    // Act
    const failed = await broken(await functionUrlEvent(body, { secret: SECRET, deliveryId }));
    const statusesAfterFailure = github
      .statuses(c3)
      .slice(seen)
      .map((s) => `${s.context} ${s.state}`)
      .sort();
    const retried = await deliver(body, { deliveryId });
    const jobs = await drainQueue();
    // Assess
    assert.equal(failed.statusCode, 500);
    assert.match(
      JSON.parse(String(failed.body)).message,
      /^could not process the push: SQS SendMessageBatch/,
    );
    assert.deepEqual(statusesAfterFailure, [
      'image-promotion/prod error',
      'image-promotion/prod pending',
      'image-promotion/staging error',
      'image-promotion/staging pending',
    ]);
    const lastProd = github
      .statuses(c3)
      .filter((s) => s.context === 'image-promotion/prod')
      .at(-1);
    assert.equal(retried.statusCode, 202);
    assert.equal(lastProd?.state, 'pending');
    assert.deepEqual(jobs.map((j) => j.environment).sort(), ['prod', 'staging']);
  });

  it('GitHub too slow for the planning deadline -> 202, a failure status per environment naming it, nothing enqueued', async () => {
    // Prepare: every Git read takes longer than the whole planning deadline.
    await drainQueue();
    const slow = createWebhookHandler({
      config,
      planningDeadlineMs: 100,
      log: { info: () => undefined, warn: () => undefined, error: () => undefined },
      env: {
        WEBHOOK_SECRET: SECRET,
        GITHUB_TOKEN: github.token,
        GITHUB_API_URL: github.url,
        QUEUE_URL: queueUrl,
      },
    });
    const event = await functionUrlEvent(push({ before: c0, after: c3 }), {
      secret: SECRET,
      deliveryId: 'slow',
    });
    const statusesBefore = github.statuses(c3).length;
    github.setLatency(400, /\/git\//);
    // Act
    const response = await slow(event).finally(() => github.setLatency(0));
    // Assess: the pusher's delivery was handled (a redelivery would meet the same deadline).
    assert.equal(response.statusCode, 202);
    assert.deepEqual(JSON.parse(String(response.body)).environments, { prod: 'failure', staging: 'failure' });
    assert.deepEqual(await drainQueue(), []);
    const statuses = github.statuses(c3).slice(statusesBefore);
    assert.deepEqual(statuses.map((s) => `${s.context} ${s.state}`).sort(), [
      'image-promotion/prod failure',
      'image-promotion/staging failure',
    ]);
    for (const status of statuses) {
      assert.match(
        status.description ?? '',
        /: planning stopped after 0\.1 s \(webhook\.deadlineSeconds\): /,
      );
    }
  });

  it('GitHub down -> 503, nothing enqueued, claim released so a redelivery succeeds', async () => {
    // Prepare
    await drainQueue();
    const deliveryId = 'github-down';
    github.failNext(50, 502);
    // Act
    // Bytes of its own (an earlier case pushed c0..c3 too): deliveries are deduplicated on the body.
    const body = `${push({ before: c0, after: c3 })}\n`;
    const failed = await deliver(body, { deliveryId });
    const queuedWhileDown = await drainQueue();
    github.failNext(0);
    const retried = await deliver(body, { deliveryId });
    const queued = await drainQueue();
    // Assess
    assert.equal(failed.statusCode, 503);
    assert.match(
      JSON.parse(String(failed.body)).message,
      /^could not process the push: GitHub read tree .* \(HTTP 502\)/,
    );
    assert.deepEqual(queuedWhileDown, []);
    assert.equal(retried.statusCode, 202);
    assert.deepEqual(queued.map((j) => j.environment).sort(), ['prod', 'staging']);
  });

  it('a signed delivery replayed under a new X-GitHub-Delivery (not signed) enqueues nothing', async () => {
    // Prepare: a delivery already enqueued
    await drainQueue();
    const body = `${push({ before: c1, after: c3 })}\n\n`; // bytes no other case sent
    const first = await deliver(body, { deliveryId: 'original' });
    const enqueued = await drainQueue();
    // Act: an attacker replays the captured bytes and signature with a fresh delivery id
    const replay = await deliver(body, { deliveryId: 'forged-new-id' });
    const afterReplay = await drainQueue();
    // Assess
    assert.equal(first.statusCode, 202);
    assert.ok(enqueued.length > 0);
    assert.equal(replay.statusCode, 200);
    assert.deepEqual(JSON.parse(String(replay.body)), { message: 'duplicate delivery', state: 'enqueued' });
    assert.deepEqual(afterReplay, []);
  });

  it('checks the signature over the raw bytes: other bytes that decode to the signed text are refused', async () => {
    // Prepare: GitHub signed bytes holding U+FFFD (EF BF BD); the same text arrives with an invalid
    // byte (FF) in its place, which a UTF-8 decoder turns into that same U+FFFD
    // (base64: how a Function URL hands over a body it does not take for text)
    const text = push({ before: c0, after: c1 });
    const at = text.indexOf('Codertocat') + 'Codertocat'.length;
    const signed = Buffer.from(`${text.slice(0, at)}\uFFFD${text.slice(at)}`, 'utf8');
    const sent = Buffer.concat([
      Buffer.from(text.slice(0, at)),
      Buffer.from([0xff]),
      Buffer.from(text.slice(at)),
    ]);
    assert.equal(sent.toString('utf8'), signed.toString('utf8'));
    // Act
    const response = await deliver(sent, { signature: signBytes(SECRET, signed), base64: true });
    // Assess
    assert.equal(response.statusCode, 401);
  });

  it('never logged a secret or the token in any of the deliveries above', () => {
    const text = JSON.stringify(allLogs);
    assert.ok(allLogs.length > 20);
    for (const secret of [SECRET, OLD_SECRET, github.token])
      assert.equal(text.includes(secret), false, secret);
  });
});
