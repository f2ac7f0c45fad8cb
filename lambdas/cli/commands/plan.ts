// `image-promoter plan`: what a push from --before to --after would promote in every environment of
// the config, computed from a local git repository exactly as the webhook computes it from GitHub.
// Wiring only: config file + git FileSource + planPush; never copies anything, never calls AWS.
import { resolve } from 'node:path';
import { loadConfigFile } from '../../adapters/config-source';
import { GitFileSource } from '../../adapters/git-file-source';
import { findEnvironment, type Config } from '../../core/config';
import { UsageError } from '../../core/errors';
import { NULL_SHA } from '../../core/file-source';
import { describePlanCheck, PLAN_CHECK_ACTIONS, type ImageDrift } from '../../core/drift';
import { formatImageRef } from '../../core/image-ref';
import type { EnvironmentPlanResult } from '../../core/plan';
import { planPush } from '../../core/plan';
import { checkPromotions } from '../../reconcile/check-drift';
import { formatTable } from '../format-table';
import type { Command, CommandIo } from '../command';
import { parseCommandArgs } from '../parse-command-args';
import { createCliRegistryAccess } from './verify';

const USAGE = `usage: image-promoter plan --before REV --after REV --config FILE [--repo DIR] [--check-registries] [--json]

Shows, for every environment of the config, which images a push from --before to --after promotes
(new in the overlay, in the destination registry, allowlisted), which are unchanged and which are
skipped and why. Reads both revisions from git; copies nothing. Exit status 1 when an environment
failed (its overlay is missing or invalid).

  --repo DIR     a directory of the git repository (default: the current directory)
  --before REV   the revision before the push; 0000000000000000000000000000000000000000 for a new branch
  --after REV    the revision after the push
  --config FILE  the image-promoter.yaml to use
  --check-registries
                 ask both registries about each promotion (one manifest HEAD each side): already
                 present, would copy, conflict (the destination tag points at another digest),
                 missing at source; credentials as for \`verify\`
  --json         print {"environments": [{"name", "overlay", "promotions": [{"source", "destination"
                 [, "check": {"state", "action", "expectedDigest", "destinationDigest"}]}],
                 "unchanged", "skipped": [{"image", "reason"}], "warnings"[, "error"]}]}`;

export const planCommand: Command = {
  summary: 'show what a push would promote, per environment',
  usage: USAGE,
  async run(args: readonly string[], io: CommandIo): Promise<number> {
    const options = parseOptions(args);
    const config = await loadConfigFile(options.config);
    const source = new GitFileSource(resolve(options.repo), { maxFileBytes: config.planning.maxFileBytes });
    try {
      // A mistyped revision is an error here; planPush itself tolerates an unreadable --before
      // (the webhook's force-push case).
      for (const revision of [options.before, options.after]) {
        if (revision !== NULL_SHA) await source.kindOf(revision, '');
      }
      const results = await planPush(source, config, options.before, options.after);
      const checks = options.checkRegistries
        ? await checkRegistries(config, results, await source.resolveCommit(options.after), io.env)
        : undefined;
      io.stdout.write(
        options.json ? `${JSON.stringify(toJson(results, checks), null, 2)}\n` : formatPlan(results, checks),
      );
      return results.some((result) => result.kind === 'failed') ? 1 : 0;
    } finally {
      source.close();
    }
  },
};

/** Registry answers per environment, keyed by destination reference. */
type PlanChecks = ReadonlyMap<string, ReadonlyMap<string, ImageDrift>>;

async function checkRegistries(
  config: Config,
  results: readonly EnvironmentPlanResult[],
  commit: string,
  env: NodeJS.ProcessEnv,
): Promise<PlanChecks> {
  const registries = createCliRegistryAccess(config, env);
  const entries = await Promise.all(
    results.flatMap((result) => {
      if (result.kind === 'failed') return [];
      const environment = findEnvironment(config, result.plan.environment)!;
      return [
        checkPromotions(environment, commit, result.plan.promotions, registries).then(
          (images) =>
            [
              result.plan.environment,
              new Map(images.map((image) => [formatImageRef(image.destination), image])),
            ] as const,
        ),
      ];
    }),
  );
  return new Map(entries);
}

interface PlanOptions {
  readonly repo: string;
  readonly before: string;
  readonly after: string;
  readonly config: string;
  readonly json: boolean;
  readonly checkRegistries: boolean;
}

