// The one deadline of a webhook delivery: an AbortSignal created when the request arrives (by the
// Lambda handler, and so by the local server that calls it) and handed down through processDelivery,
// planning, every FileSource/GitHub read and their limiter. When it fires, what is in flight is
// aborted (not abandoned), planning ends with a PlanningDeadlineError (non-retryable: a `failure`
// status per environment), and the answer is given only after everything planning started has
// ended. It never keeps the process alive and is cleared once the answer is given.
import { setMaxListeners } from 'node:events';
import { PlanningDeadlineError } from '../core/errors';

/** Kept back from the Lambda's remaining time, for what follows planning: the commit statuses (a
 * few hundred ms each, four at a time), the queue, the delivery record and the answer. */
export const ANSWER_MARGIN_MS = 3000;

export interface DeliveryDeadline {
  readonly signal: AbortSignal;
  /** Milliseconds from the start of the delivery. */
  readonly ms: number;
  /** Stops the timer (the answer is given). */
  clear(): void;
}

/** The deadline's length and the name of what set it: the configured one, unless the Lambda has
 * less than that left (less the margin for answering). */
export function deliveryDeadlineMs(
  configuredMs: number,
  remainingMs: number | undefined,
): { readonly ms: number; readonly limit: string } {
  const fromLambda = remainingMs === undefined ? Infinity : remainingMs - ANSWER_MARGIN_MS;
  return fromLambda < configuredMs
    ? { ms: Math.max(0, fromLambda), limit: "the webhook Lambda's remaining time" }
    : { ms: configuredMs, limit: 'webhook.deadlineSeconds' };
}

/** Starts the deadline now. `remainingMs`: the Lambda context's getRemainingTimeInMillis(). */
export function startDeliveryDeadline(configuredMs: number, remainingMs?: number): DeliveryDeadline {
  const { ms, limit } = deliveryDeadlineMs(configuredMs, remainingMs);
  const controller = new AbortController();
  // Every read in flight listens to it (GitHub reads, their limiter, the destination HEADs, eight
  // at a time each): more than Node's default of 10 is normal here, not a leak.
  setMaxListeners(0, controller.signal);
  const timer = setTimeout(() => controller.abort(new PlanningDeadlineError(ms, limit)), ms);
  timer.unref();
  return { signal: controller.signal, ms, clear: () => clearTimeout(timer) };
}
