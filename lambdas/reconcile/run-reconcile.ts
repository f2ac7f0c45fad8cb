// The scheduled reconcile, one run: read every environment's overlay at the head of the deploy
// branch (the first of github.branches), check both registries for each managed image (as
// `verify` does), publish DriftImages per environment, and enqueue a reconcile job for what is
// missing — with a `pending` status on the head commit that the worker then resolves like any
// promotion. Heals a push whose delivery was lost within one period. Never moves a conflicting
// tag, never copies anything itself: the worker does, through the queue. Every outside system is a
// parameter, so the Lambda handler, the CLI and the tests run exactly this code.
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { CommitStatusReporter } from '../core/commit-status';
import { statusDescription } from '../core/commit-status';
import type { Config } from '../core/config';
import { addMetric, METRIC_DIMENSIONS, METRICS } from '../core/contract';
import { driftedImages, reconcileJobs, describeDrift } from '../core/drift';
import { describeError } from '../core/errors';
import type { FileSource } from '../core/file-source';
import { formatImageRef } from '../core/image-ref';
import type { JobQueue } from '../core/webhook-ports';
import type { RegistryAccess } from '../worker/registry-access';
import { checkDrift } from './check-drift';

export interface ReconcileDependencies {
  readonly config: Config;
  /** The repository at `ref`'s head: the commit SHA and a FileSource to read it. */
  readonly openHead: (ref: string) => Promise<{ readonly files: FileSource; readonly commit: string }>;
  readonly registries: RegistryAccess;
  readonly queue: JobQueue;
  readonly reporter: CommitStatusReporter;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: () => Date;
  readonly targetUrl?: string;
}

export interface ReconcileEnvironmentSummary {
  readonly environment: string;
  /** Managed images not in place (undefined: the environment could not be checked). */
  readonly drifted?: number;
  /** Images enqueued for copying. */
  readonly enqueued: number;
  readonly error?: string;
}

export interface ReconcileSummary {
  readonly commit: string;
  readonly environments: readonly ReconcileEnvironmentSummary[];
}

/** Throws (so the schedule's invocation is retried) only when the head cannot be read or a job
 * cannot be enqueued; an environment that cannot be checked is logged and counted. */
export async function runReconcile(deps: ReconcileDependencies): Promise<ReconcileSummary> {
  const { config } = deps;
  const branch = config.github.branches[0]!;
  const started = deps.clock();
  const head = await deps.openHead(branch);
  const log = deps.logger.createChild({
    persistentKeys: { reconcile: true, commit: head.commit, repository: config.github.repository },
  });
  const results = await checkDrift({
    config,
    files: head.files,
    commit: head.commit,
    registries: deps.registries,
  });
  const identity = {
    runId: started
      .toISOString()
      .replace(/[^0-9]/g, '')
      .slice(0, 14),
    repository: config.github.repository,
    ref: `refs/heads/${branch}`,
    commit: head.commit,
    requestedBy: 'scheduled reconcile',
    requestedAt: started.toISOString(),
  };

  const summaries: ReconcileEnvironmentSummary[] = [];
  for (const result of results) {
    if (result.kind === 'failed') {
      log.error('drift check failed', {
        environment: result.environment,
        error: describeError(result.error),
      });
      summaries.push({ environment: result.environment, enqueued: 0, error: result.error.message });
      continue;
    }
    const { drift } = result;
    const drifted = driftedImages(drift);
    for (const image of drifted) {
      log.warn('image drift', {
        environment: drift.environment,
        image: formatImageRef(image.destination),
        state: image.state,
        detail: describeDrift(image),
      });
    }
    // One EMF document per environment, synchronous from addDimension to publish.
    deps.metrics.addDimension(METRIC_DIMENSIONS.environment, drift.environment);
    addMetric(deps.metrics, METRICS.driftImages, drifted.length);
    deps.metrics.publishStoredMetrics();

    const jobs = reconcileJobs(drift, identity);
    const enqueued = jobs.reduce((n, job) => n + job.promotions.length, 0);
    if (jobs.length > 0) {
      // Status first, as the webhook does: a fast worker's final status must not be overwritten.
      await deps.reporter
        .report({
          repository: config.github.repository,
          commit: head.commit,
          environment: drift.environment,
          state: 'pending',
          // The first job's run; a check run for each further chunk is created when its job starts.
          jobId: jobs[0]!.deliveryId,
          description: statusDescription(
            `reconciling ${enqueued} image${enqueued === 1 ? '' : 's'} missing from the destination`,
          ),
          ...(deps.targetUrl === undefined ? {} : { targetUrl: deps.targetUrl }),
        })
        .catch((e: unknown) =>
          log.error('could not set a commit status', {
            environment: drift.environment,
            error: describeError(e),
          }),
        );
      await deps.queue.send(jobs);
    }
    log.info('environment checked', {
      environment: drift.environment,
      images: drift.images.length,
      drifted: drifted.length,
      enqueued,
      lookups: result.lookups,
    });
    summaries.push({ environment: drift.environment, drifted: drifted.length, enqueued });
  }
  log.info('reconcile finished', { durationMs: deps.clock().getTime() - started.getTime() });
  return { commit: head.commit, environments: summaries };
}
