// The whole image-promoter stack on loopback, for the demo, the end-to-end tests and the load script:
// moto_server (SQS + dead-letter queue, STS, ECR tokens, Secrets Manager, DynamoDB), two CNCF
// registries standing for the dev (111111111111) and prod (222222222222) accounts' ECR (basic auth
// with the tokens moto issues), a pass-through proxy in front of each (fault injection on dev,
// request counting on prod), the GitHub REST test server over a real git repository laid out like
// the original article, and the shipped commands as child processes: `image-promoter webhook` and
// `image-promoter worker`, and with `reconcile` the scheduled check: the reconcile Lambda's handler
// on the local scheduler (`image-promoter reconcile --every`) while the stack's EventBridge rule in
// moto is enabled. With `ecr`, an ECR model (test/support/ecr-model.ts: ECR's quotas, 201
// PATCHes, no blob mounting, presigned blob reads) stands between each proxy and its registry, and a
// fault proxy in front of dev's presigned storage sees the blob bytes. Everything listens on free
// 127.0.0.1 ports and stop() tears all of it down.
// It must never talk to anything but 127.0.0.1, and never hold promotion logic of its own.
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { access, constants, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sign } from '@octokit/webhooks-methods';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DisableRuleCommand,
  EnableRuleCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
  type QueueAttributeName,
} from '@aws-sdk/client-sqs';
import { parseConfig } from '../lambdas/core/config';
import { rateExpression } from '../lambdas/core/schedule-expression';
import { startEcrModel, type EcrModel } from '../test/support/ecr-model';
import { startFaultProxy, type FaultProxy } from '../test/support/fault-proxy';
import { createGitRepo, type FileChanges, type GitRepo } from '../test/support/git-repo';
import { startGitHubServer, type GitHubServer, type ReceivedStatus } from '../test/support/github-server';
import { startMoto, type MotoServer } from '../test/support/moto-server';
import { answers, freePort, startProcess, type ManagedProcess } from '../test/support/processes';
import { startRegistry, type RegistryServer } from '../test/support/registry-server';
import { pullRequestPayload, pushPayload } from '../test/webhook/fixtures';

export const DEV_ACCOUNT = '111111111111';
export const PROD_ACCOUNT = '222222222222';
export const DEV_REGISTRY = `${DEV_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`;
export const PROD_REGISTRY = `${PROD_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`;
export const SOURCE_ROLE_ARN = `arn:aws:iam::${DEV_ACCOUNT}:role/image-promoter-source`;
export const OVERLAYS_REPOSITORY = 'acme/k8s-overlays';
export const ENVIRONMENT = 'production';
export const STATUS_CONTEXT = `image-promotion/${ENVIRONMENT}`;
export const IMAGE_REPOSITORY = 'shop/web';
export const INITIAL_PRODUCTION_TAG = '1.2.0';
/** The GitHub App of `githubApp: true` (the test server issues its installation tokens). */
const APP_ID = 1616;
const APP_INSTALLATION_ID = 16;

const ROOT = new URL('..', import.meta.url).pathname;

/** A prerequisite program and the one line that installs it. */
export interface Prerequisite {
  readonly program: string;
  readonly install: string;
}

export const PREREQUISITES: readonly Prerequisite[] = [
  { program: 'git', install: 'apt-get install -y git' },
  { program: 'skopeo', install: 'apt-get install -y skopeo' },
  { program: 'docker-registry', install: 'apt-get install -y docker-registry' },
  { program: 'moto_server', install: "pip install 'moto[server]>=5'" },
];

/** The prerequisites not found on PATH. */
export async function findMissingPrerequisites(
  env: NodeJS.ProcessEnv = process.env,
): Promise<readonly Prerequisite[]> {
  const dirs = (env['PATH'] ?? '').split(delimiter).filter((d) => d !== '');
  const found = await Promise.all(
    PREREQUISITES.map(async (p) => {
      for (const dir of dirs) {
        if (
          await access(join(dir, p.program), constants.X_OK).then(
            () => true,
            () => false,
          )
        )
          return true;
      }
      return false;
    }),
  );
  return PREREQUISITES.filter((_, i) => !found[i]);
}

