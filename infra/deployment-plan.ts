// Derives the deployment layout from the one typed config: one destination stack per destination
// ECR registry (account + region: its webhook, queue and worker serve every environment promoting
// into it, whatever the source), one source-access stack per source account holding one read-only
// role per (source account, destination account) pair, trusted by exactly that destination's
// workers and reading exactly that pair's allowlists; the deterministic IAM role names both sides
// agree on without cross-account lookups, the ECR repository ARN patterns the allowlists become
// (the same sets: see repositoryResourcePattern), and the config each destination's Lambdas receive.
// Pure: no CDK constructs, no I/O, no AWS calls. Never invents settings the config does not give,
// except the documented default source role name; never lets one destination's role read what only
// another destination's allowlist names.
import {
  repositoryResourcePattern,
  validateConfig,
  type Config,
  type EnvironmentConfig,
} from '../lambdas/core/config';
import { ConfigError } from '../lambdas/core/errors';
import { parseEcrRegistry, type EcrRegistry } from '../lambdas/core/image-ref';

/** The worker's execution role in the destination account: `image-promoter-worker-<region>`. */
export const WORKER_ROLE_PREFIX = 'image-promoter-worker';
/** The read-only role created in the source account when an environment gives no `source.roleArn`:
 * `image-promoter-source-<destination account>`, one per (source, destination) account pair. */
export const DEFAULT_SOURCE_ROLE_NAME = 'image-promoter-source';
/** Lambda allows 4 KB for all environment variables together; the config gets at most this. */
export const MAX_LAMBDA_CONFIG_BYTES = 3072;

/** An AWS account and region, as a stack's `env`. */
export interface AccountRegion {
  readonly account: string;
  readonly region: string;
}

/** Repository name patterns (IAM wildcards) in one region of an account. */
export interface RepositoryScope {
  readonly region: string;
  readonly patterns: readonly string[];
}

/** One worker allowed to assume a source role, with the ExternalIds its environments present. */
export interface RoleTrust {
  readonly workerRoleArn: string;
  readonly destinationAccount: string;
  readonly externalIds: readonly string[];
}

/** One read-only role in a source account. */
export interface SourceRole {
  readonly roleName: string;
  /** IAM path, `/` unless the config's roleArn has one. */
  readonly path: string;
  readonly arn: string;
  readonly trustedBy: readonly RoleTrust[];
  readonly readable: readonly RepositoryScope[];
  readonly environments: readonly string[];
}

export interface SourceDeployment {
  /** The source account (IAM is global; the stack lives in `region`, its first environment's). */
  readonly env: AccountRegion;
  readonly partition: string;
  readonly stackName: string;
  readonly roles: readonly SourceRole[];
}

export interface DestinationDeployment {
  /** `<account>-<region>` of the destination registry. */
  readonly id: string;
  readonly env: AccountRegion;
  readonly partition: string;
  readonly environments: readonly EnvironmentConfig[];
  readonly workerRoleName: string;
  readonly workerRoleArn: string;
  /** Source roles the worker may assume (one per distinct source role of its environments). */
  readonly sourceRoleArns: readonly string[];
  /** Destination repository patterns the worker may push to (union over the environments). */
  readonly pushable: readonly string[];
  /** Patterns the worker may create (environments with `destination.createRepositories`). */
  readonly creatable: readonly string[];
  readonly stackName: string;
  readonly dashboardName: string;
}

export interface DeploymentPlan {
  readonly destinations: readonly DestinationDeployment[];
  readonly sources: readonly SourceDeployment[];
}

interface ResolvedEnvironment {
  readonly env: EnvironmentConfig;
  readonly source: EcrRegistry;
  readonly destination: EcrRegistry;
  readonly partition: string;
  readonly role: { readonly name: string; readonly path: string; readonly arn: string };
  readonly externalId: string;
}

/** The stacks to synthesize, in config order. Throws ConfigError for a registry that is not an
 * ECR host, a pair of registries in different AWS partitions, an environment without an
 * ExternalId, or one source role named for two destination accounts. */
export function planDeployment(config: Config, file = 'config'): DeploymentPlan {
  const resolved = config.environments.map((env, i) => resolveEnvironment(env, i, file));
  requireOneDestinationPerRole(resolved, file);
  return { destinations: planDestinations(resolved), sources: planSources(resolved) };
}

