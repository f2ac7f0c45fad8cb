// The retry layer of the registry client (go-containerregistry's retry.go): runs an operation again
// while it fails with a retryable PromoterError, with capped exponential backoff, and honours a
// 429's Retry-After by pausing every request to that registry (the Throttle), not only the one that
// was answered. A 429 without one (ECR's) is sent again in its lane's pace (throttle.ts), apart
// from the attempts. It knows nothing of HTTP.
import { PromoterError, RateLimitedError } from '../../core/errors';
import { pause, type Throttle } from './throttle';

export { MAX_THROTTLED_RETRIES, Throttle, ThrottlePool, type LanePolicy } from './throttle';

export interface RetryPolicy {
  /** Total tries, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 250, maxDelayMs: 8000 };

/** Longest Retry-After honoured by waiting in-process. */
export const MAX_RETRY_AFTER_MS = 30_000;

/** Errors whose retries already ran out (see retry). */
const exhausted = new WeakSet<PromoterError>();

/**
 * Runs `operation` again while it fails with a retryable error, with capped backoff. An error
 * that already ran out of retries in an inner `retry` (one request) is not retried again by an
 * outer one (a whole blob transfer): attempts add up instead of multiplying. A RateLimitedError
 * with Retry-After pauses `throttle` for it; one without is tried again in its lane's pace, up to
 * its lane policy's maxThrottledRetries times more (MAX_THROTTLED_RETRIES by default).
 */
export async function retry<T>(
  policy: RetryPolicy,
  throttle: Throttle,
  signal: AbortSignal | undefined,
  operation: (attempt: number) => Promise<T>,
): Promise<T> {
  let throttled = 0;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await operation(attempt);
    } catch (e: unknown) {
      if (!(e instanceof PromoterError) || !e.retryable || exhausted.has(e)) throw e;
      if (e instanceof RateLimitedError && e.retryAfterMs === undefined) {
        if (++throttled > throttle.lanePolicy.maxThrottledRetries) {
          exhausted.add(e);
          throw e;
        }
        // No wait here: the lane the request goes out in again holds it until its turn.
        attempt--;
        continue;
      }
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
