// What each function's code really reads from its environment, against the contract
// (lambdas/core/contract.ts FUNCTION_ENVIRONMENTS): the webhook handler, the worker's and the
// reconcile's dependencies run on real parts (moto for SQS, DynamoDB and Secrets Manager, the GitHub
// test server on a real git repository) with the variables the CDK app sets, read through a
// recording environment. Every variable the CDK app sets is read, and nothing is read that the
// contract does not list for that function. test/infra/contract.test.ts checks the other half:
// the synthesized template sets exactly the contract's variables.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { loadConfigFromEnvironment } from '../../lambdas/adapters/config-source';
import { validateConfig, type Config } from '../../lambdas/core/config';
import { ENV, FUNCTION_ENVIRONMENTS, SERVICE_NAME, type FunctionName } from '../../lambdas/core/contract';
import { createEnvironmentReader } from '../../lambdas/core/environment';
import { createReconcileDependencies } from '../../lambdas/reconcile/dependencies';
import { createWebhookHandler } from '../../lambdas/webhook/handler';
import { createWorkerDependencies } from '../../lambdas/worker/dependencies';
import { createGitRepo, type GitRepo } from '../support/git-repo';
import { startGitHubServer, type GitHubServer } from '../support/github-server';
import { startMoto, type MotoServer } from '../support/moto-server';
import { functionUrlEvent, pushPayload } from '../webhook/fixtures';

const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const DST = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
const SECRET = 'webhook-secret';
const overlay = (tag: string): Record<string, string> => ({
  'overlays/prod/kustomization.yaml': `resources: [deployment.yaml]\nimages:\n  - name: api\n    newName: ${DST}/shop/api\n    newTag: "${tag}"\n`,
  'overlays/prod/deployment.yaml':
    'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: api }\nspec:\n  template:\n    spec:\n      containers: [{ name: api, image: api }]\n',
});

/** An environment that records every name read from it. */
function recording(values: Readonly<Record<string, string>>): { env: NodeJS.ProcessEnv; read: Set<string> } {
  const read = new Set<string>();
  const env = new Proxy<NodeJS.ProcessEnv>(
    { ...values },
    {
      get(target, name) {
        if (typeof name === 'string') read.add(name);
        return Reflect.get(target, name) as unknown;
      },
    },
  );
  return { env, read };
}

function assertReadsMatchContract(fn: FunctionName, read: ReadonlySet<string>): void {
  const spec = FUNCTION_ENVIRONMENTS[fn];
  const declared = new Set<string>([...spec.deployed, ...spec.conditional, ...spec.local]);
  const undeclared = [...read].filter((name) => !declared.has(name));
  assert.deepEqual(undeclared, [], `${fn} reads variables its contract does not list`);
  // NODE_OPTIONS is read by node itself, before any of our code runs.
  const unread = spec.deployed.filter((name) => name !== ENV.nodeOptions && !read.has(name));
  assert.deepEqual(unread, [], `${fn} is given variables it never reads`);
}

