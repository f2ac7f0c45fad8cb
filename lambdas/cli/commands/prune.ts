// `image-promoter prune --environment NAME`: what the environment's destination registry holds that
// its overlay neither deploys now nor deployed in its last N versions, and no environment deploys;
// with --apply, deleted. Wiring only: reading is overlay-revision and prune/run-prune, the
// decisions core/prune.
import { loadConfigFile } from '../../adapters/config-source';
import { UsageError } from '../../core/errors';
import type { PruneDecision } from '../../core/prune';
import { openPruneRegistry, runPrune, type PruneAuditLine, type PruneOutcome } from '../../prune/run-prune';
import { formatTable } from '../format-table';
import type { Command, CommandIo } from '../command';
import { openOverlayRevision } from '../overlay-revision';
import { parseCommandArgs, parseIntegerOption } from '../parse-command-args';
import { cliRegistryCredentials, createCliRegistryAccess, selectEnvironments } from './verify';

const USAGE = `usage: image-promoter prune --config FILE --environment NAME [--keep N] [--repo DIR] [--ref REV] [--apply] [--json]

Lists (dry run, the default) or deletes (--apply) what the environment's destination registry
holds in its allowlisted repositories that is neither deployed by its overlay at the revision, nor
one of the last N versions the overlay deployed before (the rollback window, read from the
branch's first-parent history), nor deployed by any configured environment. What a kept image
needs stays (the platforms of a kept index, its signatures and referrers); what a removed image
carries goes with it. Exit status 0 when nothing is left to remove (dry run: nothing would be), 1
otherwise or when a deletion failed (the rest is then not attempted).

  --config FILE         the image-promoter.yaml to use
  --environment NAME    the environment whose destination registry is pruned
  --keep N              versions kept per repository before the current one (default: prune.keep, 5)
  --repo DIR            read the overlays from this local git repository (default: GitHub)
  --ref REV             the revision (default: HEAD with --repo, else the first of github.branches)
  --apply               delete (without it nothing is changed)
  --json                print {"environment", "registry", "revision", "keep", "commitsScanned",
                        "kept": [{"repository", "digest", "tags", "reason"}], "removals":
                        [{"repository", "digest", "tags", "reason", "result"}], "warnings"}

One audit line per removal (JSON, on stderr): environment, registry, repository, digest, tags,
reason, result (would delete / deleted / already absent / failed / not attempted), revision, who.
ECR hosts are read and pruned through ECR's API (untagged images included; AWS credentials from
the environment); other registries through the registry API, which must allow deletes. Overlays
and credentials as for verify.`;

export const pruneCommand: Command = {
  summary: 'remove what no overlay deploys and the rollback window does not keep (dry run by default)',
  usage: USAGE,
  async run(args: readonly string[], io: CommandIo): Promise<number> {
    const { values } = parseCommandArgs({
      args: [...args],
      options: {
        config: { type: 'string' },
        environment: { type: 'string' },
        keep: { type: 'string' },
        repo: { type: 'string' },
        ref: { type: 'string' },
        apply: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.config === undefined || values.config === '') throw new UsageError('missing --config');
    if (values.environment === undefined || values.environment === '') {
      throw new UsageError('missing --environment');
    }
    const config = await loadConfigFile(values.config);
    const [env] = selectEnvironments(config, [values.environment]);
    const keep = values.keep === undefined ? config.prune.keep : parseKeep(values.keep);
    const revision = await openOverlayRevision({ config, repo: values.repo, ref: values.ref, env: io.env });
    try {
      const outcome = await runPrune({
        config,
        environment: env!,
        files: revision.files,
        history: revision.history,
        commit: revision.commit,
        registries: createCliRegistryAccess(config, io.env),
        destination: openPruneRegistry(config, env!, cliRegistryCredentials(io.env)(undefined)),
        keep,
        apply: values.apply,
        requestedBy: `prune by ${io.env['USER'] ?? 'unknown user'}`,
        audit: (line) => io.stderr.write(`${JSON.stringify(line)}\n`),
      });
      io.stdout.write(
        values.json
          ? `${JSON.stringify(toJson(outcome), null, 2)}\n`
          : formatPrune(revision.label, outcome, values.apply),
      );
      return outcome.clean ? 0 : 1;
    } finally {
      revision.close();
    }
  },
};

function parseKeep(text: string): number {
  return parseIntegerOption('--keep', text, 0, 1000);
}

function toJson(outcome: PruneOutcome): Record<string, unknown> {
  const results = new Map(outcome.audit.map((line) => [`${line.repository}@${line.digest}`, line]));
  const decision = (d: PruneDecision): Record<string, unknown> => ({
    repository: d.repository,
    digest: d.digest,
    tags: d.tags,
    reason: d.reason,
  });
  return {
    environment: outcome.plan.environment,
    registry: outcome.plan.registry,
    revision: outcome.revision,
    keep: outcome.plan.keep,
    commitsScanned: outcome.commitsScanned,
    kept: outcome.plan.kept.map(decision),
    removals: outcome.plan.removals.map((d) => {
      const line: PruneAuditLine | undefined = results.get(`${d.repository}@${d.digest}`);
      return {
        ...decision(d),
        result: line?.result,
        ...(line?.error === undefined ? {} : { error: line.error }),
      };
    }),
    warnings: outcome.warnings,
  };
}

function formatPrune(label: string, outcome: PruneOutcome, apply: boolean): string {
  const { plan } = outcome;
  const rows = [
    ...outcome.audit.map((line) => [
      line.result,
      line.repository,
      line.digest.slice(0, 19),
      line.tags.join(',') || '-',
      line.error === undefined ? line.reason : `${line.reason}: ${line.error}`,
    ]),
    ...plan.kept.map((d) => ['keep', d.repository, d.digest.slice(0, 19), d.tags.join(',') || '-', d.reason]),
  ];
  const header =
    `${plan.environment}: ${plan.registry}, overlays at ${label} (${outcome.revision.slice(0, 12)}), ` +
    `rollback window ${plan.keep}, ${outcome.commitsScanned} earlier commits read`;
  const removed = outcome.audit.filter((l) => l.result === 'deleted' || l.result === 'already absent').length;
  const summary = apply
    ? `${removed}/${plan.removals.length} removed, ${plan.kept.length} kept`
    : `${plan.removals.length} would be removed, ${plan.kept.length} kept (dry run: --apply deletes)`;
  return `${[header, formatTable(['ACTION', 'REPOSITORY', 'DIGEST', 'TAGS', 'REASON'], rows), ...outcome.warnings.map((w) => `warning: ${w}`), summary].join('\n')}\n`;
}
