// `image-promoter verify`: does every destination registry hold what its environment's overlay
// deploys at a revision? One manifest HEAD per image in each registry, with the worker's own
// registry access (credentials, source role, endpoints). Wiring only: reading the revision is
// overlay-revision, the check is reconcile/check-drift, the classification core/drift.
import { randomBytes } from 'node:crypto';
import { loadConfigFile } from '../../adapters/config-source';
import { createDockerConfigCredentialProvider, dockerConfigPath } from '../../adapters/docker-config';
import { createEcrCredentialProvider } from '../../adapters/ecr-credentials';
import type { CredentialProvider } from '../../adapters/registry-client';
import { findEnvironment, type Config, type EnvironmentConfig } from '../../core/config';
import { METRICS_NAMESPACE } from '../../core/contract';
import type { CommitStatusReporter } from '../../core/commit-status';
import { countDrift, describeDrift, DRIFT_STATES, reconcileJobs, type ImageDrift } from '../../core/drift';
import { UsageError } from '../../core/errors';
import { formatImageRef, parseEcrRegistry } from '../../core/image-ref';
import { checkDrift, type EnvironmentDriftResult } from '../../reconcile/check-drift';
import { createWorkerDependencies } from '../../worker/dependencies';
import { processPromotionJob, type WorkerDependencies } from '../../worker/process-job';
import {
  createRegistryAccess,
  type RegistryAccess,
  type RegistryCredentialFactory,
} from '../../worker/registry-access';
import { StreamLogger, StreamMetrics } from '../stream-telemetry';
import { formatTable } from '../format-table';
import type { Command, CommandIo } from '../command';
import { openOverlayRevision } from '../overlay-revision';
import { parseCommandArgs } from '../parse-command-args';

const USAGE = `usage: image-promoter verify --config FILE [--environment NAME]... [--repo DIR] [--ref REV] [--fix] [--json]

Checks that each environment's destination registry holds every image its overlay deploys at a
revision, with the digest the source registry has for it: in-place, missing, digest-differs (the
destination tag points elsewhere) or missing-at-source. Only managed images count (destination
registry, allowlisted, pinned). Exit status 1 when any image is not in place or an environment
could not be checked.

  --config FILE         the image-promoter.yaml to use
  --environment NAME    check only this environment (repeatable; default: all)
  --repo DIR            read the overlays from this local git repository (default: GitHub)
  --ref REV             the revision (default: HEAD with --repo, else the first of github.branches)
  --fix                 copy what is missing, exactly as the worker does (same engine, same checks;
                        its JSON log and audit lines on stderr), then check again and report that;
                        a conflicting tag is never moved and what the source lacks stays missing
  --json                print {"revision", "environments": [{"name", "overlay", "images":
                        [{"image", "source", "state", "expectedDigest", "destinationDigest"}],
                        "skipped", "warnings", "lookups"[, "error"]}], "githubApiCalls"}

Without --repo the branch head is read through GitHub's API with GITHUB_TOKEN (GITHUB_API_URL or
github.apiUrl for GitHub Enterprise). Registry credentials: the Docker config, else for ECR hosts a
token from the AWS credentials in the environment (the source through source.roleArn when set).`;

export const verifyCommand: Command = {
  summary: 'check that each destination registry holds what its overlay deploys',
  usage: USAGE,
  async run(args: readonly string[], io: CommandIo): Promise<number> {
    const options = parseOptions(args);
    const config = await loadConfigFile(options.config);
    const environments = selectEnvironments(config, options.environments);
    const revision = await openOverlayRevision({ config, repo: options.repo, ref: options.ref, env: io.env });
    try {
      const registries = createCliRegistryAccess(config, io.env);
      const check = (): Promise<readonly EnvironmentDriftResult[]> =>
        checkDrift({ config, environments, files: revision.files, commit: revision.commit, registries });
      let results = await check();
      if (options.fix) {
        const fixed = await fixDrift(config, results, revision.commit, revision.label, registries, io);
        if (fixed > 0) results = await check();
      }
      // The commit lookup is one call more than the file source counted.
      const githubApiCalls = revision.files.apiCalls === undefined ? undefined : revision.files.apiCalls + 1;
      io.stdout.write(
        options.json
          ? `${JSON.stringify(toJson(revision.commit, results, githubApiCalls), null, 2)}\n`
          : formatVerify(revision.label, revision.commit, results),
      );
      return results.every((r) => r.kind === 'checked' && r.drift.images.every(inPlace)) ? 0 : 1;
    } finally {
      revision.close();
    }
  },
};

/** The registries as the worker reaches them; credentials from a docker login first (what a person
 * at a terminal has), else an ECR token. */
export function createCliRegistryAccess(config: Config, env: NodeJS.ProcessEnv): RegistryAccess {
  return createRegistryAccess({ config, registryCredentials: cliRegistryCredentials(env) });
}

/** Registry credentials for a command run by a person: their docker login, else an ECR token from
 * the AWS credentials given (the source role's) or in the environment. */
export function cliRegistryCredentials(env: NodeJS.ProcessEnv): RegistryCredentialFactory {
  const dockerConfig = createDockerConfigCredentialProvider(dockerConfigPath(env));
  return (aws): CredentialProvider => {
    const ecr = createEcrCredentialProvider(aws === undefined ? {} : { credentials: aws });
    return async (registry) =>
      (await dockerConfig(registry)) ??
      (parseEcrRegistry(registry) === undefined ? undefined : ecr(registry));
  };
}

