// One promotion job, one attempt: copy every image (in parallel, bounded by copy.imageJobs),
// check each destination digest, then tell the commit (`image-promotion/<environment>`), emit the
// metrics and say whether the message is done (acknowledge) or must come back (retry). The
// decision itself is core/promotion-summary; the outside world comes in as parameters, so the
// Lambda handler, the local runner and the tests run exactly this code.
// Before any registry call the job is admitted against the worker's own config (core/admit-job): a
// refused job is a security event (log line, RejectedJobs metric, alarm), acknowledged, and gets a
// `failure` status only on the configured GitHub repository.
// Never logs credentials; never leaves a commit without a final status when it gives up; never
// reports on a repository it does not serve.
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { admitPromotionJob, type JobAdmission } from '../core/admit-job';
import { statusDescription, type CommitStatusReporter, type ImageReport } from '../core/commit-status';
import type { Config, EnvironmentConfig } from '../core/config';
import { addMetric, METRIC_DIMENSIONS, METRICS } from '../core/contract';
import {
  DigestMismatchError,
  JobValidationError,
  PromoterError,
  describeError,
  isRetryable,
} from '../core/errors';
import { formatImageRef, parseImageRef, type ImageRef } from '../core/image-ref';
import type { Promotion, PromotionJob } from '../core/job';
import {
  decidePromotionOutcome,
  describeImageFailure,
  type ImageFailure,
  type ImageSuccess,
  type PromotionDecision,
} from '../core/promotion-summary';
import { buildPromotionRecord, type PromotionHistory } from '../core/promotion-history';
import { copyImage, copySettingsOf, type CopyResult } from '../copy/copy-image';
import { createLimiter } from '../core/limiter';
import type { RegistryAccess } from './registry-access';

export interface WorkerDependencies {
  readonly config: Config;
  readonly registries: RegistryAccess;
  readonly reporter: CommitStatusReporter;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The commit status target URL (dashboard or logs), when there is one. */
  readonly targetUrl?: string;
  /** Milliseconds since the epoch. */
  readonly now?: () => number;
  /** Where each promoted image is recorded (what runs where); none: not recorded. */
  readonly history?: PromotionHistory;
}

export interface JobAttempt {
  readonly job: PromotionJob;
  /** SQS ApproximateReceiveCount: 1 on the first delivery. */
  readonly attempt: number;
  /** Ends the job's copies (the Lambda's remaining time less a margin, see copy/deadline.ts):
   * they fail with DeadlineExceededError (retryable) and the outcome is still reported. */
  readonly signal?: AbortSignal;
}

export interface JobOutcome {
  readonly decision: PromotionDecision;
  /** True: delete the message. False: leave it for a retry (or the DLQ after the last attempt). */
  readonly acknowledge: boolean;
}

interface ImageOutcome {
  readonly promotion: Promotion;
  readonly result?: CopyResult;
  readonly error?: unknown;
}

export async function processPromotionJob(input: JobAttempt, deps: WorkerDependencies): Promise<JobOutcome> {
  const { job, attempt } = input;
  const now = deps.now ?? Date.now;
  const started = now();
  const log = deps.logger.createChild({
    persistentKeys: {
      deliveryId: job.deliveryId,
      commit: job.commit,
      environment: job.environment,
      repository: job.repository,
      attempt,
    },
  });
  const admission = admitPromotionJob(deps.config, job);
  if (!admission.admitted) return rejectJob(job, admission, deps, log);
  log.info('promotion started', { images: job.promotions.length });
  await reportStart(job, deps, log);

  let outcomes: readonly ImageOutcome[];
  let jobFailure: ImageFailure | undefined;
  try {
    outcomes = await promoteImages(job, admission.environment, deps, log, input.signal);
  } catch (e: unknown) {
    outcomes = [];
    jobFailure = { error: e };
  }

  const successes: ImageSuccess[] = [];
  const failures: ImageFailure[] = jobFailure === undefined ? [] : [jobFailure];
  for (const o of outcomes) {
    if (o.result !== undefined) {
      successes.push({
        image: o.promotion.destination,
        bytesCopied: o.result.blobs.bytes,
        alreadyPresent: o.result.alreadyPresent,
      });
    } else {
      failures.push({ image: o.promotion.source, error: o.error });
    }
  }
  const durationMs = now() - started;
  const decision = decidePromotionOutcome({
    total: job.promotions.length,
    successes,
    failures,
    attempt,
    maxAttempts: deps.config.worker.maxReceiveCount,
    durationMs,
  });

  emitMetrics(deps.metrics, job, outcomes, decision, durationMs, now());
  for (const failure of failures) {
    // Failures that will be retried are warnings; the ones that end the job are errors.
    const write = decision.kind === 'retry' ? log.warn.bind(log) : log.error.bind(log);
    write(failure.image === undefined ? 'promotion failed' : 'image failed', {
      ...(failure.image === undefined ? {} : { image: failure.image }),
      error: describeError(failure.error),
      retryable: isRetryable(failure.error),
      // A PromoterError's message says it all; anything else is a surprise worth its stack.
      ...(failure.error instanceof PromoterError ? {} : { stack: stackOf(failure.error) }),
    });
  }

  if (decision.kind === 'retry') {
    log.warn('promotion will be retried', { reason: decision.reason, durationMs });
    return { decision, acknowledge: false };
  }
  const acknowledge = decision.kind !== 'give-up';
  try {
    await deps.reporter.report({
      repository: job.repository,
      commit: job.commit,
      environment: job.environment,
      state: decision.state,
      description: decision.description,
      jobId: job.deliveryId,
      images: imageReports(outcomes),
      ...(deps.targetUrl === undefined ? {} : { targetUrl: deps.targetUrl }),
    });
  } catch (e: unknown) {
    // A status that could not be set is worth a retry (the copy is a handful of HEADs the second
    // time); one GitHub will never accept (token, permissions) is not.
    log.error('commit status not set', { error: describeError(e), retryable: isRetryable(e) });
    if (isRetryable(e)) return { decision, acknowledge: false };
  }
  log.info('promotion finished', {
    outcome: decision.kind,
    state: decision.state,
    description: decision.description,
    durationMs,
  });
  return { decision, acknowledge };
}

