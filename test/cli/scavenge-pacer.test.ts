import assert from 'node:assert/strict';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { runInNewContext } from 'node:vm';
import { startScavengePacer, youngCollector } from '../../lambdas/cli/scavenge-pacer';

const MiB = 1024 * 1024;

/** Young-generation collections V8 reports while `act` runs (gc entries come asynchronously). */
async function minorCollectionsDuring(act: () => void): Promise<number> {
  const entries: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => entries.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  act();
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return entries.filter(
    (e) =>
      (e as PerformanceEntry & { readonly detail?: { readonly kind?: number } }).detail?.kind ===
      constants.NODE_PERFORMANCE_GC_MINOR,
  ).length;
}

describe('startScavengePacer', () => {
  it('scavenges once ArrayBuffers grew by the step over the lowest reading since the last scavenge', () => {
    // Prepare: readings as a copy's garbage would give them; V8's collection replaced by a counter.
    let bytes = 10 * MiB;
    let collected = 0;
    const pacer = startScavengePacer({
      stepBytes: 4 * MiB,
      intervalMs: 3_600_000,
      readArrayBufferBytes: () => bytes,
      collectYoung: () => {
        collected++;
        bytes -= 2 * MiB; // part freed at once, the rest once swept
      },
    });

    // Act + Assess
    try {
      bytes = 13 * MiB; // +3 MiB: under the step
      pacer.check();
      assert.equal(collected, 0);
      bytes = 8 * MiB; // freed by one of V8's own scavenges: the new floor
      pacer.check();
      bytes = 11.5 * MiB; // +3.5 MiB over the floor: still under
      pacer.check();
      assert.equal(collected, 0);
      bytes = 12 * MiB; // +4 MiB
      pacer.check();
      assert.equal(collected, 1);
      pacer.check(); // 10 MiB after the scavenge is the floor now: nothing more to do
      assert.equal(collected, 1);
      bytes = 14 * MiB;
      pacer.check();
      assert.equal(collected, 2);
      assert.equal(pacer.scavenges, 2);
    } finally {
      pacer.stop();
    }
  });

  it('runs a real young-generation collection once buffers pile up, and none before', async () => {
    // Prepare: buffers that do not come from the pool, held so that no collection frees them early
    // (16 MiB: well over the step, also if a collection meanwhile frees garbage the floor counted).
    const pacer = startScavengePacer({ stepBytes: 4 * MiB, intervalMs: 3_600_000 });
    let held: Buffer[] = [];
    try {
      // Act
      pacer.check();
      const before = pacer.scavenges;
      held = Array.from({ length: 16 }, () => Buffer.allocUnsafeSlow(MiB));
      const minor = await minorCollectionsDuring(() => pacer.check());

      // Assess
      assert.equal(before, 0);
      assert.equal(pacer.scavenges, 1);
      assert.ok(minor >= 1, `V8 reported ${minor} minor collections`);
      assert.equal(held.length, 16);
    } finally {
      held = [];
      pacer.stop();
    }
  });
});

describe('youngCollector', () => {
  it('gets V8 collection without leaving gc exposed to code that runs later', () => {
    // Act
    const collect = youngCollector();
    collect();

    // Assess: neither this context nor a new one sees gc afterwards (the flag was put back).
    assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
    assert.equal(runInNewContext('typeof gc'), 'undefined');
  });
});
