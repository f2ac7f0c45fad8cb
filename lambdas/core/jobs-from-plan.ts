// From the plans of one push to what the webhook does about it: one PromotionJob per environment
// with promotions, and one commit status per environment (pending where there is work, success
// "no image changes" where there is none, failure naming the file where planning failed), so a
// required status check never hangs. Pure: no I/O, no clock; never drops an environment silently.
import { statusDescription, type CommitStatus } from './commit-status';
import { describeError, type PromoterError } from './errors';
import { formatImageRef } from './image-ref';
import { validatePromotionJob, type PromotionJob } from './job';
import type { EnvironmentPlanResult, PlannedPromotion } from './plan';
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

export function buildPushOutcome(
  deliveryId: string,
  push: PushToPlan,
  results: readonly EnvironmentPlanResult[],
  targetUrl?: string,
  mode: OutcomeMode = 'promote',
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
    if (mode === 'plan') {
      statuses.push(status(plan.environment, 'success', describePlanOnly(plan.promotions)));
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
    statuses.push({
      ...status(plan.environment, 'pending', describePending(plan.promotions)),
      jobId: deliveryId,
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

function describePlanOnly(promotions: readonly PlannedPromotion[]): string {
  const only = promotions.length === 1 ? promotions[0] : undefined;
  return `${PLAN_ONLY_PREFIX} ${only ? formatImageRef(only.destination) : `${promotions.length} images`}`;
}

function describePending(promotions: readonly PlannedPromotion[]): string {
  const only = promotions.length === 1 ? promotions[0] : undefined;
  return only ? `promoting ${formatImageRef(only.destination)}` : `promoting ${promotions.length} images`;
}
