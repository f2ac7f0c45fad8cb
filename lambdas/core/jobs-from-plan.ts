// From the plans of one push to what the webhook does about it: one PromotionJob per environment
// with promotions, and one commit status per environment (pending where there is work, success
// "no image changes" where there is none, failure naming the file where planning failed), so a
// required status check never hangs. With the destination checks (destination-check.ts): an
// environment whose every image is already present gets success and no job, one with a tag conflict
// gets failure naming both digests and no job. Pure: no I/O, no clock; never drops an environment
// silently.
import { statusDescription, type CommitStatus, type ImageReport } from './commit-status';
import {
  DESTINATION_VERDICTS,
  describeCheckCounts,
  describeConflict,
  type DestinationCheck,
} from './destination-check';
import { describeError, type PromoterError } from './errors';
import { formatImageRef } from './image-ref';
import { validatePromotionJob, type PromotionJob } from './job';
import type { EnvironmentPlanResult, PlannedPromotion } from './plan';
import { shortenForStatus } from './promotion-summary';
import type { PushToPlan } from './push-event';

/** The job schema's limit: more promotions than this in one environment cannot be one job. */
export const MAX_PROMOTIONS_PER_JOB = 500;

export const NO_IMAGE_CHANGES = 'no image changes';

export interface PlanningFailure {
  readonly environment: string;
  readonly overlay: string;
  /** The full error, for the log line (the status carries a 140-character cut). */
  readonly error: PromoterError;
}

export interface PushOutcome {
  readonly jobs: readonly PromotionJob[];
  /** One per environment, in config order. */
  readonly statuses: readonly CommitStatus[];
  readonly failures: readonly PlanningFailure[];
  /** Warnings of the plans, prefixed with their environment (for the log). */
  readonly warnings: readonly string[];
}

/** `promote`: jobs for the worker. `plan` (a pull request in plan mode, or from a fork): no jobs; the
 * status is success and says what the push after the merge will promote. */
export type OutcomeMode = 'promote' | 'plan';

/** The destination checks of each environment, by name (absent: not checked, the job as planned). */
export type DestinationChecks = ReadonlyMap<string, readonly DestinationCheck[]>;

export function buildPushOutcome(
  deliveryId: string,
  push: PushToPlan,
  results: readonly EnvironmentPlanResult[],
  targetUrl?: string,
  mode: OutcomeMode = 'promote',
  checks?: DestinationChecks,
): PushOutcome {
  const jobs: PromotionJob[] = [];
  const statuses: CommitStatus[] = [];
  const failures: PlanningFailure[] = [];
  const warnings: string[] = [];
  const status = (environment: string, state: CommitStatus['state'], description: string): CommitStatus => ({
    repository: push.repository,
    commit: push.after,
    environment,
    state,
    description: statusDescription(description),
    ...(targetUrl === undefined ? {} : { targetUrl }),
  });

  for (const result of results) {
    if (result.kind === 'failed') {
      failures.push({ environment: result.environment, overlay: result.overlay, error: result.error });
      statuses.push(
        status(result.environment, 'failure', describePlanningFailure(result.overlay, result.error)),
      );
      continue;
    }
    const { plan } = result;
    warnings.push(...plan.warnings.map((w) => `${plan.environment}: ${w}`));
    if (plan.promotions.length === 0) {
      statuses.push(status(plan.environment, 'success', NO_IMAGE_CHANGES));
      continue;
    }
    if (plan.promotions.length > MAX_PROMOTIONS_PER_JOB) {
      statuses.push(
        status(
          plan.environment,
          'failure',
          `${plan.overlay}: ${plan.promotions.length} new images in one push, over the limit of ` +
            `${MAX_PROMOTIONS_PER_JOB}; split the change into smaller pushes`,
        ),
      );
      continue;
    }
    const checked = checks?.get(plan.environment);
    const conflicts = checked?.filter((c) => c.verdict === DESTINATION_VERDICTS.conflict) ?? [];
    if (conflicts.length > 0) {
      // Nothing of this environment is queued: a job for its other images would end in a status
      // that hides the conflict (a plan-only pull request learns now what its merge would meet).
      const first = describeConflict(conflicts[0]!);
      const prefix = conflicts.length > 1 ? `${conflicts.length} of ${plan.promotions.length} images: ` : '';
      statuses.push({
        ...status(plan.environment, 'failure', shortenForStatus(`${prefix}${first}`)),
        images: checked!.map(checkReport),
      });
      continue;
    }
    const present = checked?.filter((c) => c.verdict === DESTINATION_VERDICTS.alreadyPresent) ?? [];
    if (present.length === plan.promotions.length) {
      statuses.push({
        ...status(
          plan.environment,
          'success',
          `${present.length} ${present.length === 1 ? 'image' : 'images'} already present`,
        ),
        images: present.map(checkReport),
      });
      continue;
    }
    if (mode === 'plan') {
      statuses.push(status(plan.environment, 'success', describePlanOnly(plan.promotions, checked)));
      continue;
    }
    jobs.push(
      validatePromotionJob({
        version: 1,
        deliveryId,
        repository: push.repository,
        ref: push.ref,
        commit: push.after,
        environment: plan.environment,
        pusher: push.pusher,
        pushedAt: push.pushedAt,
        promotions: plan.promotions.map((p) => ({
          source: formatImageRef(p.source),
          destination: formatImageRef(p.destination),
        })),
      }),
    );
    // The job's id goes with its pending status: a check run carries it, so the worker finds the run.
    // Images found already present stay in the job: the worker re-checks them with a HEAD, copies
    // referrers added at the source since, and its final status then counts every image.
    statuses.push({
      ...status(plan.environment, 'pending', describePending(plan.promotions, checked)),
      jobId: deliveryId,
      ...(checked === undefined ? {} : { images: checked.map(checkReport) }),
    });
  }
  return { jobs, statuses, failures, warnings };
}

