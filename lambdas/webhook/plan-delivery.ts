// Planning one delivery within its deadline: the merge base of a pull request (asked of GitHub),
// then every environment's plan. When the deadline fires, what is in flight is aborted by the
// signal, and every environment not planned by then fails with the deadline's reason (a failure
// status, never a 5xx). Returns only once no read planning started is still running: the answer
// comes after this, and nothing of the delivery may outlive the answer.
import type { Config } from '../core/config';
import { PromoterError } from '../core/errors';
import type { FileSource, MergeBaseSource } from '../core/file-source';
import { planPush, type EnvironmentPlanResult } from '../core/plan';
import { pullRequestAsPush, type PullRequestToPlan } from '../core/pull-request-event';
import type { PushToPlan } from '../core/push-event';

/** A FileSource that may count the API calls it made (the GitHub one does), finds the merge base
 * of a pull request, and may say when none of its reads is in flight any more (`settled`). */
export type CountingFileSource = FileSource &
  MergeBaseSource & { readonly apiCalls?: number; settled?(): Promise<void> };

export interface DeliveryPlan {
  /** The push planned: a pull request's runs from its merge base. */
  readonly push: PushToPlan;
  readonly results: readonly EnvironmentPlanResult[];
}

export async function planDelivery(
  source: CountingFileSource,
  config: Config,
  push: PushToPlan,
  pullRequest: PullRequestToPlan | undefined,
  deadline: AbortSignal | undefined,
): Promise<DeliveryPlan> {
  let planned = push;
  try {
    if (pullRequest !== undefined) {
      planned = pullRequestAsPush(
        pullRequest,
        await source.mergeBase(pullRequest.baseSha, pullRequest.headSha),
      );
    }
    const results = await planPush(source, config, planned.before, planned.after, {
      ...(deadline === undefined ? {} : { signal: deadline }),
    });
    return { push: planned, results };
  } catch (e: unknown) {
    // The deadline before planning began (the merge base): every environment is stopped by it.
    if (deadline?.aborted !== true || e !== deadline.reason || !(e instanceof PromoterError)) throw e;
    return {
      push: planned,
      results: config.environments.map((env) => ({
        kind: 'failed' as const,
        environment: env.name,
        overlay: env.overlay,
        error: e,
      })),
    };
  } finally {
    // Nothing planning started is still running when the answer is given (the Lambda freezes
    // after it; the local server would go on reading for a delivery already answered).
    await source.settled?.();
  }
}
