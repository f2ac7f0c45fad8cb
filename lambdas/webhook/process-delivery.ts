// One GitHub webhook delivery, from raw request to response: size check, signature check over the raw
// bytes (before anything is parsed), then ping / ignore / plan, claim the delivery id, enqueue one job
// per environment with work, set the commit statuses. Every dependency is a parameter, so the Lambda
// handler, the local server and the tests run exactly this code. Never answers 500 for what the
// pusher wrote (their mistakes become failure statuses), never logs a secret or a payload.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { statusDescription, type CommitStatus, type CommitStatusReporter } from '../core/commit-status';
import type { Config } from '../core/config';
import { describeError, PromoterError } from '../core/errors';
import type { FileSource, MergeBaseSource } from '../core/file-source';
import { buildPushOutcome } from '../core/jobs-from-plan';
import { planPush, type EnvironmentPlanResult } from '../core/plan';
import { pullRequestAsPush, type PullRequestToPlan } from '../core/pull-request-event';
import {
  classifyDelivery,
  extractPayloadText,
  MAX_WEBHOOK_PAYLOAD_BYTES,
  type PushToPlan,
} from '../core/push-event';
import type { DeliveryStore, JobQueue } from '../core/webhook-ports';

export interface WebhookRequest {
  readonly method: string;
  /** Header names lower-cased (as a Function URL passes them). */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The body exactly as received. */
  readonly body: Buffer;
}

export interface WebhookResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface DeliveryLog {
  info(message: string, attributes?: Readonly<Record<string, unknown>>): void;
  warn(message: string, attributes?: Readonly<Record<string, unknown>>): void;
  error(message: string, attributes?: Readonly<Record<string, unknown>>): void;
}

/** A FileSource that may count the API calls it made (the GitHub one does), finds the merge base
 * of a pull request, and may say when none of its reads is in flight any more (`settled`). */
export type CountingFileSource = FileSource &
  MergeBaseSource & { readonly apiCalls?: number; settled?(): Promise<void> };

export interface DeliveryDependencies {
  readonly config: Config;
  /** Accepted webhook secrets, current first (rotation). */
  readonly webhookSecrets: () => Promise<readonly string[]>;
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
}

/** Commit statuses set at once. */
export const STATUS_CONCURRENCY = 4;

const JSON_HEADERS = { 'content-type': 'application/json' } as const;

function reply(statusCode: number, body: Readonly<Record<string, unknown>>): WebhookResponse {
  return { statusCode, headers: JSON_HEADERS, body: JSON.stringify(body) };
}

