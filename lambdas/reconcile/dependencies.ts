// Builds the reconcile's dependencies once per container (Lambda) or process (CLI): the worker's own
// logger, metrics, status reporter and registry access (so the reconcile reads both registries with
// exactly the worker's identity and source role), the jobs queue (QUEUE_URL), and the deploy
// branch's head read through GitHub (token from GITHUB_TOKEN or GITHUB_TOKEN_SECRET_ARN, re-read
// after the secret cache TTL). Wiring only; never logs the token.
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createGitHubClient, GitHubFileSource, resolveGitHubCommit } from '../adapters/github';
import { createSecretReader, createWebhookSecrets, type SecretReader } from '../adapters/secrets';
import { createSqsJobQueue, lazySqsClient } from '../adapters/sqs-queue';
import { ENV } from '../core/contract';
import { createEnvironmentReader } from '../core/environment';
import { createWorkerDependencies, type WorkerEnvironmentOptions } from '../worker/dependencies';
import type { ReconcileDependencies } from './run-reconcile';

export function createReconcileDependencies(options: WorkerEnvironmentOptions): ReconcileDependencies {
  const { config, env } = options;
  const worker = createWorkerDependencies(options);
  const read = createEnvironmentReader(env);
  const queueUrl = read.required(ENV.queueUrl, 'the promotion jobs queue');
  let reader: SecretReader | undefined;
  const secrets = createWebhookSecrets(
    env,
    () => (reader ??= createSecretReader(new SecretsManagerClient({}))),
  );
  const apiUrl = read.optional(ENV.githubApiUrl) ?? config.github.apiUrl;
  return {
    config,
    registries: worker.registries,
    reporter: worker.reporter,
    logger: worker.logger,
    metrics: worker.metrics,
    ...(worker.targetUrl === undefined ? {} : { targetUrl: worker.targetUrl }),
    queue: createSqsJobQueue(lazySqsClient(), queueUrl),
    clock: () => new Date(),
    openHead: async (ref) => {
      const token = await secrets.githubToken();
      const octokit = createGitHubClient({ token, ...(apiUrl === undefined ? {} : { apiUrl }) });
      const repository = config.github.repository;
      // A fresh FileSource per run: its caches live as long as one reconcile.
      const commit = await resolveGitHubCommit(octokit, repository, ref);
      return { files: new GitHubFileSource(octokit, { repository }), commit };
    },
  };
}
