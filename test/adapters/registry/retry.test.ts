// The retry layer on its own: which errors are tried again and how often, that attempts of nested
// retries add up instead of multiplying, and that a 429 pauses every request of the registry (the
// Throttle), not only the one it answered. Waits are a few ms: counts are asserted, never timings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_RETRY_AFTER_MS,
  MAX_THROTTLED_RETRIES,
  Throttle,
  retry,
} from '../../../lambdas/adapters/registry/retry';
import {
  RateLimitedError,
  RegistryRequestError,
  RegistryUnavailableError,
} from '../../../lambdas/core/errors';

const POLICY = { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 };
const DETAILS = { registry: 'r.example' };

describe('registry retry layer', () => {
  it('tries a retryable failure again up to the policy, and a permanent one once', async () => {
    const cases = [
      { error: new RegistryUnavailableError('503', DETAILS), calls: 3 },
      { error: new RegistryRequestError('400', DETAILS), calls: 1 },
      { error: new Error('not ours'), calls: 1 },
    ];
    for (const { error, calls } of cases) {
      let count = 0;
      await assert.rejects(
        retry(POLICY, new Throttle(), undefined, () => {
          count++;
          return Promise.reject(error);
        }),
        (e: unknown) => e === error,
      );
      assert.equal(count, calls, error.message);
    }
  });

  it('does not retry again in an outer retry what an inner one gave up on', async () => {
    let inner = 0;
    const failing = (): Promise<never> =>
      retry(POLICY, new Throttle(), undefined, () => {
        inner++;
        return Promise.reject(new RegistryUnavailableError('503', DETAILS));
      });
    await assert.rejects(retry(POLICY, new Throttle(), undefined, failing), RegistryUnavailableError);
    assert.equal(inner, POLICY.attempts);
  });

  it('pauses the shared Throttle for a 429 and gives up at once on a Retry-After too long to wait', async () => {
    const throttle = new Throttle();
    let calls = 0;
    const result = await retry(POLICY, throttle, undefined, () => {
      calls++;
      return calls === 1 ? Promise.reject(new RateLimitedError('429', DETAILS, 30)) : Promise.resolve('done');
    });
    assert.equal(result, 'done');
    // While a pause lasts, wait() has something to wait for (and ends with the signal).
    throttle.pauseFor(60_000);
    const paused = throttle.wait(AbortSignal.abort(new Error('stopped')));
    assert.notEqual(paused, undefined);
    await assert.rejects(paused ?? Promise.resolve(), /stopped/);

    let tooLong = 0;
    await assert.rejects(
      retry(POLICY, new Throttle(), undefined, () => {
        tooLong++;
        return Promise.reject(new RateLimitedError('429', DETAILS, MAX_RETRY_AFTER_MS + 1));
      }),
      RateLimitedError,
    );
    assert.equal(tooLong, 1);
  });

  it('tries a 429 without Retry-After (a rate, paced by its lane) apart from the attempts, boundedly', async () => {
    // Two 429s, then 503s: the attempts are all the 503s'.
    let calls = 0;
    await assert.rejects(
      retry(POLICY, new Throttle(), undefined, () => {
        calls++;
        return Promise.reject(
          calls <= 2
            ? new RateLimitedError('429', DETAILS, undefined)
            : new RegistryUnavailableError('503', DETAILS),
        );
      }),
      RegistryUnavailableError,
    );
    assert.equal(calls, 2 + POLICY.attempts);
    // Only 429s: given up after MAX_THROTTLED_RETRIES more.
    let throttled = 0;
    await assert.rejects(
      retry(POLICY, new Throttle(), undefined, () => {
        throttled++;
        return Promise.reject(new RateLimitedError('429', DETAILS, undefined));
      }),
      RateLimitedError,
    );
    assert.equal(throttled, 1 + MAX_THROTTLED_RETRIES);
  });

  it('stops waiting when the signal aborts', async () => {
    const controller = new AbortController();
    const pending = retry(
      { attempts: 5, baseDelayMs: 60_000, maxDelayMs: 60_000 },
      new Throttle(),
      controller.signal,
      () => Promise.reject(new RegistryUnavailableError('503', DETAILS)),
    );
    controller.abort(new Error('deadline'));
    await assert.rejects(pending, /deadline/);
  });
});
