// A verified push (or pull request) to plan: claim it on what the signature covers, plan it within
// its deadline, set one commit status per environment (before anything is queued), enqueue one job
// per environment with work, record it, answer 202. The pusher's mistakes and the deadline become
// failure statuses and a 202; only the service's own failures (GitHub, SQS, DynamoDB, config)
// answer 5xx, and then the claim is released so a redelivery tries again.
import { createHash } from 'node:crypto';
import { statusDescription, type CommitStatus, type CommitStatusReporter } from '../core/commit-status';
import type { Config } from '../core/config';
import { describeError, isRetryable, PlanningDeadlineError, PromoterError } from '../core/errors';
import { buildPushOutcome } from '../core/jobs-from-plan';
import { createLimiter } from '../core/limiter';
import { pullRequestAsPush, type PullRequestToPlan } from '../core/pull-request-event';
import type { PushToPlan } from '../core/push-event';
import type { DeliveryStore, JobQueue } from '../core/webhook-ports';
import { checkPlannedDestinations } from './check-destinations';
import type { DestinationLookups } from './destination-lookup';
import { planDelivery, type CountingFileSource } from './plan-delivery';
import { reply, type DeliveryLog, type WebhookResponse } from './webhook-io';

/** Commit statuses set at once: GitHub's secondary rate limits punish bursts of concurrent writes. */
export const STATUS_CONCURRENCY = 4;

export interface PushDependencies {
  readonly config: Config;
  /** A fresh FileSource for one delivery (its caches live as long as the delivery), its reads
   * ended by `signal` (the delivery's deadline). */
  readonly openFileSource: (signal?: AbortSignal) => Promise<CountingFileSource>;
  readonly queue: () => Promise<JobQueue>;
  readonly statusReporter: () => Promise<CommitStatusReporter>;
  readonly deliveries: DeliveryStore;
  readonly clock: () => Date;
  readonly log: DeliveryLog;
  /** Link on the statuses (dashboard or logs), when there is one. */
  readonly targetUrl?: string;
  /** The delivery's deadline (delivery-deadline.ts): planning stops when it aborts, and every
   * environment not planned by then gets a `failure` status naming it. */
  readonly deadline?: AbortSignal;
  /** The destination registries, to look each planned image up before enqueuing
   * (webhook.checkRegistries); absent: no lookups, every planned image goes to the worker. */
  readonly destinationLookups?: DestinationLookups;
}

export interface PushToHandle {
  readonly deliveryId: string;
  readonly event: string;
  /** The raw body: its sha256 is the delivery's identity. */
  readonly body: Buffer;
  /** A push, or a pull request to plan as one (from its merge base to its head). */
  readonly work:
    | { readonly kind: 'plan'; readonly push: PushToPlan }
    | { readonly kind: 'plan-pull-request'; readonly pullRequest: PullRequestToPlan };
}

