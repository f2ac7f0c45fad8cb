// Builds the worker's dependencies from the configuration and the process environment, once per
// container (Lambda) or process (local runner): logger, metrics, GitHub status reporter, registry
// access, status target URL. Wiring only. The GitHub token is read lazily (Secrets Manager or
// GITHUB_TOKEN) and never logged.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import {
  createGitHubCheckReporter,
  createGitHubClient,
  createGitHubStatusReporter,
} from '../adapters/github';
import { createDynamoPromotionHistory } from '../adapters/promotion-history-store';
import { createSecretReader, createWebhookSecrets, type SecretReader } from '../adapters/secrets';
import type { CommitStatus, CommitStatusReporter, JobStart } from '../core/commit-status';
import type { Config } from '../core/config';
import { selectTargetUrl } from '../core/promotion-summary';
import type { WorkerDependencies } from './process-job';
import {
  createRegistryAccess,
  type RegistryAccessOptions,
  type RegistryCredentialFactory,
} from './registry-access';

export const SERVICE_NAME = 'image-promoter-worker';
/** The deliveries table (the webhook's): the worker writes its promotion records there. */
export const DELIVERIES_TABLE_ENV = 'DELIVERIES_TABLE';
export const DEFAULT_METRICS_NAMESPACE = 'ImagePromoter';

export interface WorkerEnvironmentOptions {
  readonly config: Config;
  readonly env: NodeJS.ProcessEnv;
  readonly registryCredentials: RegistryCredentialFactory;
  /** Defaults: Powertools Logger and Metrics configured from POWERTOOLS_* variables. */
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly reporter?: CommitStatusReporter;
  /** Registry client retry policy (default: the client's). */
  readonly registryRetry?: RegistryAccessOptions['retry'];
}

export function createWorkerDependencies(options: WorkerEnvironmentOptions): WorkerDependencies {
  const { config, env } = options;
  const logger =
    options.logger ?? new Logger({ serviceName: env['POWERTOOLS_SERVICE_NAME'] ?? SERVICE_NAME });
  const metrics =
    options.metrics ??
    new Metrics({
      namespace: env['POWERTOOLS_METRICS_NAMESPACE'] ?? DEFAULT_METRICS_NAMESPACE,
      serviceName: env['POWERTOOLS_SERVICE_NAME'] ?? SERVICE_NAME,
    });
  const targetUrl = selectTargetUrl({
    ...(config.worker.dashboardUrl === undefined ? {} : { dashboardUrl: config.worker.dashboardUrl }),
    ...(env['AWS_REGION'] === undefined ? {} : { region: env['AWS_REGION'] }),
    ...(env['AWS_LAMBDA_LOG_GROUP_NAME'] === undefined ? {} : { logGroup: env['AWS_LAMBDA_LOG_GROUP_NAME'] }),
    ...(env['AWS_LAMBDA_LOG_STREAM_NAME'] === undefined
      ? {}
      : { logStream: env['AWS_LAMBDA_LOG_STREAM_NAME'] }),
  });
  return {
    config,
    registries: createRegistryAccess({
      config,
      registryCredentials: options.registryCredentials,
      ...(options.registryRetry === undefined ? {} : { retry: options.registryRetry }),
    }),
    reporter: options.reporter ?? createLazyGitHubReporter(config, env),
    ...(env[DELIVERIES_TABLE_ENV]
      ? { history: createDynamoPromotionHistory(new DynamoDBClient({}), env[DELIVERIES_TABLE_ENV]) }
      : {}),
    logger,
    metrics,
    ...(targetUrl === undefined ? {} : { targetUrl }),
  };
}

/** A status reporter whose GitHub client is built on first use, with the token from GITHUB_TOKEN or
 * the secret GITHUB_TOKEN_SECRET_ARN names (re-read after the secret cache TTL: rotation-safe). */
function createLazyGitHubReporter(config: Config, env: NodeJS.ProcessEnv): CommitStatusReporter {
  let reader: SecretReader | undefined;
  const apiUrl = env['GITHUB_API_URL'] ?? config.github.apiUrl;
  const secrets = createWebhookSecrets(
    env,
    () => (reader ??= createSecretReader(new SecretsManagerClient({}))),
    () =>
      Promise.resolve({ repository: config.github.repository, ...(apiUrl === undefined ? {} : { apiUrl }) }),
  );
  let current: { readonly token: string; readonly reporter: CommitStatusReporter } | undefined;
  const reporter = async (): Promise<CommitStatusReporter> => {
    const token = await secrets.githubToken();
    if (current?.token !== token) {
      const octokit = createGitHubClient({ token, ...(apiUrl === undefined ? {} : { apiUrl }) });
      // An App reports check runs; a token, commit statuses (same name, same required check).
      const create =
        secrets.githubAuthKind() === 'app' ? createGitHubCheckReporter : createGitHubStatusReporter;
      // A renewed token keeps the runs already started (their ids) only by lookup: the check reporter
      // finds a run by its job id when it did not start it.
      current = { token, reporter: create(octokit) };
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