/** One line naming the file: OverlayError messages start with it; others get the overlay prefixed. */
export function describePlanningFailure(overlay: string, error: PromoterError): string {
  const message = describeError(error);
  return message.startsWith(overlay) ? message : `${overlay}: ${message}`;
}

/** Plan mode: the merge is not held back (success), and the user reads what it will promote. */
export const PLAN_ONLY_PREFIX = 'plan only, promoted after the merge:';

function describePlanOnly(
  promotions: readonly PlannedPromotion[],
  checked: readonly DestinationCheck[] | undefined,
): string {
  const only = promotions.length === 1 ? promotions[0] : undefined;
  const what = only ? formatImageRef(only.destination) : `${promotions.length} images`;
  return `${PLAN_ONLY_PREFIX} ${what}${countsSuffix(promotions, checked)}`;
}

function describePending(
  promotions: readonly PlannedPromotion[],
  checked: readonly DestinationCheck[] | undefined,
): string {
  const only = promotions.length === 1 ? promotions[0] : undefined;
  const what = only ? formatImageRef(only.destination) : `${promotions.length} images`;
  return `promoting ${what}${countsSuffix(promotions, checked)}`;
}

/** ` (2 to copy, 1 already present)` once something is known to be present: the counts say what
 * the destination check found. Without that the plain description says it all. */
function countsSuffix(
  promotions: readonly PlannedPromotion[],
  checked: readonly DestinationCheck[] | undefined,
): string {
  if (checked === undefined || promotions.length === 1) return '';
  if (!checked.some((c) => c.verdict === DESTINATION_VERDICTS.alreadyPresent)) return '';
  return ` (${describeCheckCounts(checked)})`;
}

/** A checked image as a row of the check run's table. */
function checkReport(check: DestinationCheck): ImageReport {
  const source = formatImageRef(check.promotion.source);
  const destination = formatImageRef(check.promotion.destination);
  const digest = check.destinationDigest === undefined ? {} : { digest: check.destinationDigest };
  switch (check.verdict) {
    case DESTINATION_VERDICTS.alreadyPresent:
      return { source, destination, ...digest, bytes: 0, result: 'already present' };
    case DESTINATION_VERDICTS.conflict:
      return { source, destination, ...digest, result: 'failed', reason: describeConflict(check) };
    default:
      return { source, destination, ...digest, result: 'to copy' };
  }
}