/** A job the config does not allow: nothing was copied. One security event in the log, one
 * RejectedJobs metric (no Environment dimension: its value came from the job), a `failure` status
 * on the configured repository only (a foreign one is exactly where a status must never go), and the
 * message acknowledged: retrying cannot make it allowed. */
async function rejectJob(
  job: PromotionJob,
  admission: Extract<JobAdmission, { admitted: false }>,
  deps: WorkerDependencies,
  log: Logger,
): Promise<JobOutcome> {
  const { rejection, reportable } = admission;
  const description = statusDescription(describeError(new JobValidationError(rejection.message)));
  const decision: PromotionDecision = { kind: 'failure', state: 'failure', description };
  log.error('job rejected', {
    securityEvent: true,
    reason: rejection.reason,
    error: rejection.message,
    ...(rejection.image === undefined ? {} : { image: rejection.image }),
    pusher: job.pusher,
    ref: job.ref,
    images: job.promotions.length,
    statusReported: reportable,
  });
  addMetric(deps.metrics, METRICS.rejectedJobs, 1);
  deps.metrics.publishStoredMetrics();
  if (!reportable) return { decision, acknowledge: true };
  try {
    await deps.reporter.report({
      repository: deps.config.github.repository,
      commit: job.commit,
      environment: job.environment,
      state: 'failure',
      description,
      jobId: job.deliveryId,
      ...(deps.targetUrl === undefined ? {} : { targetUrl: deps.targetUrl }),
    });
  } catch (e: unknown) {
    log.error('commit status not set', { error: describeError(e), retryable: isRetryable(e) });
    if (isRetryable(e)) return { decision, acknowledge: false };
  }
  return { decision, acknowledge: true };
}

/** A check run goes `in_progress` as the job starts (a commit status stays pending: nothing to do).
 * Best effort: a run that cannot be moved must not hold up the copy; the final report still lands. */
async function reportStart(job: PromotionJob, deps: WorkerDependencies, log: Logger): Promise<void> {
  if (deps.reporter.start === undefined) return;
  const count = job.promotions.length;
  try {
    await deps.reporter.start({
      repository: job.repository,
      commit: job.commit,
      environment: job.environment,
      jobId: job.deliveryId,
      description: statusDescription(
        count === 1 ? `promoting ${job.promotions[0]!.destination}` : `promoting ${count} images`,
      ),
      ...(deps.targetUrl === undefined ? {} : { targetUrl: deps.targetUrl }),
    });
  } catch (e: unknown) {
    log.warn('check run not moved to in_progress', { error: describeError(e) });
  }
}

/** Each image's row for the check run, in job order. */
function imageReports(outcomes: readonly ImageOutcome[]): ImageReport[] {
  return outcomes.map(({ promotion, result, error }): ImageReport => {
    if (result !== undefined) {
      return {
        source: promotion.source,
        destination: promotion.destination,
        digest: result.digest,
        bytes: result.blobs.bytes,
        result: result.alreadyPresent ? 'already present' : 'promoted',
      };
    }
    return {
      source: promotion.source,
      destination: promotion.destination,
      result: 'failed',
      reason: describeImageFailure({ image: promotion.source, error }),
    };
  });
}