export function selectEnvironments(config: Config, names: readonly string[]): readonly EnvironmentConfig[] {
  if (names.length === 0) return config.environments;
  return names.map((name) => {
    const env = findEnvironment(config, name);
    if (env === undefined) {
      throw new UsageError(
        `no environment "${name}" in the config (${config.environments.map((e) => e.name).join(', ')})`,
      );
    }
    return env;
  });
}

interface VerifyOptions {
  readonly config: string;
  readonly environments: readonly string[];
  readonly repo: string | undefined;
  readonly ref: string | undefined;
  readonly json: boolean;
  readonly fix: boolean;
}

/** Runs the worker's own job processing on the reconcile jobs of every drifted environment, in this
 * process: the same engine and checks (registries, digests) as a promotion from a push. The status
 * it would set on the commit is printed instead. Returns how many jobs ran. */
async function fixDrift(
  config: Config,
  results: readonly EnvironmentDriftResult[],
  commit: string,
  label: string,
  registries: RegistryAccess,
  io: CommandIo,
): Promise<number> {
  const identity = {
    runId: `${new Date()
      .toISOString()
      .replace(/[^0-9]/g, '')
      .slice(0, 14)}-${randomBytes(3).toString('hex')}`,
    repository: config.github.repository,
    ref: label,
    commit,
    requestedBy: `verify --fix by ${io.env['USER'] ?? 'unknown user'}`,
    requestedAt: new Date().toISOString(),
  };
  const jobs = results.flatMap((r) => (r.kind === 'checked' ? reconcileJobs(r.drift, identity) : []));
  if (jobs.length === 0) return 0;
  const reporter: CommitStatusReporter = {
    report: (status) => {
      io.stderr.write(`verify --fix: ${status.environment}: ${status.state}: ${status.description}\n`);
      return Promise.resolve();
    },
  };
  const deps: WorkerDependencies = {
    ...createWorkerDependencies({
      config,
      env: io.env,
      registryCredentials: () => () => Promise.resolve(undefined),
      logger: new StreamLogger(io.stderr, { serviceName: 'image-promoter-verify' }),
      metrics: new StreamMetrics(io.stderr, {
        namespace: METRICS_NAMESPACE,
        serviceName: 'image-promoter-verify',
      }),
      reporter,
    }),
    registries,
  };
  // The last attempt: a transient failure is reported, not left for a retry no queue will make.
  const attempt = config.worker.maxReceiveCount;
  for (const job of jobs) await processPromotionJob({ job, attempt }, deps);
  return jobs.length;
}

function parseOptions(args: readonly string[]): VerifyOptions {
  const { values } = parseCommandArgs({
    args: [...args],
    options: {
      config: { type: 'string' },
      environment: { type: 'string', multiple: true },
      repo: { type: 'string' },
      ref: { type: 'string' },
      json: { type: 'boolean', default: false },
      fix: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.config === undefined || values.config === '') throw new UsageError('missing --config');
  return {
    config: values.config,
    environments: values.environment ?? [],
    repo: values.repo,
    ref: values.ref,
    json: values.json,
    fix: values.fix,
  };
}

function inPlace(image: ImageDrift): boolean {
  return image.state === DRIFT_STATES.inPlace;
}

function toJson(
  commit: string,
  results: readonly EnvironmentDriftResult[],
  githubApiCalls: number | undefined,
): Record<string, unknown> {
  return {
    revision: commit,
    environments: results.map((result) =>
      result.kind === 'failed'
        ? {
            name: result.environment,
            overlay: result.overlay,
            images: [],
            skipped: [],
            warnings: [],
            lookups: 0,
            error: result.error.message,
          }
        : {
            name: result.drift.environment,
            overlay: result.drift.overlay,
            images: result.drift.images.map((image) => ({
              image: formatImageRef(image.destination),
              source: formatImageRef(image.source),
              state: image.state,
              expectedDigest: image.expectedDigest ?? null,
              destinationDigest: image.destinationDigest ?? null,
            })),
            skipped: result.drift.skipped,
            warnings: result.drift.warnings,
            lookups: result.lookups,
          },
    ),
    ...(githubApiCalls === undefined ? {} : { githubApiCalls }),
  };
}

function formatVerify(label: string, commit: string, results: readonly EnvironmentDriftResult[]): string {
  const rows: string[][] = [];
  const notes: string[] = [];
  const summaries: string[] = [];
  for (const result of results) {
    if (result.kind === 'failed') {
      rows.push([result.environment, 'FAILED', '', result.error.message]);
      summaries.push(`${result.environment}: not checked`);
      continue;
    }
    const { drift } = result;
    for (const image of drift.images) {
      rows.push([drift.environment, image.state, formatImageRef(image.destination), describeDrift(image)]);
    }
    if (drift.images.length === 0)
      rows.push([drift.environment, 'nothing', '', `no managed images in ${drift.overlay}`]);
    for (const warning of drift.warnings) notes.push(`warning (${drift.environment}): ${warning}`);
    const counts = countDrift(drift.images);
    const wrong = drift.images.length - counts['in-place'];
    summaries.push(
      `${drift.environment}: ${counts['in-place']}/${drift.images.length} in place` +
        (wrong === 0
          ? ''
          : ` (${Object.entries(counts)
              .filter(([state, n]) => state !== 'in-place' && n > 0)
              .map(([state, n]) => `${n} ${state}`)
              .join(', ')})`),
    );
  }
  const header = `overlays at ${label} (${commit.slice(0, 12)})`;
  return `${[header, formatTable(['ENVIRONMENT', 'STATE', 'IMAGE', 'DETAIL'], rows), ...notes, summaries.join('; ')].join('\n')}\n`;
}
