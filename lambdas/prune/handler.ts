// The scheduled prune Lambda (EventBridge, off unless config prune.scheduled): prunes the
// environments named in PRUNE_ENVIRONMENTS (the stack's own) at the deploy branch's head read
// through GitHub, applying the plan, with its own role: ECR reads and BatchDeleteImage on the
// allowlisted repositories of its own registry only. It reaches no other registry, so a tag
// another environment deploys elsewhere protects the same path and tag here (run-prune). One
// audit line per removal in its log. Wiring only.
import { Logger } from '@aws-lambda-powertools/logger';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { loadConfigFromEnvironment } from '../adapters/config-source';
import { createEcrCredentialProvider } from '../adapters/ecr-credentials';
import {
  createGitHubClient,
  GitHubFileSource,
  listGitHubFirstParents,
  resolveGitHubCommit,
} from '../adapters/github';
import { createSecretReader, createWebhookSecrets, type SecretReader } from '../adapters/secrets';
import { findEnvironment } from '../core/config';
import { ENV, SERVICE_NAME } from '../core/contract';
import { createEnvironmentReader } from '../core/environment';
import { ConfigError, describeError } from '../core/errors';
import { openPruneRegistry, runPrune } from './run-prune';

const logger = new Logger({ serviceName: SERVICE_NAME });
let reader: SecretReader | undefined;

export interface PruneSummary {
  readonly environments: readonly {
    readonly name: string;
    readonly removed: number;
    readonly kept: number;
    readonly clean: boolean;
    readonly error?: string;
  }[];
}

export const handler = async (_event: ScheduledEvent, context: Context): Promise<PruneSummary> => {
  logger.addContext(context);
  const config = await loadConfigFromEnvironment();
  const read = createEnvironmentReader(process.env);
  const names = read
    .required(ENV.pruneEnvironments, 'the environments to prune')
    .split(',')
    .filter((n) => n !== '');
  const secrets = createWebhookSecrets(
    process.env,
    () => (reader ??= createSecretReader(new SecretsManagerClient({}))),
  );
  const apiUrl = read.optional(ENV.githubApiUrl) ?? config.github.apiUrl;
  const octokit = createGitHubClient({
    token: await secrets.githubToken(),
    ...(apiUrl === undefined ? {} : { apiUrl }),
  });
  const repository = config.github.repository;
  const commit = await resolveGitHubCommit(octokit, repository, config.github.branches[0]!);
  // One budget of GitHub calls for the whole run (planning.maxGitHubCalls): the history walk
  // stops with a PlanningLimitError rather than spend the token's hourly quota.
  const files = new GitHubFileSource(octokit, { repository, maxCalls: config.planning.maxGitHubCalls });
  const history = {
    firstParents: (from: string, max: number) => listGitHubFirstParents(octokit, repository, from, max),
  };
  const results: PruneSummary['environments'][number][] = [];
  for (const name of names) {
    const env = findEnvironment(config, name);
    if (env === undefined)
      throw new ConfigError(ENV.pruneEnvironments, `no environment "${name}" in the config`);
    try {
      const outcome = await runPrune({
        config,
        environment: env,
        files,
        history,
        commit,
        destination: openPruneRegistry(config, env, createEcrCredentialProvider()),
        keep: config.prune.keep,
        apply: true,
        requestedBy: 'scheduled prune',
        audit: (line) => logger.info('prune', { ...line }),
      });
      results.push({
        name,
        removed: outcome.audit.filter((l) => l.result === 'deleted').length,
        kept: outcome.plan.kept.length,
        clean: outcome.clean,
      });
    } catch (e: unknown) {
      // One environment failing (an overlay, GitHub's budget) does not stop the others.
      logger.error('prune failed', { environment: name, error: describeError(e) });
      results.push({ name, removed: 0, kept: 0, clean: false, error: describeError(e) });
    }
  }
  logger.info('prune done', { environments: results });
  return { environments: results };
};