/** A role trusted by two destination accounts would let each read the other's allowlist. */
function requireOneDestinationPerRole(resolved: readonly ResolvedEnvironment[], file: string): void {
  const owner = new Map<string, ResolvedEnvironment>();
  resolved.forEach((r, i) => {
    const first = owner.get(r.role.arn);
    if (first === undefined) owner.set(r.role.arn, r);
    else if (first.destination.accountId !== r.destination.accountId) {
      throw new ConfigError(
        `environments[${i}].source.roleArn`,
        `${r.role.arn} is also the source role of "${first.env.name}", which promotes into account ` +
          `${first.destination.accountId}, not ${r.destination.accountId}: each destination account needs ` +
          `its own source role (leave roleArn out to get image-promoter-source-<destination account>)`,
        file,
      );
    }
  });
}

function resolveEnvironment(env: EnvironmentConfig, i: number, file: string): ResolvedEnvironment {
  const source = requireEcr(env.source.registry, `environments[${i}].source.registry`, file);
  const destination = requireEcr(env.destination.registry, `environments[${i}].destination.registry`, file);
  const partition = partitionOf(destination.region);
  if (partitionOf(source.region) !== partition) {
    throw new ConfigError(
      `environments[${i}].destination.registry`,
      `source (${source.region}) and destination (${destination.region}) are in different AWS partitions`,
      file,
    );
  }
  const externalId = env.source.externalId;
  if (externalId === undefined) {
    throw new ConfigError(
      `environments[${i}].source.externalId`,
      'is required to deploy: the source role trusts the worker only with it; use a value nobody can ' +
        'guess, e.g. the output of openssl rand -hex 16',
      file,
    );
  }
  const role = sourceRoleOf(env, source, destination, partition);
  return { env, source, destination, partition, role, externalId };
}

function planDestinations(resolved: readonly ResolvedEnvironment[]): DestinationDeployment[] {
  return groupBy(resolved, (r) => `${r.destination.accountId}-${r.destination.region}`).map(([id, group]) => {
    const first = group[0]!;
    const { accountId: account, region } = first.destination;
    const workerRoleName = `${WORKER_ROLE_PREFIX}-${region}`;
    return {
      id,
      env: { account, region },
      partition: first.partition,
      environments: group.map((r) => r.env),
      workerRoleName,
      workerRoleArn: `arn:${first.partition}:iam::${account}:role/${workerRoleName}`,
      sourceRoleArns: unique(group.map((r) => r.role.arn)),
      pushable: collapsePatterns(group.flatMap((r) => repositoryPatterns(r.env))),
      creatable: collapsePatterns(
        group.filter((r) => r.env.destination.createRepositories).flatMap((r) => repositoryPatterns(r.env)),
      ),
      stackName: `ImagePromoter-${id}`,
      dashboardName: `ImagePromoter-${id}`,
    };
  });
}

function planSources(resolved: readonly ResolvedEnvironment[]): SourceDeployment[] {
  return groupBy(resolved, (r) => r.source.accountId).map(([account, group]) => {
    const first = group[0]!;
    const roles = groupBy(group, (r) => r.role.arn).map(([arn, users]): SourceRole => {
      const trusts = groupBy(users, (r) => `${r.destination.accountId}-${r.destination.region}`).map(
        ([, byWorker]): RoleTrust => {
          const { accountId, region } = byWorker[0]!.destination;
          return {
            workerRoleArn: `arn:${first.partition}:iam::${accountId}:role/${WORKER_ROLE_PREFIX}-${region}`,
            destinationAccount: accountId,
            externalIds: unique(byWorker.map((r) => r.externalId)),
          };
        },
      );
      const readable = groupBy(users, (r) => r.source.region).map(([region, byRegion]) => ({
        region,
        patterns: collapsePatterns(byRegion.flatMap((r) => repositoryPatterns(r.env))),
      }));
      const { name, path } = users[0]!.role;
      return {
        roleName: name,
        path,
        arn,
        trustedBy: trusts,
        readable,
        environments: users.map((r) => r.env.name),
      };
    });
    return {
      env: { account, region: first.source.region },
      partition: first.partition,
      stackName: `ImagePromoterSourceAccess-${account}`,
      roles,
    };
  });
}

/** The role the worker assumes in the source account: the config's `source.roleArn`, else
 * `image-promoter-source-<destination account>` (created by the source-access stack either way). */
