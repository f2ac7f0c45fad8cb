// The worker's test world, all real and all on loopback: moto_server in cross-account mode (STS,
// ECR control plane, SQS; the function's own account is 222222222222, the source role lives in
// 111111111111), two docker-registry instances standing for the two accounts' ECR registries (their
// htpasswd passwords are the tokens moto issues per account), a fault proxy in front of the source
// registry, and the GitHub REST test server (backed by a real git repository) recording statuses.
// Also captures what the worker writes (Powertools JSON logs and EMF metrics).
// With `ecr: true` an ECR model (test/support/ecr-model.ts) stands in front of each registry: the
// worker reaches the source through the fault proxy and then the model, the destination through its
// model; set-up pushes and read-backs still go straight to the registries.
import { Logger } from '@aws-lambda-powertools/logger';
import type { SQSEvent } from 'aws-lambda';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { clearKnownRepositories } from '../../lambdas/adapters/ecr-repositories';
import { clearAssumedRoleCache } from '../../lambdas/adapters/sts-credentials';
import { validateConfig, type Config } from '../../lambdas/core/config';
import { serializePromotionJob, type PromotionJob } from '../../lambdas/core/job';
import { createWorkerDependencies } from '../../lambdas/worker/dependencies';
import type { WorkerDependencies } from '../../lambdas/worker/process-job';
import type { RegistryCredentialFactory } from '../../lambdas/worker/registry-access';
import { createWorker, type Worker } from '../../lambdas/worker/worker';
import { startEcrModel, type EcrModel, type EcrModelOptions } from '../support/ecr-model';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { createGitRepo, type GitRepo } from '../support/git-repo';
import { startGitHubServer, type GitHubAppOptions, type GitHubServer } from '../support/github-server';
import { startMoto, type MotoServer } from '../support/moto-server';
import { startRegistry, type RegistryServer } from '../support/registry-server';
import { createEcrCredentialProvider } from '../../lambdas/adapters/ecr-credentials';

export const SOURCE_ACCOUNT = '111111111111';
export const DESTINATION_ACCOUNT = '222222222222';
export const SRC = `${SOURCE_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`;
export const DST = `${DESTINATION_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`;
export const ROLE_ARN = `arn:aws:iam::${SOURCE_ACCOUNT}:role/image-promoter-source`;
export const REPOSITORY = 'acme/shop';
export const ENVIRONMENT = 'prod';
export const MAX_RECEIVE_COUNT = 3;

export interface World {
  readonly moto: MotoServer;
  readonly source: RegistryServer;
  readonly destination: RegistryServer;
  /** In front of the source registry: what the worker talks to for SRC. */
  readonly proxy: FaultProxy;
  /** Where the worker reads the source's blob bytes: `proxy`, or with `ecr` a fault proxy in front
   * of the presigned storage the source model redirects blob reads to (paths `/sha256/<hex>`). */
  readonly blobProxy: FaultProxy;
  readonly github: GitHubServer;
  /** The ECR models in front of the registries (with `ecr`), undefined otherwise. */
  readonly ecr: { readonly source: EcrModel; readonly destination: EcrModel } | undefined;
  readonly repo: GitRepo;
  readonly config: Config;
  /** Everything the worker logged (Powertools JSON lines) since the last clearOutput(). */
  logs(): readonly Record<string, unknown>[];
  /** Every EMF document the worker published since the last clearOutput(). */
  metrics(): readonly Record<string, unknown>[];
  clearOutput(): void;
  /** A fresh commit in the git repository behind the GitHub server. */
  newCommit(): Promise<string>;
  job(
    commit: string,
    promotions: PromotionJob['promotions'],
    overrides?: Partial<PromotionJob>,
  ): PromotionJob;
  /** The worker with the world's dependencies (config overrides merged into the base config). */
  worker(configOverrides?: Partial<Record<keyof Config, unknown>>): Worker;
  dependencies(configOverrides?: Partial<Record<keyof Config, unknown>>): WorkerDependencies;
  stop(): Promise<void>;
}

export interface WorldOptions {
  /** A GitHub App installed on the repository (for check runs). */
  readonly app?: GitHubAppOptions;
  /** ECR models in front of both registries; an object sets options of each (quotas...). */
  readonly ecr?:
    | boolean
    | {
        readonly source?: Partial<EcrModelOptions>;
        readonly destination?: Partial<EcrModelOptions>;
      };
  /** The registry clients' retry policy (default: 2 attempts, 10-20 ms apart). */
  readonly registryRetry?: {
    readonly attempts: number;
    readonly baseDelayMs: number;
    readonly maxDelayMs: number;
  };
}

