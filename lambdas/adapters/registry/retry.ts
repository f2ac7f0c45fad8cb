// The retry layer of the registry client (go-containerregistry's retry.go): runs an operation again
// while it fails with a retryable PromoterError, with capped exponential backoff, and honours a
// 429's Retry-After by pausing every request to that registry (a Throttle), not only the one that
// was answered: ECR throttles per account and API, not per blob. It knows nothing of HTTP.
import { setTimeout as sleep } from 'node:timers/promises';
import { PromoterError, RateLimitedError } from '../../core/errors';

export interface RetryPolicy {
  /** Total tries, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 250, maxDelayMs: 8000 };

/** Longest Retry-After honoured by waiting in-process. */
export const MAX_RETRY_AFTER_MS = 30_000;

/**
 * Until when no request is sent to one registry. One per client, shared by all its views
 * (withSignal); callers that want one pause across several clients of the same registry pass the
 * same Throttle to each.
 */
export class Throttle {
  /** Ms since the epoch. */
  private pausedUntil = 0;

  /** No request goes out before `ms` from now (a later pause already set wins). */
  pauseFor(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + ms);
  }

  /** Resolves once the pause, if any, is over; undefined (nothing to await) when there is none. */
  wait(signal: AbortSignal | undefined): Promise<void> | undefined {
    const paused = this.pausedUntil - Date.now();
    if (paused <= 0) return undefined;
    return pause(paused, signal);
  }
}

/** Waits `ms`; an abort rejects with the signal's reason (a deadline says it was the deadline). */
async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
  } catch (e: unknown) {
    signal?.throwIfAborted();
    throw e;
  }
}

/** Errors whose retries already ran out (see retry). */
const exhausted = new WeakSet<PromoterError>();

/**
 * Runs `operation` again while it fails with a retryable error, with capped backoff. An error
 * that already ran out of retries in an inner `retry` (one request) is not retried again by an
 * outer one (a whole blob transfer): attempts add up instead of multiplying. A RateLimitedError
 * pauses `throttle` for its wait.
 */
export async function retry<T>(
  policy: RetryPolicy,
  throttle: Throttle,
  signal: AbortSignal | undefined,
  operation: (attempt: number) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await operation(attempt);
    } catch (e: unknown) {
      if (!(e instanceof PromoterError) || !e.retryable || exhausted.has(e)) throw e;
      // A wait longer than MAX_RETRY_AFTER_MS is better spent by the caller (SQS redelivery).
      const tooLong = e instanceof RateLimitedError && (e.retryAfterMs ?? 0) > MAX_RETRY_AFTER_MS;
      if (attempt >= policy.attempts || tooLong) {
        exhausted.add(e);
        throw e;
      }
      const wait = backoff(policy, attempt, e);
      if (e instanceof RateLimitedError) throttle.pauseFor(wait);
      await pause(wait, signal);
    }
  }
}

function backoff(policy: RetryPolicy, attempt: number, error: PromoterError): number {
  if (error instanceof RateLimitedError && error.retryAfterMs !== undefined) {
    // A little past the registry's time: a retry that comes early is just another 429.
    return error.retryAfterMs + 20;
  }
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}