async function promoteImages(
  job: PromotionJob,
  environment: EnvironmentConfig,
  deps: WorkerDependencies,
  log: Logger,
  signal: AbortSignal | undefined,
): Promise<readonly ImageOutcome[]> {
  const registries = deps.registries.openJob(job, environment);
  const copy = deps.config.copy;
  const limit = createLimiter(copy.imageJobs);
  return Promise.all(
    job.promotions.map((promotion) =>
      limit(async (): Promise<ImageOutcome> => {
        const imageLog = log.createChild({ persistentKeys: { image: promotion.destination } });
        try {
          const source = parseImageRef(promotion.source);
          const destination = parseImageRef(promotion.destination);
          if (environment.destination.createRepositories) {
            const state = await registries.ensureRepository(source, destination);
            if (state === 'created') imageLog.info('destination repository created', { state });
          }
          const result = await copyImage({
            source,
            destination,
            sourceRegistry: registries.source,
            destinationRegistry: registries.destination,
            // No smallBlobJobs: from inside AWS round trips are short and ECR's 100/s
            // InitiateLayerUpload quota, not slots, bounds small blobs (docs/copy.md, "Blob slots").
            ...copySettingsOf(copy),
            ...(signal === undefined ? {} : { signal }),
          });
          verifyDigest(source, destination, result);
          imageLog.info(result.alreadyPresent ? 'image already present' : 'image promoted', {
            audit: true,
            pusher: job.pusher,
            commit: job.commit,
            source: formatImageRef(source),
            destination: formatImageRef(result.destination),
            digest: result.digest,
            bytes: result.blobs.bytes,
            blobsCopied: result.blobs.copied + result.blobs.mounted,
            blobsSkipped: result.blobs.skipped,
            referrers: result.referrers,
          });
          for (const refused of result.refusedReferrers) {
            imageLog.warn('referrer refused by the destination registry', { referrer: refused });
          }
          if (!result.alreadyPresent && deps.history !== undefined) {
            await recordPromotion(
              deps.history,
              job,
              environment,
              source,
              destination,
              result,
              deps.now ?? Date.now,
              imageLog,
            );
          }
          return { promotion, result };
        } catch (e: unknown) {
          return { promotion, error: e };
        }
      }),
    ),
  );
}

/** The history record of a copy that succeeded. A store that fails must not fail the promotion (the
 * image is where the overlay says): logged, the audit line above still holds the facts. */
async function recordPromotion(
  history: PromotionHistory,
  job: PromotionJob,
  environment: EnvironmentConfig,
  source: ImageRef,
  destination: ImageRef,
  result: CopyResult,
  now: () => number,
  log: Logger,
): Promise<void> {
  try {
    await history.record(
      buildPromotionRecord({
        environment: environment.name,
        destination: formatImageRef(destination),
        digest: result.digest,
        source: formatImageRef(source),
        commit: job.commit,
        pusher: job.pusher,
        deliveryId: job.deliveryId,
        promotedAt: new Date(now()).toISOString(),
        bytes: result.blobs.bytes,
      }),
    );
  } catch (e: unknown) {
    log.warn('promotion not recorded in the history', { error: describeError(e) });
  }
}

/** The engine verifies what it wrote; this checks the promise made to the user: the destination
 * holds exactly the digest the job was planned with. */
function verifyDigest(source: ImageRef, destination: ImageRef, result: CopyResult): void {
  const expected = source.digest ?? result.source.digest;
  if (expected !== undefined && result.digest !== expected) {
    throw new DigestMismatchError(
      `${formatImageRef(destination)} holds ${result.digest}, not the planned ${expected}; will retry`,
      { registry: destination.registry, repository: destination.repository },
    );
  }
}

/** All metrics of one attempt in one EMF document with the Environment dimension. Synchronous from
 * the first addDimension to publishStoredMetrics, so jobs processed concurrently never mix. */
function emitMetrics(
  metrics: Metrics,
  job: PromotionJob,
  outcomes: readonly ImageOutcome[],
  decision: PromotionDecision,
  durationMs: number,
  now: number,
): void {
  const results = outcomes.flatMap((o) => (o.result === undefined ? [] : [o.result]));
  const sum = (pick: (r: CopyResult) => number): number => results.reduce((total, r) => total + pick(r), 0);
  metrics.addDimension(METRIC_DIMENSIONS.environment, job.environment);
  addMetric(metrics, METRICS.imagesPromoted, results.filter((r) => !r.alreadyPresent).length);
  addMetric(metrics, METRICS.imagesAlreadyPresent, results.filter((r) => r.alreadyPresent).length);
  addMetric(
    metrics,
    METRICS.bytesCopied,
    sum((r) => r.blobs.bytes),
  );
  addMetric(
    metrics,
    METRICS.blobsCopied,
    sum((r) => r.blobs.copied + r.blobs.mounted),
  );
  addMetric(
    metrics,
    METRICS.blobsSkipped,
    sum((r) => r.blobs.skipped),
  );
  addMetric(
    metrics,
    METRICS.promotionFailures,
    decision.kind === 'failure' || decision.kind === 'give-up' ? 1 : 0,
  );
  addMetric(metrics, METRICS.promotionDuration, durationMs);
  if (decision.kind === 'success') {
    const pushedAt = Date.parse(job.pushedAt);
    if (Number.isFinite(pushedAt)) {
      addMetric(metrics, METRICS.pushToPromotedLatency, Math.max(0, now - pushedAt));
    }
  }
  metrics.publishStoredMetrics();
}

function stackOf(error: unknown): string | undefined {
  return error instanceof Error ? error.stack : undefined;
}
