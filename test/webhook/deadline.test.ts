// One deadline per delivery (config webhook.deadlineSeconds, here 1 s): planning stops there, what is
// in flight is aborted, every environment not planned gets a `failure` status naming the deadline,
// the webhook answers 202, and no GitHub request arrives after the answer — in the Lambda handler
// and in the local server. Real parts: the GitHub test server over a real git repository (it counts
// and times every request it receives, and sees a client hang up), SQS and DynamoDB on moto.
// No timed assertion: only what was answered, what GitHub received, and when relative to the answer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { startWebhookServer } from '../../lambdas/local/webhook-server';
import { parseConfig, type Config } from '../../lambdas/core/config';
import { createWebhookHandler, type InvocationContext } from '../../lambdas/webhook/handler';
import type { DeliveryLog } from '../../lambdas/webhook/process-delivery';
import { createGitRepo, type GitRepo } from '../support/git-repo';
import { startGitHubServer, type GitHubServer, type RecordedRequest } from '../support/github-server';
import { startMoto, type MotoServer } from '../support/moto-server';
import { doublingDag, fileFlood, functionUrlEvent, podYaml, pushPayload, signBytes } from './fixtures';

const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const PROD = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
const STAGING = '333333333333.dkr.ecr.us-east-1.amazonaws.com';
const SECRET = 'deadline-secret';
const MAX_GITHUB_CALLS = 200;
const DEADLINE = /^overlays\/(prod|staging): planning stopped after 1 s \(webhook\.deadlineSeconds\): /;

const configOf = (environments: readonly string[], deadlineSeconds = 1): Config =>
  parseConfig(
    JSON.stringify({
      github: { repository: 'acme/deploy' },
      environments: environments.map((name) => ({
        name,
        overlay: `overlays/${name}`,
        source: { registry: SRC },
        destination: { registry: name === 'prod' ? PROD : STAGING },
      })),
      webhook: { deadlineSeconds },
      planning: { maxGitHubCalls: MAX_GITHUB_CALLS },
    }),
  );

const pod = (name: string, registry = PROD, tag = '1.0'): string =>
  podYaml(name, `${registry}/shop/api:${tag}`);