describe('environment contract: what the functions read', () => {
  let repo: GitRepo;
  let github: GitHubServer;
  let moto: MotoServer;
  let restoreEnv: () => void;
  let config: Config;
  let deployed: Record<string, string>;
  let c0: string;
  let c1: string;

  before(async () => {
    repo = await createGitRepo(overlay('1.0'));
    c0 = (await repo.git('rev-parse', 'HEAD')).trim();
    c1 = await repo.commitFiles(overlay('1.1'));
    [github, moto] = await Promise.all([
      startGitHubServer({ repository: 'acme/deploy', gitDirectory: repo.dir }),
      startMoto(),
    ]);
    restoreEnv = moto.applyToProcess();
    const secrets = new SecretsManagerClient({});
    const secretArn = async (name: string, value: string): Promise<string> =>
      (await secrets.send(new CreateSecretCommand({ Name: name, SecretString: value }))).ARN!;
    await new DynamoDBClient({}).send(
      new CreateTableCommand({
        TableName: 'deliveries',
        KeySchema: [{ AttributeName: 'deliveryId', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'deliveryId', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    config = validateConfig(
      {
        github: { repository: 'acme/deploy', apiUrl: github.url },
        // The longest deadline the config allows: this test is about variables, not time, and runs
        // beside the rest of the suite on 2 cores (test/webhook/deadline.test.ts is about time).
        webhook: { deadlineSeconds: 25 },
        environments: [
          {
            name: 'prod',
            overlay: 'overlays/prod',
            source: { registry: SRC },
            destination: { registry: DST },
          },
        ],
      },
      'test config',
    );
    // What the CDK app sets (see infra/constructs/lambda-environment.ts), with real resources.
    deployed = {
      [ENV.config]: JSON.stringify(config),
      [ENV.serviceName]: SERVICE_NAME,
      [ENV.metricsNamespace]: 'ImagePromoter',
      [ENV.nodeOptions]: '--enable-source-maps',
      [ENV.queueUrl]: (await new SQSClient({}).send(new CreateQueueCommand({ QueueName: 'jobs' }))).QueueUrl!,
      [ENV.deliveriesTable]: 'deliveries',
      [ENV.webhookSecretArn]: await secretArn('webhook', SECRET),
      [ENV.githubTokenSecretArn]: await secretArn('github', github.token),
    };
  });
  after(async () => {
    restoreEnv?.();
    await Promise.all([github?.stop(), moto?.stop(), repo?.remove()]);
  });

  const only = (fn: FunctionName): Record<string, string> => {
    const spec = FUNCTION_ENVIRONMENTS[fn];
    const names = new Set<string>([...spec.deployed, ...spec.conditional]);
    return Object.fromEntries(Object.entries(deployed).filter(([name]) => names.has(name)));
  };

  it('webhook: a signed push is planned, reported and enqueued with exactly its variables', async () => {
    // Prepare
    const { env, read } = recording(only('webhook'));
    const handler = createWebhookHandler({ env });
    const body = JSON.stringify(pushPayload({ repository: 'acme/deploy', before: c0, after: c1 }));
    // Act
    const response = await handler(await functionUrlEvent(body, { secret: SECRET }));
    // Assess
    assert.equal(response.statusCode, 202, String(response.body));
    const queued = await new SQSClient({}).send(
      new ReceiveMessageCommand({ QueueUrl: deployed[ENV.queueUrl] }),
    );
    assert.equal(queued.Messages?.length, 1);
    assertReadsMatchContract('webhook', read);
  });

  it('worker: dependencies built and a status reported with exactly its variables', async () => {
    // Prepare
    const { env, read } = recording(only('worker'));
    // As lambdas/worker/handler.ts builds them.
    const deps = createWorkerDependencies({
      config: await loadConfigFromEnvironment(env),
      env,
      registryCredentials: () => () => Promise.resolve(undefined),
    });
    // Act
    await deps.reporter.report({
      repository: 'acme/deploy',
      commit: c1,
      environment: 'prod',
      state: 'pending',
      description: 'promoting',
    });
    // Assess
    assert.equal(github.statuses(c1).at(-1)?.description, 'promoting');
    assert.ok(deps.history !== undefined, 'promotion records go to the deliveries table');
    assertReadsMatchContract('worker', read);
  });

  it('reconcile: dependencies built and the head read with exactly its variables', async () => {
    // Prepare
    const { env, read } = recording(only('reconcile'));
    // As lambdas/reconcile/handler.ts builds them.
    const deps = createReconcileDependencies({
      config: await loadConfigFromEnvironment(env),
      env,
      registryCredentials: () => () => Promise.resolve(undefined),
    });
    // Act
    const head = await deps.openHead('main');
    // Assess
    assert.equal(head.commit, c1);
    assertReadsMatchContract('reconcile', read);
  });
});

describe('environment reader', () => {
  it('treats unset and empty alike and names a missing variable in one line', () => {
    const read = createEnvironmentReader({ [ENV.queueUrl]: '', [ENV.githubApiUrl]: 'http://127.0.0.1:1' });
    assert.equal(read.optional(ENV.queueUrl), undefined);
    assert.equal(read.optional(ENV.deliveriesTable), undefined);
    assert.equal(read.optional(ENV.githubApiUrl), 'http://127.0.0.1:1');
    assert.throws(
      () => read.required(ENV.queueUrl, 'the promotion jobs queue'),
      (e: unknown) =>
        e instanceof Error &&
        e.name === 'ConfigError' &&
        e.message === 'environment: set QUEUE_URL (the promotion jobs queue)',
    );
  });
});