/** The article's layout: infra/base, overlays/dev, overlays/production (image and replicas patches). */
export function articleOverlayFiles(options: {
  readonly productionTag: string;
  readonly devTag?: string;
  readonly replicas?: number;
}): FileChanges {
  const container = (registry: string, tag: string): string =>
    [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata:',
      '  name: web',
      'spec:',
      '  template:',
      '    spec:',
      '      containers:',
      '        - name: web',
      `          image: ${registry}/${IMAGE_REPOSITORY}:${tag}`,
      '',
    ].join('\n');
  return {
    'infra/base/kustomization.yaml':
      'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\n  - service.yaml\n',
    'infra/base/deployment.yaml': [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata:',
      '  name: web',
      '  labels: {app: web}',
      'spec:',
      '  replicas: 1',
      '  selector: {matchLabels: {app: web}}',
      '  template:',
      '    metadata: {labels: {app: web}}',
      '    spec:',
      '      containers:',
      '        - name: web',
      `          image: ${DEV_REGISTRY}/${IMAGE_REPOSITORY}:1.0.0`,
      '          ports: [{containerPort: 8080}]',
      '',
    ].join('\n'),
    'infra/base/service.yaml':
      'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n',
    'overlays/dev/kustomization.yaml':
      'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: dev\nresources:\n  - ../../infra/base\npatches:\n  - path: patch-image.yaml\n',
    'overlays/dev/patch-image.yaml': container(DEV_REGISTRY, options.devTag ?? options.productionTag),
    'overlays/production/kustomization.yaml':
      'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: production\nresources:\n  - ../../infra/base\npatchesStrategicMerge:\n  - patch-image.yaml\n  - patch-replicas.yaml\n',
    'overlays/production/patch-image.yaml': container(PROD_REGISTRY, options.productionTag),
    'overlays/production/patch-replicas.yaml': `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: ${options.replicas ?? 3}\n`,
  };
}

export interface LocalStackOptions {
  /** Seconds before a failed job is visible again on the queue (default 1). */
  readonly retryDelaySeconds?: number;
  /** Deliveries of a job before SQS moves it to the dead-letter queue (default 3). */
  readonly maxReceiveCount?: number;
  /** Called with a short line as each part comes up. */
  readonly onProgress?: (line: string) => void;
  /** Aborting it while the stack starts stops what already runs and rejects (e.g. Ctrl-C). */
  readonly signal?: AbortSignal;
  /** Run the webhook and the worker as a GitHub App (GITHUB_APP_ID + key file): results are check
   * runs instead of commit statuses (default false: a token, statuses). */
  readonly githubApp?: boolean;
  /** The scheduled reconcile (default: none, so tests that count statuses never see one). The stack
   * creates the rule a deployed stack has (in moto: its schedule expression from config
   * reconcile.rateMinutes, hourly by default; DISABLED unless `enabled`); moto fires no schedule, so
   * the local scheduler stands in and fires every `everySeconds` (a few seconds for the demo and the
   * tests) while the rule is enabled. */
  readonly reconcile?: { readonly everySeconds: number; readonly enabled?: boolean };
  /** An ECR model in front of each registry (default false: the registries answer themselves). */
  readonly ecr?: boolean;
}

/** A pull request event as GitHub delivers it (fields of its `pull_request` payload). */
export interface PullRequestEvent {
  readonly action: string;
  readonly number: number;
  /** The base branch's tip when the event happened (the webhook asks GitHub for the merge base). */
  readonly baseSha: string;
  readonly headSha: string;
  readonly headRef: string;
  readonly merged?: boolean;
}

export interface Delivery {
  readonly deliveryId: string;
  readonly status: number;
  readonly body: Readonly<Record<string, unknown>>;
}

export interface QueueDepth {
  readonly visible: number;
  readonly inFlight: number;
  readonly delayed: number;
}

