// How the copy engine schedules blobs, seen from a proxy in front of the destination: existence
// checks do not wait for transfer slots, and small blobs go in slots of their own when given
// (smallBlobJobs). Every upload answer is held back, so transfers are slow and their overlap is
// visible in the proxy's log; the assertions are on order and overlap, never on durations.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../lambdas/adapters/registry-client';
import { copyImage, SMALL_BLOB_BYTES } from '../../lambdas/copy/copy-image';
import { parseImageRef } from '../../lambdas/core/image-ref';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from '../support/fault-proxy';
import { inspectRaw, pushRandomImage, sha256 } from '../support/images';
import { startRegistry, type RegistryServer } from '../support/registry-server';

const FAST_RETRY = { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 };
/** Blob upload PUTs (the one that carries a small blob's bytes, or closes a PATCH). */
const UPLOAD_PUT = /\/blobs\/uploads\/./;
const BLOB_HEAD = /\/blobs\/sha256:/;

/** The most requests of `log` that were in flight at one moment. */
function peakOverlap(log: readonly ProxiedRequest[]): number {
  const edges = log.flatMap((r) => [
    { at: r.arrivedAt, step: 1 },
    { at: r.arrivedAt + r.ms, step: -1 },
  ]);
  // An end before a start at the same millisecond: touching is not overlapping.
  edges.sort((a, b) => a.at - b.at || a.step - b.step);
  let current = 0;
  let peak = 0;
  for (const edge of edges) {
    current += edge.step;
    peak = Math.max(peak, current);
  }
  return peak;
}

describe('copy engine blob scheduling', () => {
  let src: RegistryServer;
  let dst: RegistryServer;
  let proxy: FaultProxy;
  before(async () => {
    [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
    proxy = await startFaultProxy({ upstream: dst.url });
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all([src?.stop(), dst?.stop()]);
  });

  async function copyThroughProxy(
    repository: string,
    jobs: { blobJobs: number; smallBlobJobs?: number },
  ): Promise<string> {
    const result = await copyImage({
      source: parseImageRef(`${src.host}/${repository}:1`),
      destination: parseImageRef(`${proxy.host}/${repository}:1`),
      sourceRegistry: new RegistryClient({ registry: src.host, credentials: src, retry: FAST_RETRY }),
      destinationRegistry: new RegistryClient({ registry: proxy.host, credentials: dst, retry: FAST_RETRY }),
      referrers: false,
      ...jobs,
    });
    return result.digest;
  }

  it('checks every blob at the destination while the first transfer still runs', async () => {
    // Prepare: one transfer slot, and every upload's answer held for 1 s.
    const pushed = await pushRandomImage(`${src.host}/sched/checks:1`, src, {
      layers: [10_000, 20_000, 30_000, 40_000, 50_000],
    });
    proxy.setRules([
      { name: 'slow-upload', methods: ['PUT'], path: UPLOAD_PUT, action: { kind: 'delay', ms: 1000 } },
    ]);
    // Act
    const digest = await copyThroughProxy('sched/checks', { blobJobs: 1 });
    // Assess: config and five layers checked, all before the first upload was answered (with the
    // check inside the transfer slot, the second blob's HEAD came only after the first upload).
    assert.equal(digest, pushed.digest);
    const log = proxy.requests();
    const heads = log.filter((r) => r.method === 'HEAD' && BLOB_HEAD.test(r.url));
    const firstUploadDone = Math.min(
      ...log.filter((r) => r.method === 'PUT' && UPLOAD_PUT.test(r.url)).map((r) => r.arrivedAt + r.ms),
    );
    assert.equal(heads.length, 6);
    assert.deepEqual(
      heads.filter((r) => r.arrivedAt >= firstUploadDone).map((r) => r.url),
      [],
      'blob checks that waited for a transfer',
    );
    // Still one transfer at a time.
    assert.equal(peakOverlap(log.filter((r) => r.method === 'PUT' && UPLOAD_PUT.test(r.url))), 1);
    assert.equal(sha256(await inspectRaw(`${dst.host}/sched/checks:1`, dst)), pushed.digest);
  });

  it('moves small blobs in slots of their own, never more than smallBlobJobs at once', async () => {
    // Prepare: eight small layers and one of SMALL_BLOB_BYTES (not small: it takes the one
    // blobJobs slot); every upload's answer held for 500 ms.
    const pushed = await pushRandomImage(`${src.host}/sched/small:1`, src, {
      layers: [...Array.from({ length: 8 }, (_, i) => 1000 * (i + 1)), SMALL_BLOB_BYTES],
    });
    proxy.setRules([
      { name: 'slow-upload', methods: ['PUT'], path: UPLOAD_PUT, action: { kind: 'delay', ms: 500 } },
    ]);
    // Act
    const digest = await copyThroughProxy('sched/small', { blobJobs: 1, smallBlobJobs: 3 });
    // Assess: up to 3 small uploads beside the large one (its POST/PATCH/PUT are one transfer).
    assert.equal(digest, pushed.digest);
    const uploads = proxy.requests().filter((r) => r.method === 'PUT' && UPLOAD_PUT.test(r.url));
    assert.equal(uploads.length, 10, 'config, eight small layers, the large one');
    const peak = peakOverlap(uploads);
    assert.ok(peak >= 2, `small blobs went one at a time (peak ${peak})`);
    assert.ok(peak <= 4, `more than smallBlobJobs + blobJobs uploads at once (peak ${peak})`);
    assert.equal(sha256(await inspectRaw(`${dst.host}/sched/small:1`, dst)), pushed.digest);
  });
});
