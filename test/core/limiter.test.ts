import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLimiter } from '../../lambdas/core/limiter';

describe('createLimiter', () => {
  for (const limit of [1, 2, 5]) {
    it(`never runs more than ${limit} task(s) at once, and runs them all in order of arrival`, async () => {
      // Prepare
      const run = createLimiter(limit);
      let active = 0;
      let peak = 0;
      const started: number[] = [];
      const gates = Array.from({ length: 12 }, () => deferred());
      // Act
      const results = Array.from({ length: 12 }, (_, i) =>
        run(async () => {
          started.push(i);
          active++;
          peak = Math.max(peak, active);
          await gates[i]!.promise;
          active--;
          return i * 2;
        }),
      );
      for (const gate of gates) {
        await new Promise((resolve) => setImmediate(resolve));
        gate.resolve();
      }
      // Assess
      assert.deepEqual(
        await Promise.all(results),
        Array.from({ length: 12 }, (_, i) => i * 2),
      );
      assert.equal(peak, limit);
      assert.deepEqual(
        started,
        [...started].sort((a, b) => a - b),
      );
    });
  }

  it('frees the slot of a task that failed', async () => {
    const run = createLimiter(1);
    await assert.rejects(
      run(() => Promise.reject(new Error('boom'))),
      /boom/,
    );
    assert.equal(await run(() => Promise.resolve('next')), 'next');
  });
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