export interface LocalStack {
  readonly moto: MotoServer;
  readonly dev: RegistryServer;
  readonly prod: RegistryServer;
  /** In front of dev: where the worker reads the source registry (fault rules go here). */
  readonly devProxy: FaultProxy;
  /** In front of prod: where the worker writes (its request log counts manifest PUTs). */
  readonly prodProxy: FaultProxy;
  /** Where the worker reads dev's blob bytes: devProxy, or with `ecr` the proxy in front of the
   * presigned storage the dev model redirects blob reads to (paths `/sha256/<hex>` there). */
  readonly devBlobProxy: FaultProxy;
  /** The ECR models (with `ecr`), between the proxies and the registries. */
  readonly ecr: { readonly dev: EcrModel; readonly prod: EcrModel } | undefined;
  readonly github: GitHubServer;
  readonly repo: GitRepo;
  readonly configFile: string;
  readonly webhookUrl: string;
  readonly webhookSecret: string;
  readonly queueUrl: string;
  readonly dlqUrl: string;
  /** The commit every test starts from (production at INITIAL_PRODUCTION_TAG). */
  readonly initialCommit: string;
  /** Commits `files` on main; resolves to the previous head and the new commit. */
  pushCommit(
    files: FileChanges,
    message?: string,
  ): Promise<{ readonly before: string; readonly after: string }>;
  /** POSTs a signed push webhook for before..after to the webhook server, as GitHub would. */
  deliver(
    push: { readonly before: string; readonly after: string },
    options?: { readonly deliveryId?: string },
  ): Promise<Delivery>;
  /** POSTs a signed pull_request webhook (GitHub's example payload adapted), as GitHub would. */
  deliverPullRequest(event: PullRequestEvent, options?: { readonly deliveryId?: string }): Promise<Delivery>;
  /** Statuses of `commit` in context image-promotion/production, oldest first. */
  statuses(commit: string): readonly ReceivedStatus[];
  /** Waits until `commit` has a status other than pending in image-promotion/production. */
  waitForFinalStatus(commit: string, timeoutMs?: number): Promise<ReceivedStatus>;
  queueDepth(): Promise<QueueDepth>;
  dlqDepth(): Promise<QueueDepth>;
  /** The bodies of the messages on the dead-letter queue (received, then left to reappear). */
  peekDeadLetters(): Promise<readonly string[]>;
  /** The reconcile's EventBridge rule (with `reconcile`): its name, and enabling or disabling it as
   * `aws events enable-rule / disable-rule` would (the scheduler sees it at its next period). */
  readonly reconcileRule: string | undefined;
  setReconcileRule(enabled: boolean): Promise<void>;
  /** The environment for running the CLI (verify, history, prune, reconcile) against this stack:
   * moto's endpoint and credentials, the GitHub test server, the queue and the deliveries table, and
   * an empty Docker config (the user's own docker login must not answer for the stack's registries). */
  cliEnv(): NodeJS.ProcessEnv;
  /** Everything the webhook, worker and scheduled reconcile processes wrote so far (tail). */
  output(): { readonly webhook: string; readonly worker: string; readonly reconcile: string };
  stop(): Promise<void>;
}

/** The reconcile's schedule rule in moto (a deployed stack's rule has a generated name). */
const RECONCILE_RULE = 'image-promoter-reconcile';