function sourceRoleOf(
  env: EnvironmentConfig,
  source: EcrRegistry,
  destination: EcrRegistry,
  partition: string,
): { name: string; path: string; arn: string } {
  const arn = env.source.roleArn;
  if (arn === undefined) {
    const name = `${DEFAULT_SOURCE_ROLE_NAME}-${destination.accountId}`;
    return { name, path: '/', arn: `arn:${partition}:iam::${source.accountId}:role/${name}` };
  }
  const qualified = arn.slice(arn.indexOf(':role/') + ':role'.length); // `/path/name` or `/name`
  const slash = qualified.lastIndexOf('/');
  return { name: qualified.slice(slash + 1), path: qualified.slice(0, slash + 1), arn };
}

/** Config globs as IAM resource-name wildcards: the same sets of repositories (config.ts allows
 * only the glob forms IAM can express); the worker checks the glob again before copying. */
export function repositoryPatterns(env: EnvironmentConfig): readonly string[] {
  if (env.repositories === undefined) return ['*'];
  return env.repositories.map(repositoryResourcePattern);
}

/** `aws`, `aws-cn` or `aws-us-gov`, from a region name. */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

/** The CloudWatch console URL of a destination's dashboard. */
export function dashboardUrlOf(destination: DestinationDeployment): string {
  const { region } = destination.env;
  const host =
    destination.partition === 'aws-cn'
      ? 'console.amazonaws.cn'
      : destination.partition === 'aws-us-gov'
        ? 'console.amazonaws-us-gov.com'
        : 'console.aws.amazon.com';
  return `https://${region}.${host}/cloudwatch/home?region=${region}#dashboards/dashboard/${destination.dashboardName}`;
}

/** The config a destination's Lambdas receive as IMAGE_PROMOTER_CONFIG: only its environments (so
 * the webhook enqueues and the worker promotes only what this destination serves), each with the
 * source role the source-access stack creates, and the dashboard as the default commit-status link.
 * Re-validated, then compact JSON; too big for Lambda's 4 KB of environment -> ConfigError. */
export function configForDestination(
  config: Config,
  destination: DestinationDeployment,
  file = 'config',
): string {
  const names = new Set(destination.environments.map((env) => env.name));
  const scoped = {
    ...config,
    environments: config.environments
      .filter((env) => names.has(env.name))
      .map((env) => {
        const source = parseEcrRegistry(env.source.registry)!;
        const target = parseEcrRegistry(env.destination.registry)!;
        return {
          ...env,
          source: { ...env.source, roleArn: sourceRoleOf(env, source, target, destination.partition).arn },
        };
      }),
    worker: { ...config.worker, dashboardUrl: config.worker.dashboardUrl ?? dashboardUrlOf(destination) },
  };
  const text = JSON.stringify(validateConfig(scoped, file));
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_LAMBDA_CONFIG_BYTES) {
    throw new ConfigError(
      '',
      `the config for ${destination.id} is ${bytes} bytes as JSON, over the ${MAX_LAMBDA_CONFIG_BYTES} ` +
        `a Lambda environment leaves it; shorten repository allowlists or move environments to another registry`,
      file,
    );
  }
  return text;
}

function requireEcr(registry: string, keyPath: string, file: string): EcrRegistry {
  const ecr = parseEcrRegistry(registry);
  if (ecr === undefined) {
    throw new ConfigError(
      keyPath,
      `"${registry}" is not an ECR registry host; the CDK app deploys between ECR registries ` +
        `(<account>.dkr.ecr.<region>.amazonaws.com)`,
      file,
    );
  }
  return ecr;
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): [string, T[]][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [item]);
    else group.push(item);
  }
  return [...groups.entries()];
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

function collapsePatterns(patterns: readonly string[]): readonly string[] {
  const all = unique(patterns);
  return all.includes('*') ? ['*'] : all;
}

/** IMAGE_PROMOTER_CONFIG of the scheduled prune: the whole config (prune must see what every
 * environment's overlay deploys, not only this registry's), checked against the same size limit. */
export function configForPrune(config: Config, file = 'config'): string {
  const open = config.environments.findIndex((env) => env.repositories === undefined);
  if (open !== -1) {
    throw new ConfigError(
      `environments[${open}].repositories`,
      'is required with prune.scheduled: without an allowlist prune would treat every repository of the registry as its own',
      file,
    );
  }
  const text = JSON.stringify(validateConfig(config, file));
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_LAMBDA_CONFIG_BYTES) {
    throw new ConfigError(
      'prune.scheduled',
      `the whole config is ${bytes} bytes as JSON, over the ${MAX_LAMBDA_CONFIG_BYTES} a Lambda environment ` +
        'leaves it: the scheduled prune needs every environment; run `image-promoter prune` instead',
      file,
    );
  }
  return text;
}