export async function handlePush(
  delivery: PushToHandle,
  deps: PushDependencies,
  started: number,
): Promise<WebhookResponse> {
  const { deliveryId, work } = delivery;
  const pullRequest = work.kind === 'plan-pull-request' ? work.pullRequest : undefined;
  // A pull request's statuses go on its head; its merge base is asked of GitHub while planning.
  const push =
    work.kind === 'plan' ? work.push : pullRequestAsPush(work.pullRequest, work.pullRequest.baseSha);
  const pushContext = {
    deliveryId,
    event: delivery.event,
    repository: push.repository,
    ref: push.ref,
    commit: push.after,
    ...(pullRequest === undefined ? {} : { pullRequest: pullRequest.number, action: pullRequest.action }),
  };
  // Deliveries are deduplicated on what the signature covers: the body's sha256. X-GitHub-Delivery
  // is not signed, so a captured delivery replayed under a new id must still be a duplicate; a
  // redelivery from GitHub carries the same body, and two real events never do (their commits,
  // timestamps and ids differ).
  const claimKey = `sha256:${createHash('sha256').update(delivery.body).digest('hex')}`;
  let claim: Awaited<ReturnType<DeliveryStore['claim']>>;
  try {
    claim = await deps.deliveries.claim(claimKey, deps.clock());
  } catch (e: unknown) {
    deps.log.error('cannot record the delivery id; nothing enqueued', {
      ...pushContext,
      error: describeError(e),
    });
    return reply(503, { message: 'could not record the delivery; redeliver it later' });
  }
  if (claim.kind === 'duplicate') {
    deps.log.info('duplicate delivery: nothing enqueued', { ...pushContext, state: claim.state });
    return reply(200, { message: 'duplicate delivery', state: claim.state });
  }

  let apiCalls: number | undefined;
  try {
    const source = await deps.openFileSource(deps.deadline);
    const planned = await planDelivery(source, deps.config, push, pullRequest, deps.deadline);
    apiCalls = source.apiCalls;
    // Within the same deadline: what planning left of it. A fork's pull request is not looked up
    // (its author would read the destination's digests in its public statuses).
    const checks =
      deps.destinationLookups === undefined || pullRequest?.fromFork === true
        ? undefined
        : await checkPlannedDestinations(planned.results, {
            config: deps.config,
            lookups: deps.destinationLookups,
            deadline: deps.deadline,
            log: deps.log,
            context: pushContext,
          });
    const outcome = buildPushOutcome(
      deliveryId,
      planned.push,
      planned.results,
      deps.targetUrl,
      pullRequest?.mode ?? 'promote',
      checks,
    );
    for (const failure of outcome.failures) {
      deps.log.warn('planning failed for an environment', {
        ...pushContext,
        environment: failure.environment,
        overlay: failure.overlay,
        error: failure.error.message,
        code: failure.error.code,
      });
    }
    for (const warning of outcome.warnings) deps.log.info('plan warning', { ...pushContext, warning });

    // Statuses first: a worker finishing fast must never have its final status overwritten by `pending`.
    const reporter = await deps.statusReporter();
    const report = async (statuses: readonly CommitStatus[]): Promise<string[]> => {
      const errors = await reportStatuses(reporter, statuses);
      for (const error of errors) deps.log.error('could not set a commit status', { ...pushContext, error });
      return errors;
    };
    const statusErrors = await report(outcome.statuses);

    if (outcome.jobs.length > 0) {
      try {
        await (await deps.queue()).send(outcome.jobs);
      } catch (e: unknown) {
        // Do not leave `pending` behind with no job to resolve it.
        await report(
          outcome.statuses
            .filter((s) => s.state === 'pending')
            .map((s) => ({
              ...s,
              state: 'error' as const,
              description: statusDescription(
                `could not queue the promotion: ${describeError(e)}; redeliver the webhook`,
              ),
            })),
        );
        throw e;
      }
    }
    // Stopped by the deadline: the claim is given back, so GitHub's "Redeliver" plans again once
    // GitHub is faster (the failure status says so). Jobs queued for environments planned in time
    // may then be queued twice: the worker finds their images present and copies nothing.
    if (outcome.failures.some((f) => f.error instanceof PlanningDeadlineError)) {
      await deps.deliveries.release(claimKey);
    } else {
      await deps.deliveries.markEnqueued(claimKey, outcome.jobs.length, deps.clock());
    }

    const environments = Object.fromEntries(outcome.statuses.map((s) => [s.environment, s.state]));
    deps.log.info(pullRequest === undefined ? 'push planned' : 'pull request planned', {
      ...pushContext,
      before: planned.push.before,
      ...(pullRequest === undefined
        ? {}
        : {
            mode: pullRequest.mode,
            ...(pullRequest.planOnlyReason ? { why: pullRequest.planOnlyReason } : {}),
          }),
      jobs: outcome.jobs.length,
      environments,
      githubApiCalls: apiCalls,
      durationMs: deps.clock().getTime() - started,
    });
    return reply(202, {
      message:
        outcome.jobs.length > 0
          ? 'promotions enqueued'
          : outcome.failures.length > 0
            ? `planning failed for ${outcome.failures.map((f) => f.environment).join(', ')}: see the commit statuses`
            : pullRequest?.mode === 'plan'
              ? `planned only (${pullRequest.planOnlyReason ?? 'github.pullRequests: plan'})`
              : 'nothing to promote',
      jobs: outcome.jobs.map((j) => ({ environment: j.environment, promotions: j.promotions.length })),
      environments,
      ...(statusErrors.length > 0 ? { statusErrors } : {}),
    });
  } catch (e: unknown) {
    // Nothing is on the queue (or not all of it): forget the claim so a manual redelivery retries.
    await deps.deliveries.release(claimKey).catch((releaseError: unknown) =>
      deps.log.error('could not release the delivery claim', {
        ...pushContext,
        error: describeError(releaseError),
      }),
    );
    deps.log.error('delivery failed; redeliver it from the webhook settings once the cause is fixed', {
      ...pushContext,
      error: describeError(e),
      code: e instanceof PromoterError ? e.code : undefined,
      githubApiCalls: apiCalls,
      stack: e instanceof PromoterError ? undefined : e instanceof Error ? e.stack : undefined,
    });
    return reply(isRetryable(e) ? 503 : 500, {
      message: `could not process the ${pullRequest === undefined ? 'push' : 'pull request'}: ${e instanceof PromoterError ? e.message : 'internal error'}`,
    });
  }
}

/** Sets `statuses`, STATUS_CONCURRENCY at a time, every one attempted; one line per status that
 * could not be set (`<environment>: <why>`). */
async function reportStatuses(
  reporter: CommitStatusReporter,
  statuses: readonly CommitStatus[],
): Promise<string[]> {
  const limit = createLimiter(STATUS_CONCURRENCY);
  const settled = await Promise.allSettled(statuses.map((status) => limit(() => reporter.report(status))));
  return settled.flatMap((result, i) =>
    result.status === 'rejected' ? [`${statuses[i]!.environment}: ${describeError(result.reason)}`] : [],
  );
}
