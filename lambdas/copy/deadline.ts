// The deadline of a copy, as the AbortSignal copyImage takes: it aborts with a
// DeadlineExceededError (retryable) once `ms` have passed, so every request, transfer and retry
// wait of the copy ends then, and the error says why. The worker gives it the Lambda's remaining
// time less a margin for the commit status; the CLI its --timeout.
import { DeadlineExceededError } from '../core/errors';

/** Time kept back from the Lambda's remaining time: reporting the outcome (commit status, metrics,
 * logs) after the copies stopped. A GitHub status is one request of a few hundred ms; 10 s leaves
 * room for its retries. */
export const DEADLINE_MARGIN_MS = 10_000;

/** A signal that aborts with DeadlineExceededError after `ms` (`what`: the limit's name for the
 * message, e.g. `--timeout 30s`). The timer does not keep the process alive. */
export function deadlineSignal(ms: number, what: string): AbortSignal {
  const controller = new AbortController();
  const seconds = Math.max(0, Math.round(ms / 100) / 10);
  const timer = setTimeout(
    () =>
      controller.abort(
        new DeadlineExceededError(
          `the copy did not finish within ${seconds} s (${what}); what was copied stays, the next attempt goes on from there`,
        ),
      ),
    Math.max(0, ms),
  );
  timer.unref();
  return controller.signal;
}

/** The time a worker invocation gives its copies: what is left of the Lambda less the margin,
 * but never less than half of what is left (a short timeout still copies something). */
export function workerCopyBudgetMs(remainingMs: number): number {
  return Math.max(remainingMs - DEADLINE_MARGIN_MS, Math.floor(remainingMs / 2));
}