describe('webhook deadline', () => {
  let repo: GitRepo;
  let github: GitHubServer;
  let moto: MotoServer;
  let restoreEnv: () => void;
  let sqs: SQSClient;
  let queueUrl: string;
  let env: Record<string, string>;
  let base: string;
  let slowCommit: string;
  const log: DeliveryLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

  before(async () => {
    repo = await createGitRepo({
      'overlays/prod/kustomization.yaml': 'resources: [pod.yaml]\n',
      'overlays/prod/pod.yaml': pod('p'),
      'overlays/staging/kustomization.yaml': 'resources: [pod.yaml]\n',
      'overlays/staging/pod.yaml': pod('p', STAGING),
    });
    base = (await repo.git('rev-parse', 'HEAD')).trim();
    slowCommit = await repo.commitFiles({
      'overlays/prod/pod.yaml': pod('p', PROD, '2.0'),
      'overlays/staging/pod.yaml': pod('p', STAGING, '2.0'),
    });
    [github, moto] = await Promise.all([
      startGitHubServer({ repository: 'acme/deploy', gitDirectory: repo.dir }),
      startMoto(),
    ]);
    restoreEnv = moto.applyToProcess();
    sqs = new SQSClient({});
    queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'deadline-jobs' }))).QueueUrl!;
    await new DynamoDBClient({}).send(
      new CreateTableCommand({
        TableName: 'deadline-deliveries',
        KeySchema: [{ AttributeName: 'deliveryId', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'deliveryId', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    env = {
      WEBHOOK_SECRET: SECRET,
      GITHUB_TOKEN: github.token,
      GITHUB_API_URL: github.url,
      QUEUE_URL: queueUrl,
      DELIVERIES_TABLE: 'deadline-deliveries',
    };
  });
  after(async () => {
    restoreEnv?.();
    await Promise.all([github?.stop(), moto?.stop(), repo?.remove()]);
  });

  const pushBody = (after: string, salt = ''): string =>
    `${JSON.stringify(pushPayload({ repository: 'acme/deploy', before: base, after }))}${salt}`;

  /** Every GitHub request this delivery caused, once the server has answered all of them, and the
   * ones that arrived after the webhook's answer (there must be none). */
  async function requestsAround(answeredAt: number): Promise<{
    readonly all: readonly RecordedRequest[];
    readonly afterAnswer: readonly RecordedRequest[];
  }> {
    // The server answers aborted requests too, once its latency has passed; give work that was
    // left running (the code before kept planning after its 503) a moment to show itself.
    for (let i = 0; i < 200 && github.inFlight() > 0; i++) await sleep(50);
    await sleep(300);
    const all = github.requests();
    // A read the deadline aborted was sent before the answer, but the server (in this process)
    // may parse its bytes only after it; once aborted, the read limiter starts nothing new, so a
    // request the client hung up on was not sent after the answer. (A quiet full run saw two blob
    // reads of the 4,000-file overlay received after the answer.)
    return { all, afterAnswer: all.filter((r) => r.receivedAt > answeredAt && !r.clientClosed) };
  }

  async function queuedJobs(): Promise<number> {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
    return out.Messages?.length ?? 0;
  }

  const bounded: readonly {
    readonly name: string;
    readonly files: () => Record<string, string>;
    /** What stopped it: the deadline, or (on a fast machine) the planning limit reached first. */
    readonly description: RegExp;
  }[] = [
    {
      name: 'a 46-level DAG of shared bases doubling at each level',
      files: () => doublingDag(`${PROD}/shop/api:1.0`),
      description: new RegExp(
        `${DEADLINE.source}|^overlays/prod: dag/[ab]\\d+/kustomization\\.yaml: planning\\.maxResources reached`,
      ),
    },
    {
      name: 'an overlay of 4,000 files',
      files: () => fileFlood(`${PROD}/shop/api:1.0`),
      description: new RegExp(
        `${DEADLINE.source}|^overlays/prod/f\\d+\\.yaml: planning\\.maxGitHubCalls reached`,
      ),
    },
  ];

  for (const c of bounded) {
    it(`${c.name}: a failure status within the deadline and ${MAX_GITHUB_CALLS} GitHub calls, 202, nothing after the answer`, async () => {
      // Prepare
      await repo.git('checkout', '-q', '--detach', base);
      const commit = await repo.commitFiles(c.files());
      const handler = createWebhookHandler({ config: configOf(['prod']), log, env });
      github.clearRequests();

      // Act
      const response = await handler(await functionUrlEvent(pushBody(commit), { secret: SECRET }));
      const answeredAt = performance.now();

      // Assess
      assert.equal(response.statusCode, 202, String(response.body));
      const statuses = github.statuses(commit);
      assert.deepEqual(
        statuses.map((s) => `${s.context} ${s.state}`),
        ['image-promotion/prod failure'],
      );
      assert.match(statuses[0]!.description ?? '', c.description);
      const { all, afterAnswer } = await requestsAround(answeredAt);
      const reads = all.filter((r) => r.path.includes('/git/'));
      assert.ok(reads.length <= MAX_GITHUB_CALLS, `${reads.length} GitHub calls`);
      assert.deepEqual(
        afterAnswer.map((r) => `${r.method} ${r.path}`),
        [],
      );
      assert.equal(await queuedJobs(), 0);
    });
  }

  /** A push of both environments while GitHub takes 3 s for every Git read: planning is stopped at
   * 1 s, the reads in flight are aborted (GitHub sees the client hang up), and each environment
   * gets its failure status. */
  async function slowGitHub(
    deliver: (body: string) => Promise<APIGatewayProxyStructuredResultV2 | { statusCode: number }>,
    salt: string,
    description: RegExp,
  ): Promise<void> {
    github.clearRequests();
    const statusesBefore = github.statuses(slowCommit).length;
    github.setLatency(3000, /\/git\//);
    let response: { statusCode?: number };
    let answeredAt: number;
    try {
      response = await deliver(pushBody(slowCommit, salt));
      answeredAt = performance.now();
    } finally {
      github.setLatency(0);
    }
    assert.equal(response.statusCode, 202);
    assert.deepEqual(
      github
        .statuses(slowCommit)
        .slice(statusesBefore)
        .map((s) => `${s.context} ${s.state}`)
        .sort(),
      ['image-promotion/prod failure', 'image-promotion/staging failure'],
    );
    for (const status of github.statuses(slowCommit).slice(statusesBefore)) {
      assert.match(status.description ?? '', description);
    }
    const { all, afterAnswer } = await requestsAround(answeredAt);
    const reads = all.filter((r) => r.path.includes('/git/'));
    assert.ok(reads.length > 0);
    assert.deepEqual(
      reads.filter((r) => !r.clientClosed).map((r) => r.path),
      [],
      'every Git read was aborted by the deadline',
    );
    assert.deepEqual(
      afterAnswer.map((r) => `${r.method} ${r.path}`),
      [],
    );
    assert.equal(await queuedJobs(), 0);
  }

  it('a slow GitHub: the reads in flight are aborted at the deadline, a failure status per environment, 202; a redelivery plans again', async () => {
    const handler = createWebhookHandler({ config: configOf(['prod', 'staging']), log, env });
    await slowGitHub(async (body) => handler(await functionUrlEvent(body, { secret: SECRET })), '', DEADLINE);

    // GitHub's "Redeliver" (same body) once GitHub is fast again: the claim was given back. Planned
    // with the longest deadline (the claim is in the shared table), so a loaded machine cannot make
    // the 1 s one expire again: the redelivery is what this checks, not the deadline.
    const patient = createWebhookHandler({ config: configOf(['prod', 'staging'], 25), log, env });
    const redelivered = await patient(await functionUrlEvent(pushBody(slowCommit), { secret: SECRET }));
    assert.equal(redelivered.statusCode, 202);
    assert.equal(JSON.parse(String(redelivered.body)).message, 'promotions enqueued');
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    assert.equal(out.Messages?.length, 2);
    for (const message of out.Messages ?? []) {
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle! }));
    }
  });

  it("the Lambda's remaining time shortens the deadline (less the margin for answering)", async () => {
    const handler = createWebhookHandler({ config: configOf(['prod', 'staging']), log, env });
    const context: InvocationContext = { getRemainingTimeInMillis: () => 3500 };
    await slowGitHub(
      async (body) => handler(await functionUrlEvent(body, { secret: SECRET }), context),
      '\n',
      /^overlays\/(prod|staging): planning stopped after 0\.5 s \(the webhook Lambda's remaining time\): /,
    );
  });

  it('the local server: same deadline, same answer, nothing after it', async () => {
    const server = await startWebhookServer({
      port: 0,
      handler: createWebhookHandler({ config: configOf(['prod', 'staging']), log, env }),
    });
    try {
      await slowGitHub(
        async (body) => {
          const bytes = Buffer.from(body);
          const response = await fetch(server.url, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'x-github-event': 'push',
              'x-github-delivery': 'local-deadline',
              'x-hub-signature-256': signBytes(SECRET, bytes),
            },
            body: bytes,
          });
          await response.arrayBuffer();
          return { statusCode: response.status };
        },
        '\n\n',
        DEADLINE,
      );
    } finally {
      await server.stop();
    }
  });
});