export async function startWorld(options: WorldOptions = {}): Promise<World> {
  const [moto, source, destination, repo] = await Promise.all([
    startMoto({ defaultAccountId: DESTINATION_ACCOUNT, accountsFollowCredentials: true }),
    startRegistry({ password: `${SOURCE_ACCOUNT}-auth-token` }),
    startRegistry({ password: `${DESTINATION_ACCOUNT}-auth-token` }),
    createGitRepo({ 'README.md': 'shop\n' }),
  ]);
  const undoEnv = moto.applyToProcess();
  const ecrOptions = typeof options.ecr === 'object' ? options.ecr : {};
  const ecr =
    options.ecr === undefined || options.ecr === false
      ? undefined
      : {
          source: await startEcrModel({ ...ecrOptions.source, upstream: source, accountId: SOURCE_ACCOUNT }),
          destination: await startEcrModel({
            ...ecrOptions.destination,
            upstream: destination,
            accountId: DESTINATION_ACCOUNT,
          }),
        };
  const proxy = await startFaultProxy({ upstream: ecr?.source.url ?? source.url });
  const blobProxy =
    ecr === undefined ? proxy : await startFaultProxy({ upstream: ecr.source.storageUpstream });
  ecr?.source.presignThrough(blobProxy.url);
  const github = await startGitHubServer({
    repository: REPOSITORY,
    gitDirectory: repo.dir,
    ...(options.app === undefined ? {} : { app: options.app }),
  });
  const baseConfig = {
    github: { repository: REPOSITORY, apiUrl: github.url },
    environments: [
      {
        name: ENVIRONMENT,
        overlay: 'deploy/overlays/prod',
        source: { registry: SRC, roleArn: ROLE_ARN, externalId: 'image-promoter-test' },
        destination: { registry: DST },
      },
    ],
    registryEndpoints: { [SRC]: proxy.url, [DST]: ecr?.destination.url ?? destination.url },
    copy: { imageJobs: 4, blobJobs: 4 },
    worker: { maxReceiveCount: MAX_RECEIVE_COUNT, dashboardUrl: 'https://dashboard.example.com/promotions' },
  };
  const config = validateConfig(baseConfig, 'test config');
  const output = captureOutput();
  const previousToken = process.env['GITHUB_TOKEN'];
  process.env['GITHUB_TOKEN'] = github.token;
  const registryCredentials: RegistryCredentialFactory = (aws) =>
    createEcrCredentialProvider(aws === undefined ? {} : { credentials: aws });

  const dependencies = (overrides: Partial<Record<keyof Config, unknown>> = {}): WorkerDependencies =>
    createWorkerDependencies({
      config: validateConfig({ ...baseConfig, ...overrides }, 'test config'),
      env: process.env,
      registryCredentials,
      registryRetry: options.registryRetry ?? { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
      logger: new Logger({ serviceName: 'image-promoter-worker-test', logLevel: 'INFO' }),
      metrics: new Metrics({ namespace: 'ImagePromoter', serviceName: 'image-promoter-worker-test' }),
    });

  return {
    moto,
    source,
    destination,
    proxy,
    blobProxy,
    github,
    ecr,
    repo,
    config,
    logs: () => output.lines().filter((l) => !('_aws' in l)),
    metrics: () => output.lines().filter((l) => '_aws' in l),
    clearOutput: () => output.clear(),
    newCommit: async () => repo.commitFiles({ 'CHANGELOG.md': `${Math.random()}\n` }),
    job: (commit, promotions, overrides = {}) => {
      const job: PromotionJob = {
        version: 1,
        deliveryId: `delivery-${commit.slice(0, 8)}`,
        repository: REPOSITORY,
        ref: 'refs/heads/main',
        commit,
        environment: ENVIRONMENT,
        pusher: 'octocat',
        pushedAt: new Date(Date.now() - 5000).toISOString(),
        promotions,
        ...overrides,
      };
      // Round-trip through the wire format, as the webhook would send it.
      return JSON.parse(serializePromotionJob(job)) as PromotionJob;
    },
    worker: (overrides) => createWorker(dependencies(overrides)),
    dependencies,
    stop: async () => {
      output.restore();
      undoEnv();
      if (previousToken === undefined) Reflect.deleteProperty(process.env, 'GITHUB_TOKEN');
      else process.env['GITHUB_TOKEN'] = previousToken;
      clearAssumedRoleCache();
      clearKnownRepositories();
      await Promise.allSettled([
        proxy.stop(),
        ...(ecr === undefined ? [] : [blobProxy.stop(), ecr.source.stop(), ecr.destination.stop()]),
        github.stop(),
        moto.stop(),
        source.stop(),
        destination.stop(),
        repo.remove(),
      ]);
    },
  };
}

/** Takes the JSON lines written to stdout and stderr (Powertools writes one document per line,
 * errors and warnings to stderr) out of the test output and keeps them; everything else passes. */
function captureOutput(): {
  lines(): readonly Record<string, unknown>[];
  clear(): void;
  restore(): void;
} {
  let captured: Record<string, unknown>[] = [];
  const streams = [process.stdout, process.stderr] as const;
  const originals = streams.map((stream) => stream.write);
  streams.forEach((stream, i) => {
    const original = originals[i]!.bind(stream) as (c: unknown, ...r: unknown[]) => boolean;
    const write = (chunk: unknown, ...rest: unknown[]): boolean => {
      const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : '';
      if (text.startsWith('{')) {
        const parsed: Record<string, unknown>[] = [];
        try {
          for (const line of text.split('\n').filter((l) => l.trim() !== '')) {
            parsed.push(JSON.parse(line) as Record<string, unknown>);
          }
          captured.push(...parsed);
          const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
          callback?.();
          return true;
        } catch {
          // not ours: let it through
        }
      }
      return original(chunk, ...rest);
    };
    stream.write = write as typeof stream.write;
  });
  return {
    lines: () => captured,
    clear: () => {
      captured = [];
    },
    restore: () => {
      streams.forEach((stream, i) => {
        stream.write = originals[i]!;
      });
    },
  };
}

/** Body of an SQS event with one record, as Lambda delivers it. */
export function sqsEvent(
  records: readonly { readonly body: string; readonly receiveCount?: number; readonly messageId?: string }[],
): SQSEvent {
  return {
    Records: records.map((r, i) => ({
      messageId: r.messageId ?? `message-${i}`,
      receiptHandle: `receipt-${i}`,
      body: r.body,
      attributes: {
        ApproximateReceiveCount: String(r.receiveCount ?? 1),
        SentTimestamp: String(Date.now()),
        SenderId: 'AIDAEXAMPLE',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:222222222222:image-promoter-jobs',
      awsRegion: 'us-east-1',
    })),
  };
}
