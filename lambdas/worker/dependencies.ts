// Builds the worker's dependencies from the configuration and the process environment, once per
// container (Lambda) or process (local runner): logger, metrics, GitHub status reporter, registry
// access, status target URL. Wiring only. The GitHub token is read lazily (Secrets Manager or
// GITHUB_TOKEN) and never logged.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { createGitHubReporter, createTokenRotatingGitHubClient, type GitHubClient } from '../adapters/github';
import { createDynamoPromotionHistory } from '../adapters/promotion-history-store';
import { createSecretReader, createWebhookSecrets, type SecretReader } from '../adapters/secrets';
import type { CommitStatus, CommitStatusReporter, JobStart } from '../core/commit-status';
import type { Config } from '../core/config';
import { ENV, METRICS_NAMESPACE, SERVICE_NAME } from '../core/contract';
import { createEnvironmentReader, type EnvironmentRecord } from '../core/environment';
import { selectTargetUrl } from '../core/promotion-summary';
import type { WorkerDependencies } from './process-job';
import {
  createRegistryAccess,
  type RegistryAccessOptions,
  type RegistryCredentialFactory,
} from './registry-access';

export interface WorkerEnvironmentOptions {
  readonly config: Config;
  readonly env: EnvironmentRecord;
  readonly registryCredentials: RegistryCredentialFactory;
  /** Defaults: Powertools Logger and Metrics configured from POWERTOOLS_* variables. */
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly reporter?: CommitStatusReporter;
  /** Registry client retry policy (default: the client's). */
  readonly registryRetry?: RegistryAccessOptions['retry'];
}

export function createWorkerDependencies(options: WorkerEnvironmentOptions): WorkerDependencies {
  const { config } = options;
  const read = createEnvironmentReader(options.env);
  const serviceName = read.optional(ENV.serviceName) ?? SERVICE_NAME;
  const logger = options.logger ?? new Logger({ serviceName });
  const metrics =
    options.metrics ??
    new Metrics({ namespace: read.optional(ENV.metricsNamespace) ?? METRICS_NAMESPACE, serviceName });
  const targetUrl = selectTargetUrl({
    ...(config.worker.dashboardUrl === undefined ? {} : { dashboardUrl: config.worker.dashboardUrl }),
    region: read.optional(ENV.awsRegion),
    logGroup: read.optional(ENV.logGroupName),
    logStream: read.optional(ENV.logStreamName),
  });
  const deliveriesTable = read.optional(ENV.deliveriesTable);
  return {
    config,
    registries: createRegistryAccess({
      config,
      registryCredentials: options.registryCredentials,
      ...(options.registryRetry === undefined ? {} : { retry: options.registryRetry }),
    }),
    reporter: options.reporter ?? createLazyGitHubReporter(config, options.env),
    // The deliveries table (the webhook's): the worker writes its promotion records there.
    ...(deliveriesTable === undefined
      ? {}
      : { history: createDynamoPromotionHistory(new DynamoDBClient({}), deliveriesTable) }),
    logger,
    metrics,
    ...(targetUrl === undefined ? {} : { targetUrl }),
  };
}

/** A status reporter whose GitHub client is built on first use, with the token from GITHUB_TOKEN or
 * the secret GITHUB_TOKEN_SECRET_ARN names (re-read after the secret cache TTL: rotation-safe). */
function createLazyGitHubReporter(config: Config, env: EnvironmentRecord): CommitStatusReporter {
  let reader: SecretReader | undefined;
  const apiUrl = createEnvironmentReader(env).optional(ENV.githubApiUrl) ?? config.github.apiUrl;
  const secrets = createWebhookSecrets(
    env,
    () => (reader ??= createSecretReader(new SecretsManagerClient({}))),
    () =>
      Promise.resolve({ repository: config.github.repository, ...(apiUrl === undefined ? {} : { apiUrl }) }),
  );
  const github = createTokenRotatingGitHubClient(
    () => secrets.githubToken(),
    apiUrl === undefined ? {} : { apiUrl },
  );
  // A renewed token keeps the runs already started (their ids) only by lookup: the check reporter
  // finds a run by its job id when it did not start it.
  let current: { readonly client: GitHubClient; readonly reporter: CommitStatusReporter } | undefined;
  const reporter = async (): Promise<CommitStatusReporter> => {
    const client = await github();
    if (current?.client !== client) {
      current = { client, reporter: createGitHubReporter(client, secrets.githubAuthKind()) };
    }
    return current.reporter;
  };
  return {
    async report(status: CommitStatus): Promise<void> {
      await (await reporter()).report(status);
    },
    // Only an App has an in_progress state to report (check runs); a token's reporter has no start.
    ...(secrets.githubAuthKind() === 'app'
      ? { start: async (job: JobStart): Promise<void> => (await reporter()).start?.(job) }
      : {}),
  };
}