function parseOptions(args: readonly string[]): PlanOptions {
  const { values } = parseCommandArgs({
    args: [...args],
    options: {
      repo: { type: 'string', default: '.' },
      before: { type: 'string' },
      after: { type: 'string' },
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
      'check-registries': { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const { repo, before, after, config, json } = values;
  const missing = (['before', 'after', 'config'] as const).filter((name) => !values[name]);
  if (missing.length > 0 || before === undefined || after === undefined || config === undefined) {
    throw new UsageError(`missing ${missing.map((name) => `--${name}`).join(', ')}`);
  }
  return { repo, before, after, config, json, checkRegistries: values['check-registries'] };
}

interface EnvironmentJson {
  readonly name: string;
  readonly overlay: string;
  readonly promotions: readonly {
    readonly source: string;
    readonly destination: string;
    readonly check?: {
      readonly state: string;
      readonly action: string;
      readonly expectedDigest: string | null;
      readonly destinationDigest: string | null;
    };
  }[];
  readonly unchanged: readonly string[];
  readonly skipped: readonly { readonly image: string; readonly reason: string }[];
  readonly warnings: readonly string[];
  readonly error?: string;
}

function toJson(
  results: readonly EnvironmentPlanResult[],
  checks: PlanChecks | undefined,
): {
  readonly environments: readonly EnvironmentJson[];
} {
  return {
    environments: results.map((result): EnvironmentJson => {
      if (result.kind === 'failed') {
        return {
          name: result.environment,
          overlay: result.overlay,
          promotions: [],
          unchanged: [],
          skipped: [],
          warnings: [],
          error: result.error.message,
        };
      }
      const { plan } = result;
      return {
        name: plan.environment,
        overlay: plan.overlay,
        promotions: plan.promotions.map((p) => {
          const check = checks?.get(plan.environment)?.get(formatImageRef(p.destination));
          return {
            source: formatImageRef(p.source),
            destination: formatImageRef(p.destination),
            ...(check === undefined
              ? {}
              : {
                  check: {
                    state: check.state,
                    action: PLAN_CHECK_ACTIONS[check.state],
                    expectedDigest: check.expectedDigest ?? null,
                    destinationDigest: check.destinationDigest ?? null,
                  },
                }),
          };
        }),
        unchanged: plan.unchanged,
        skipped: plan.skipped,
        warnings: plan.warnings,
      };
    }),
  };
}

function formatPlan(results: readonly EnvironmentPlanResult[], checks: PlanChecks | undefined): string {
  const rows: string[][] = [];
  const notes: string[] = [];
  let promoted = 0;
  let failed = 0;
  for (const result of results) {
    if (result.kind === 'failed') {
      failed++;
      rows.push([result.environment, 'FAILED', '', result.error.message]);
      continue;
    }
    const { plan } = result;
    promoted += plan.promotions.length;
    for (const p of plan.promotions) {
      const check = checks?.get(plan.environment)?.get(formatImageRef(p.destination));
      rows.push([
        plan.environment,
        check === undefined ? 'promote' : PLAN_CHECK_ACTIONS[check.state],
        formatImageRef(p.destination),
        check === undefined ? `from ${formatImageRef(p.source)}` : describePlanCheck(check),
      ]);
    }
    for (const image of plan.unchanged) rows.push([plan.environment, 'unchanged', image, '']);
    for (const s of plan.skipped) rows.push([plan.environment, 'skip', s.image, s.reason]);
    if (plan.promotions.length + plan.unchanged.length + plan.skipped.length === 0) {
      rows.push([plan.environment, 'nothing', '', `no images in ${plan.overlay}`]);
    }
    for (const warning of plan.warnings) notes.push(`warning (${plan.environment}): ${warning}`);
  }
  const summary =
    `${results.length} environment${results.length === 1 ? '' : 's'}: ` +
    `${promoted} image${promoted === 1 ? '' : 's'} to promote` +
    (checks === undefined ? '' : ` (${describeChecks(checks)})`) +
    (failed > 0 ? `, ${failed} failed` : '');
  return `${[formatTable(['ENVIRONMENT', 'ACTION', 'IMAGE', 'DETAIL'], rows), ...notes, summary].join('\n')}\n`;
}

/** `1 would copy, 2 already present` over every checked promotion. */
function describeChecks(checks: PlanChecks): string {
  const counts = new Map<string, number>();
  for (const images of checks.values()) {
    for (const image of images.values()) {
      const action = PLAN_CHECK_ACTIONS[image.state];
      counts.set(action, (counts.get(action) ?? 0) + 1);
    }
  }
  return counts.size === 0
    ? 'registries checked'
    : [...counts].map(([action, n]) => `${n} ${action}`).join(', ');
}