export async function processDelivery(
  request: WebhookRequest,
  deps: DeliveryDependencies,
): Promise<WebhookResponse> {
  const started = deps.clock().getTime();
  if (request.method !== 'POST') return reply(405, { message: 'method not allowed: POST a GitHub webhook' });
  if (request.body.length > MAX_WEBHOOK_PAYLOAD_BYTES) {
    return reply(413, { message: `payload over ${MAX_WEBHOOK_PAYLOAD_BYTES} bytes (GitHub's cap)` });
  }

  // Nothing below this line runs for a request that is not signed with one of our secrets.
  let secrets: readonly string[];
  try {
    secrets = await deps.webhookSecrets();
  } catch (e: unknown) {
    deps.log.error('cannot load the webhook secret', { error: describeError(e) });
    return reply(e instanceof PromoterError && e.retryable ? 503 : 500, {
      message: 'webhook is not configured',
    });
  }
  if (!verifySignature(secrets, request.body, request.headers['x-hub-signature-256'])) {
    deps.log.warn('rejected a delivery without a valid signature', {
      deliveryId: request.headers['x-github-delivery'],
      event: request.headers['x-github-event'],
    });
    return reply(401, { message: 'unauthorized' });
  }

  const event = request.headers['x-github-event'];
  const deliveryId = request.headers['x-github-delivery'];
  if (event === undefined || event === '') return reply(400, { message: 'missing X-GitHub-Event header' });
  if (deliveryId === undefined || deliveryId === '' || deliveryId.length > 128) {
    return reply(400, { message: 'missing or invalid X-GitHub-Delivery header' });
  }
  const text = request.body.toString('utf8');
  let payload: unknown;
  try {
    payload = JSON.parse(extractPayloadText(text, request.headers['content-type']));
  } catch {
    return reply(400, { message: 'body is not JSON' });
  }

  const decision = classifyDelivery(event, payload, deps.config, deps.clock());
  const context = { deliveryId, event };
  if (decision.kind === 'ping') {
    deps.log.info('ping', context);
    return reply(200, { message: 'pong' });
  }
  if (decision.kind === 'invalid') {
    deps.log.warn('signed delivery is not a valid push', { ...context, reason: decision.reason });
    return reply(400, { message: decision.reason });
  }
  if (decision.kind === 'ignore') {
    deps.log.info('ignored delivery', { ...context, reason: decision.reason });
    return reply(202, { message: `ignored: ${decision.reason}` });
  }

  // A pull request is planned as a push from its merge base (asked of GitHub below) to its head.
  const pullRequest: PullRequestToPlan | undefined =
    decision.kind === 'plan-pull-request' ? decision.pullRequest : undefined;
  let push: PushToPlan =
    decision.kind === 'plan'
      ? decision.push
      : pullRequestAsPush(decision.pullRequest, decision.pullRequest.baseSha);
  const pushContext = {
    ...context,
    repository: push.repository,
    ref: push.ref,
    commit: push.after,
    ...(pullRequest === undefined ? {} : { pullRequest: pullRequest.number, action: pullRequest.action }),
  };
  // Deliveries are deduplicated on what the signature covers: the body's sha256. X-GitHub-Delivery
  // is not signed, so a captured delivery replayed under a new id must still be a duplicate; a
  // redelivery from GitHub carries the same body, and two real events never do (their commits,
  // timestamps and ids differ).
  const claimKey = `sha256:${createHash('sha256').update(request.body).digest('hex')}`;
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
    const { deadline } = deps;
    const source = await deps.openFileSource(deadline);
    let results: readonly EnvironmentPlanResult[];
    try {
      if (pullRequest !== undefined) {
        push = pullRequestAsPush(
          pullRequest,
          await source.mergeBase(pullRequest.baseSha, pullRequest.headSha),
        );
      }
      results = await planPush(source, deps.config, push.before, push.after, {
        ...(deadline === undefined ? {} : { signal: deadline }),
      });
    } catch (e: unknown) {
      // The deadline before planning began (the merge base): every environment is stopped by it.
      if (deadline?.aborted !== true || e !== deadline.reason || !(e instanceof PromoterError)) throw e;
      results = deps.config.environments.map((env) => ({
        kind: 'failed' as const,
        environment: env.name,
        overlay: env.overlay,
        error: e,
      }));
    } finally {
      // Nothing planning started is still running when the answer is given (the Lambda freezes
      // after it; the local server would go on reading for a delivery already answered).
      await source.settled?.();
    }
    apiCalls = source.apiCalls;
    const outcome = buildPushOutcome(
      deliveryId,
      push,
      results,
      deps.targetUrl,
      pullRequest?.mode ?? 'promote',
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
      // A few at a time: GitHub's secondary rate limits punish bursts of concurrent writes.
      const settled = await settleWithConcurrency(statuses, STATUS_CONCURRENCY, (s) => reporter.report(s));
      const errors = settled.flatMap((r, i) =>
        r.status === 'rejected' ? [`${statuses[i]!.environment}: ${describeError(r.reason)}`] : [],
      );
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
    await deps.deliveries.markEnqueued(claimKey, outcome.jobs.length, deps.clock());

    const environments = Object.fromEntries(outcome.statuses.map((s) => [s.environment, s.state]));
    deps.log.info(pullRequest === undefined ? 'push planned' : 'pull request planned', {
      ...pushContext,
      before: push.before,
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
    const retryable = !(e instanceof PromoterError) || e.retryable;
    deps.log.error('delivery failed; redeliver it from the webhook settings once the cause is fixed', {
      ...pushContext,
      error: describeError(e),
      code: e instanceof PromoterError ? e.code : undefined,
      githubApiCalls: apiCalls,
      stack: e instanceof PromoterError ? undefined : e instanceof Error ? e.stack : undefined,
    });
    return reply(retryable ? 503 : 500, {
      message: `could not process the ${pullRequest === undefined ? 'push' : 'pull request'}: ${e instanceof PromoterError ? e.message : 'internal error'}`,
    });
  }
}

/** X-Hub-Signature-256 is an HMAC-SHA256 of the raw body bytes (GitHub docs, "Validating webhook
 * deliveries"): checked over those bytes, never over a decoded text (invalid UTF-8 would decode two
 * different bodies to the same text). Constant-time comparison; any configured secret may match. */
function verifySignature(secrets: readonly string[], body: Buffer, signature: string | undefined): boolean {
  if (signature === undefined || !/^sha256=[0-9a-f]{64}$/.test(signature) || body.length === 0) return false;
  const expected = Buffer.from(signature.slice('sha256='.length), 'hex');
  return secrets.some(
    (secret) =>
      secret !== '' && timingSafeEqual(createHmac('sha256', secret).update(body).digest(), expected),
  );
}

/** Promise.allSettled over `items`, at most `limit` calls in flight; results in input order. */
async function settleWithConcurrency<T>(
  items: readonly T[],
  limit: number,
  call: (item: T) => Promise<void>,
): Promise<PromiseSettledResult<void>[]> {
  const results: PromiseSettledResult<void>[] = new Array<PromiseSettledResult<void>>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      try {
        await call(items[index]!);
        results[index] = { status: 'fulfilled', value: undefined };
      } catch (e: unknown) {
        results[index] = { status: 'rejected', reason: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, () => worker()));
  return results;
}