const ECR_PASSWORD = (account: string): string => `${account}-auth-token`;

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const report = options.onProgress ?? ((): void => undefined);
  const progress = (line: string): void => {
    options.signal?.throwIfAborted();
    report(line);
  };
  const maxReceiveCount = options.maxReceiveCount ?? 3;
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const step of cleanups.splice(0).reverse()) await step().catch(() => undefined);
  };
  try {
    const dir = await mkdtemp(join(tmpdir(), 'image-promoter-stack-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));

    progress('moto_server (SQS, STS, ECR, Secrets Manager, DynamoDB), two registries, overlays repository');
    const [moto, dev, prod, repo] = await Promise.all([
      startMoto({ defaultAccountId: PROD_ACCOUNT, accountsFollowCredentials: true }).then((m) => {
        cleanups.push(() => m.stop());
        return m;
      }),
      startRegistry({ password: ECR_PASSWORD(DEV_ACCOUNT) }).then((r) => {
        cleanups.push(() => r.stop());
        return r;
      }),
      startRegistry({ password: ECR_PASSWORD(PROD_ACCOUNT) }).then((r) => {
        cleanups.push(() => r.stop());
        return r;
      }),
      createGitRepo(articleOverlayFiles({ productionTag: INITIAL_PRODUCTION_TAG })).then((r) => {
        cleanups.push(() => r.remove());
        return r;
      }),
    ]);
    const initialCommit = (await repo.git('rev-parse', 'HEAD')).trim();
    const startModel = async (upstream: RegistryServer, accountId: string): Promise<EcrModel> => {
      const model = await startEcrModel({ upstream, accountId });
      cleanups.push(() => model.stop());
      return model;
    };
    const ecr =
      options.ecr === true
        ? { dev: await startModel(dev, DEV_ACCOUNT), prod: await startModel(prod, PROD_ACCOUNT) }
        : undefined;
    const devProxy = await startFaultProxy({ upstream: ecr?.dev.url ?? dev.url });
    cleanups.push(() => devProxy.stop());
    const prodProxy = await startFaultProxy({ upstream: ecr?.prod.url ?? prod.url });
    cleanups.push(() => prodProxy.stop());
    const devBlobProxy =
      ecr === undefined ? devProxy : await startFaultProxy({ upstream: ecr.dev.storageUpstream });
    if (ecr !== undefined) {
      cleanups.push(() => devBlobProxy.stop());
      ecr.dev.presignThrough(devBlobProxy.url);
    }
    // An App's key pair: the test server verifies the App's JWTs with the public half.
    const appKeys = options.githubApp
      ? generateKeyPairSync('rsa', {
          modulusLength: 2048,
          publicKeyEncoding: { type: 'spki', format: 'pem' },
          privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
        })
      : undefined;
    const github = await startGitHubServer({
      repository: OVERLAYS_REPOSITORY,
      gitDirectory: repo.dir,
      checkContract: false,
      ...(appKeys === undefined
        ? {}
        : { app: { id: APP_ID, publicKey: appKeys.publicKey, installationId: APP_INSTALLATION_ID } }),
    });
    cleanups.push(() => github.stop());
    const appKeyFile = join(dir, 'github-app.pem');
    if (appKeys !== undefined) await writeFile(appKeyFile, appKeys.privateKey, { mode: 0o600 });

    progress('queue + dead-letter queue, deliveries table, secrets');
    const aws = awsClientConfig(moto);
    const sqs = new SQSClient(aws);
    cleanups.push(() => Promise.resolve(sqs.destroy()));
    const dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'image-promoter-jobs-dlq' })))
      .QueueUrl!;
    const dlqArn = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }))
    ).Attributes!['QueueArn']!;
    const queueUrl = (
      await sqs.send(
        new CreateQueueCommand({
          QueueName: 'image-promoter-jobs',
          Attributes: {
            VisibilityTimeout: '60',
            RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount }),
          },
        }),
      )
    ).QueueUrl!;
    const dynamo = new DynamoDBClient(aws);
    await dynamo.send(
      new CreateTableCommand({
        TableName: 'image-promoter-deliveries',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'deliveryId', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'deliveryId', KeyType: 'HASH' }],
      }),
    );
    dynamo.destroy();
    const webhookSecret = randomUUID();
    const secrets = new SecretsManagerClient(aws);
    const [webhookSecretArn, githubTokenArn] = await Promise.all([
      secrets.send(
        new CreateSecretCommand({ Name: 'image-promoter/webhook-secret', SecretString: webhookSecret }),
      ),
      secrets.send(
        new CreateSecretCommand({ Name: 'image-promoter/github-token', SecretString: github.token }),
      ),
    ]).then((out) => out.map((o) => o.ARN!));
    secrets.destroy();

    const configFile = join(dir, 'image-promoter.yaml');
    await writeFile(
      configFile,
      [
        '# Written by demo/local-stack.ts: the article layout promoted from "dev" to "production".',
        'github:',
        `  repository: ${OVERLAYS_REPOSITORY}`,
        `  apiUrl: ${github.url}`,
        'environments:',
        `  - name: ${ENVIRONMENT}`,
        '    overlay: overlays/production',
        '    source:',
        `      registry: ${DEV_REGISTRY}`,
        `      roleArn: ${SOURCE_ROLE_ARN}`,
        `      externalId: ${randomBytes(16).toString('hex')}`,
        '    destination:',
        `      registry: ${PROD_REGISTRY}`,
        "    # The allowlist (prune needs one to know which repositories are this environment's).",
        "    repositories: ['shop/**']",
        'registryEndpoints:',
        `  ${DEV_REGISTRY}: ${devProxy.url}`,
        `  ${PROD_REGISTRY}: ${prodProxy.url}`,
        'worker:',
        `  maxReceiveCount: ${maxReceiveCount}`,
        'webhook:',
        "  # GitHub Enterprise Server's 30 s budget, not github.com's 10 s (default 7): one machine runs",
        '  # moto, two registries, a GitHub stand-in, the webhook and the worker at once, and may be busy.',
        '  deadlineSeconds: 25',
        '',
      ].join('\n'),
    );

    const childEnv: NodeJS.ProcessEnv = {
      ...process.env,
      ...moto.env(),
      WEBHOOK_SECRET_ARN: webhookSecretArn,
      GITHUB_TOKEN_SECRET_ARN: githubTokenArn,
      GITHUB_API_URL: github.url,
      QUEUE_URL: queueUrl,
      DELIVERIES_TABLE: 'image-promoter-deliveries',
      POWERTOOLS_SERVICE_NAME: 'image-promoter-local',
      NODE_NO_WARNINGS: '1',
      ...(appKeys === undefined
        ? {}
        : {
            GITHUB_APP_ID: String(APP_ID),
            GITHUB_APP_PRIVATE_KEY_FILE: appKeyFile,
            GITHUB_APP_INSTALLATION_ID: String(APP_INSTALLATION_ID),
          }),
    };
    for (const name of ['WEBHOOK_SECRET', 'GITHUB_TOKEN', 'IMAGE_PROMOTER_CONFIG', 'MOTO_ACCOUNT_ID']) {
      Reflect.deleteProperty(childEnv, name);
    }

    progress('image-promoter webhook (child process)');
    const webhookPort = await freePort();
    const webhook = await startProcess(
      process.execPath,
      ['bin/image-promoter.cjs', 'webhook', '--port', String(webhookPort), '--config', configFile],
      {
        env: childEnv,
        cwd: ROOT,
        ready: () => answers(`http://127.0.0.1:${webhookPort}/`),
        timeoutMs: 30_000,
      },
    );
    cleanups.push(() => webhook.stop());
    const webhookUrl = `http://127.0.0.1:${webhookPort}/`;

    progress('image-promoter worker (child process)');
    const worker: ManagedProcess = await startProcess(
      process.execPath,
      [
        'bin/image-promoter.cjs',
        'worker',
        '--queue-url',
        queueUrl,
        '--config',
        configFile,
        '--wait-seconds',
        '1',
        '--retry-delay',
        String(options.retryDelaySeconds ?? 1),
      ],
      { env: childEnv, cwd: ROOT, ready: () => Promise.resolve(true) },
    );
    cleanups.push(() => worker.stop());

    const events = new EventBridgeClient(aws);
    cleanups.push(() => Promise.resolve(events.destroy()));
    let reconcile: ManagedProcess | undefined;
    if (options.reconcile !== undefined) {
      progress(`image-promoter reconcile --every ${options.reconcile.everySeconds} (child process)`);
      const config = parseConfig(await readFile(configFile, 'utf8'), configFile);
      const { RuleArn } = await events.send(
        new PutRuleCommand({
          Name: RECONCILE_RULE,
          ScheduleExpression: rateExpression(config.reconcile.rateMinutes),
          State: options.reconcile.enabled === true ? 'ENABLED' : 'DISABLED',
          Description: 'image-promoter reconcile (local stack: the local scheduler fires it)',
        }),
      );
      // The target a deployed rule has: the reconcile function, in the rule's account and region.
      const [, , , region, account] = RuleArn!.split(':');
      await events.send(
        new PutTargetsCommand({
          Rule: RECONCILE_RULE,
          Targets: [
            { Id: 'reconcile', Arn: `arn:aws:lambda:${region}:${account}:function:image-promoter-reconcile` },
          ],
        }),
      );
      reconcile = await startProcess(
        process.execPath,
        [
          'bin/image-promoter.cjs',
          'reconcile',
          '--config',
          configFile,
          '--every',
          String(options.reconcile.everySeconds),
          '--rule',
          RECONCILE_RULE,
        ],
        { env: childEnv, cwd: ROOT, ready: () => Promise.resolve(true) },
      );
      const started = reconcile;
      cleanups.push(() => started.stop());
    }
    options.signal?.throwIfAborted();
    options.signal?.throwIfAborted();

    const depth = async (url: string): Promise<QueueDepth> => {
      const out = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: [
            'ApproximateNumberOfMessages',
            'ApproximateNumberOfMessagesNotVisible',
            'ApproximateNumberOfMessagesDelayed',
          ],
        }),
      );
      const n = (key: QueueAttributeName): number => Number(out.Attributes?.[key] ?? 0);
      return {
        visible: n('ApproximateNumberOfMessages'),
        inFlight: n('ApproximateNumberOfMessagesNotVisible'),
        delayed: n('ApproximateNumberOfMessagesDelayed'),
      };
    };
    const statuses = (commit: string): readonly ReceivedStatus[] =>
      github.statuses(commit).filter((s) => s.context === STATUS_CONTEXT);
    const exited = (): string | undefined => {
      for (const [name, child] of [
        ['webhook', webhook],
        ['worker', worker],
        ...(reconcile === undefined ? [] : [['reconcile', reconcile] as const]),
      ] as const) {
        if (child.child.exitCode !== null || child.child.signalCode !== null) {
          return `${name} process exited (${child.child.exitCode ?? child.child.signalCode}):\n${child.output().slice(-3000)}`;
        }
      }
      return undefined;
    };

    /** One signed delivery to the webhook server, as GitHub sends it. */
    const post = async (event: string, payload: unknown, id?: string): Promise<Delivery> => {
      const deliveryId = id ?? randomUUID();
      const body = JSON.stringify(payload);
      const response = await fetch(webhookUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'GitHub-Hookshot/local-stack',
          'x-github-event': event,
          'x-github-delivery': deliveryId,
          'x-github-hook-id': '1',
          'x-hub-signature-256': await sign(webhookSecret, body),
        },
        body,
      });
      const text = await response.text();
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        parsed = { text };
      }
      return { deliveryId, status: response.status, body: parsed };
    };

    return {
      moto,
      dev,
      prod,
      devProxy,
      prodProxy,
      devBlobProxy,
      ecr,
      github,
      repo,
      configFile,
      webhookUrl,
      webhookSecret,
      queueUrl,
      dlqUrl,
      initialCommit,
      pushCommit: async (files, message) => {
        const before = (await repo.git('rev-parse', 'HEAD')).trim();
        const after = await repo.commitFiles(files, message ?? 'change');
        return { before, after };
      },
      deliver: (push, deliveryOptions = {}) =>
        post('push', pushPayload({ repository: OVERLAYS_REPOSITORY, ...push }), deliveryOptions.deliveryId),
      deliverPullRequest: (event, deliveryOptions = {}) =>
        post(
          'pull_request',
          pullRequestPayload({
            repository: OVERLAYS_REPOSITORY,
            action: event.action,
            number: event.number,
            baseSha: event.baseSha,
            headSha: event.headSha,
            headRef: event.headRef,
            ...(event.merged === undefined ? {} : { merged: event.merged }),
          }),
          deliveryOptions.deliveryId,
        ),
      statuses,
      waitForFinalStatus: async (commit, timeoutMs = 60_000) => {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const final = statuses(commit).find((s) => s.state !== 'pending');
          if (final !== undefined) return final;
          const dead = exited();
          if (dead !== undefined) throw new Error(dead);
          if (Date.now() > deadline) {
            throw new Error(
              `no final ${STATUS_CONTEXT} status on ${commit} within ${timeoutMs} ms ` +
                `(statuses: ${JSON.stringify(statuses(commit).map((s) => s.state))})\n` +
                `worker output:\n${worker.output().slice(-3000)}`,
            );
          }
          await sleep(50);
        }
      },
      queueDepth: () => depth(queueUrl),
      dlqDepth: () => depth(dlqUrl),
      peekDeadLetters: async () => {
        const out = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }),
        );
        return (out.Messages ?? []).map((m) => m.Body ?? '');
      },
      cliEnv: () => ({
        ...moto.env(),
        QUEUE_URL: queueUrl,
        DELIVERIES_TABLE: 'image-promoter-deliveries',
        GITHUB_TOKEN: github.token,
        GITHUB_API_URL: github.url,
        DOCKER_CONFIG: join(dir, 'docker'),
      }),
      reconcileRule: reconcile === undefined ? undefined : RECONCILE_RULE,
      setReconcileRule: async (enabled) => {
        if (reconcile === undefined) throw new Error('the stack was started without `reconcile`');
        await events.send(
          enabled
            ? new EnableRuleCommand({ Name: RECONCILE_RULE })
            : new DisableRuleCommand({ Name: RECONCILE_RULE }),
        );
      },
      output: () => ({
        webhook: webhook.output(),
        worker: worker.output(),
        reconcile: reconcile?.output() ?? '',
      }),
      stop: cleanup,
    };
  } catch (e: unknown) {
    await cleanup();
    throw e;
  }
}

/** SDK client settings for moto (the same credentials the child processes get). */
export function awsClientConfig(moto: MotoServer): {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
} {
  const env = moto.env();
  return {
    endpoint: moto.url,
    region: moto.region,
    credentials: { accessKeyId: env['AWS_ACCESS_KEY_ID']!, secretAccessKey: env['AWS_SECRET_ACCESS_KEY']! },
  };
}
