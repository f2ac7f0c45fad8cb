// The delivery deadline's length: the configured one, unless the Lambda has less left than that
// plus the margin for answering; and the signal it gives aborts with a non-retryable error saying so.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlanningDeadlineError } from '../../lambdas/core/errors';
import {
  ANSWER_MARGIN_MS,
  deliveryDeadlineMs,
  startDeliveryDeadline,
} from '../../lambdas/webhook/delivery-deadline';

describe('delivery deadline', () => {
  const cases: readonly {
    readonly name: string;
    readonly configuredMs: number;
    readonly remainingMs: number | undefined;
    readonly expected: { readonly ms: number; readonly limit: string };
  }[] = [
    {
      name: 'no Lambda context (tests, embedding): the configured deadline',
      configuredMs: 7000,
      remainingMs: undefined,
      expected: { ms: 7000, limit: 'webhook.deadlineSeconds' },
    },
    {
      name: 'a fresh 30 s invocation: the configured deadline',
      configuredMs: 7000,
      remainingMs: 29_950,
      expected: { ms: 7000, limit: 'webhook.deadlineSeconds' },
    },
    {
      name: 'less left than the deadline plus the margin: what is left less the margin',
      configuredMs: 7000,
      remainingMs: 8000,
      expected: { ms: 8000 - ANSWER_MARGIN_MS, limit: "the webhook Lambda's remaining time" },
    },
    {
      name: 'less left than the margin: stopped at once',
      configuredMs: 7000,
      remainingMs: 1000,
      expected: { ms: 0, limit: "the webhook Lambda's remaining time" },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(deliveryDeadlineMs(c.configuredMs, c.remainingMs), c.expected);
    });
  }

  it('aborts with a PlanningDeadlineError (not retryable) naming the time and the setting', async () => {
    const deadline = startDeliveryDeadline(0);
    await new Promise((resolve) => deadline.signal.addEventListener('abort', resolve, { once: true }));
    const reason: unknown = deadline.signal.reason;
    assert.ok(reason instanceof PlanningDeadlineError);
    assert.equal(reason.retryable, false);
    assert.equal(
      reason.message,
      'planning stopped after 0 s (webhook.deadlineSeconds): GitHub was slow or the overlay is too large; redeliver, or make it smaller',
    );
  });

  it('clear() stops the timer: the signal never aborts', async () => {
    const deadline = startDeliveryDeadline(20);
    deadline.clear();
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(deadline.signal.aborted, false);
  });
});
