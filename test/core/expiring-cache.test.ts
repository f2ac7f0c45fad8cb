// The one cache of expiring values (STS credentials, ECR tokens, secrets, App tokens): single
// flight, refreshed before expiry, failures never cached, bounded.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createExpiringCache, type Expiring } from '../../lambdas/core/expiring-cache';

/** A loader whose calls are counted and whose results the test settles by hand. */
function controlledLoader(): {
  load: () => Promise<Expiring<string>>;
  calls: () => number;
  resolve: (value: string, expiresAt: number) => void;
  reject: (e: Error) => void;
} {
  let calls = 0;
  const pending: { resolve: (v: Expiring<string>) => void; reject: (e: Error) => void }[] = [];
  return {
    load: () => {
      calls++;
      return new Promise((resolve, reject) => pending.push({ resolve, reject }));
    },
    calls: () => calls,
    resolve: (value, expiresAt) => pending.shift()!.resolve({ value, expiresAt }),
    reject: (e) => pending.shift()!.reject(e),
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('expiring cache', () => {
  it('shares one load among concurrent callers (single flight)', async () => {
    // Prepare
    const cache = createExpiringCache<string, string>({ refreshBeforeMs: 100, clock: () => 0 });
    const loader = controlledLoader();
    // Act
    const all = [cache.get('k', loader.load), cache.get('k', loader.load), cache.get('k', loader.load)];
    await tick();
    loader.resolve('v1', 10_000);
    // Assess
    assert.deepEqual(await Promise.all(all), ['v1', 'v1', 'v1']);
    assert.equal(loader.calls(), 1);
  });

  it('serves the value until refreshBeforeMs before it expires, then loads again', async () => {
    // Prepare
    let now = 0;
    const cache = createExpiringCache<string, string>({ refreshBeforeMs: 300, clock: () => now });
    let n = 0;
    const load = (): Promise<Expiring<string>> =>
      Promise.resolve({ value: `v${++n}`, expiresAt: now + 1000 });
    // Act / Assess
    assert.equal(await cache.get('k', load), 'v1');
    now = 699;
    assert.equal(await cache.get('k', load), 'v1');
    now = 700;
    assert.equal(await cache.get('k', load), 'v2');
    assert.equal(await cache.get('other', load), 'v3');
  });

  it('never caches a failed load: the next caller tries again', async () => {
    // Prepare
    const cache = createExpiringCache<string, string>({ refreshBeforeMs: 0, clock: () => 0 });
    const loader = controlledLoader();
    const first = cache.get('k', loader.load);
    const shared = cache.get('k', loader.load);
    await tick();
    loader.reject(new Error('throttled'));
    // Act
    await assert.rejects(first, /throttled/);
    await assert.rejects(shared, /throttled/);
    const second = cache.get('k', loader.load);
    await tick();
    loader.resolve('v2', 1000);
    // Assess
    assert.equal(await second, 'v2');
    assert.equal(loader.calls(), 2);
  });

  it('turns a loader that throws synchronously into a rejection', async () => {
    const cache = createExpiringCache<string, string>({ refreshBeforeMs: 0 });
    await assert.rejects(
      cache.get('k', () => {
        throw new Error('sync');
      }),
      /sync/,
    );
  });

  it('keeps at most maxEntries, dropping the oldest, and forgets everything on clear()', async () => {
    // Prepare
    const cache = createExpiringCache<string, string>({ refreshBeforeMs: 0, clock: () => 0, maxEntries: 2 });
    let n = 0;
    const load = (): Promise<Expiring<string>> => Promise.resolve({ value: `v${++n}`, expiresAt: 1000 });
    // Act
    await cache.get('a', load);
    await cache.get('b', load);
    await cache.get('c', load);
    const b = await cache.get('b', load);
    const a = await cache.get('a', load);
    cache.clear();
    const c = await cache.get('c', load);
    // Assess
    assert.equal(b, 'v2', 'b still cached');
    assert.equal(a, 'v4', 'a was dropped as the oldest');
    assert.equal(c, 'v5', 'clear() forgot c');
  });
});
