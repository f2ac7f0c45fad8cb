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

  it('with a signal: once aborted, waiting tasks reject with its reason and never start; idle() waits for the running ones', async () => {
    // Prepare
    const controller = new AbortController();
    const run = createLimiter(1, { signal: controller.signal });
    const gate = deferred();
    const started: string[] = [];
    let runningEnded = false;
    const running = run(async () => {
      started.push('first');
      await gate.promise;
      runningEnded = true;
    });
    const waiting = run(() => {
      started.push('second');
      return Promise.resolve();
    });
    await new Promise((resolve) => setImmediate(resolve));
    // Act
    const reason = new Error('deadline');
    controller.abort(reason);
    const idle = run.idle().then(() => runningEnded);
    gate.resolve();
    // Assess
    await assert.rejects(waiting, (e: unknown) => e === reason);
    await running;
    assert.equal(await idle, true);
    assert.deepEqual(started, ['first']);
    await assert.rejects(
      run(() => Promise.resolve()),
      (e: unknown) => e === reason,
    );
  });

  it('idle() resolves at once when nothing runs, and only once the last queued task ended', async () => {
    const run = createLimiter(1);
    await run.idle();
    const gates = [deferred(), deferred()];
    const ended: number[] = [];
    const tasks = gates.map((gate, i) =>
      run(async () => {
        await gate.promise;
        ended.push(i);
      }),
    );
    const idle = run.idle().then(() => [...ended]);
    gates[0]!.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    gates[1]!.resolve();
    await Promise.all(tasks);
    assert.deepEqual(await idle, [0, 1]);
  });
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
