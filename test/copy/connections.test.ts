// The connections a copy opens, counted by fault proxies in front of both registries: while the
// blob checks are under way the engine opens the connections its first transfers will use (so
// they do not wait for a handshake after the checks), never more than the checks and transfer
// slots can use at once; a copy with nothing to transfer opens none of them; and whatever no
// request took is closed when the copy ends, also when it fails. Counts only, never durations:
// the destination's blob checks are held until the test has looked.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../lambdas/adapters/registry-client';
import { copyImage, type CopyImageOptions } from '../../lambdas/copy/copy-image';
import { parseImageRef } from '../../lambdas/core/image-ref';
import { startFaultProxy, type FaultProxy, type ProxyConnection } from '../support/fault-proxy';
import { pushRandomImage } from '../support/images';
import { startRegistry, type RegistryServer } from '../support/registry-server';

const FAST_RETRY = { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 };
const BLOB_HEAD = /\/blobs\/sha256:/;
/** 20 small layers and the config: 21 blobs, more than the 6 check slots below. */
const LAYERS = Array.from({ length: 20 }, (_, i) => 1000 + i);
/** One large slot, three small ones: CHECKS_PER_SLOT (2) x 3 = 6 blob checks at once. */
const JOBS = { blobJobs: 1, smallBlobJobs: 3 } as const;
const CHECKS = 6;

/** Waits (generously: a loaded machine is slow, never wrong) until `condition` holds. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`never happened: ${what}`);
    await sleep(20);
  }
}

/** Open connections that never carried a request: pre-opened ones nobody took. */
const idleOpen = (connections: readonly ProxyConnection[]): number =>
  connections.filter((c) => c.open && c.requests === 0).length;

/** Holds every blob check (HEAD) at `proxy` until the returned function is called. */
function holdBlobChecks(proxy: FaultProxy): () => void {
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  proxy.setRules([
    { name: 'checks', methods: ['HEAD'], path: BLOB_HEAD, action: { kind: 'hold', until: released } },
  ]);
  return release;
}

describe('copy engine connections', () => {
  let src: RegistryServer;
  let dst: RegistryServer;
  const proxies: FaultProxy[] = [];
  before(async () => {
    [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
    await pushRandomImage(`${src.host}/conn/app:1`, src, { layers: LAYERS });
  });
  after(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
    await Promise.all([src?.stop(), dst?.stop()]);
  });

  /** Fresh proxies for each case: no connection of an earlier case is in the pool for them. */
  async function proxied(): Promise<{ srcProxy: FaultProxy; dstProxy: FaultProxy }> {
    const [srcProxy, dstProxy] = await Promise.all([
      startFaultProxy({ upstream: src.url }),
      startFaultProxy({ upstream: dst.url }),
    ]);
    proxies.push(srcProxy, dstProxy);
    return { srcProxy, dstProxy };
  }

  /** Copies conn/app:1 through the proxies to `repository`, tagged `tag`. */
  function copy(
    srcProxy: FaultProxy,
    dstProxy: FaultProxy,
    repository: string,
    extra: Partial<CopyImageOptions> = {},
    tag = '1',
  ): ReturnType<typeof copyImage> {
    return copyImage({
      source: parseImageRef(`${srcProxy.host}/conn/app:1`),
      destination: parseImageRef(`${dstProxy.host}/${repository}:${tag}`),
      sourceRegistry: new RegistryClient({ registry: srcProxy.host, credentials: src, retry: FAST_RETRY }),
      destinationRegistry: new RegistryClient({
        registry: dstProxy.host,
        credentials: dst,
        retry: FAST_RETRY,
      }),
      referrers: false,
      ...JOBS,
      ...extra,
    });
  }

  it('opens the first transfers’ connections while the checks run, at most checks + slots', async () => {
    // Prepare: every blob check at the destination held until the test has counted.
    const { srcProxy, dstProxy } = await proxied();
    const release = holdBlobChecks(dstProxy);
    // Act
    const copying = copy(srcProxy, dstProxy, 'conn/cold');
    try {
      // Assess, while no check is answered: at the source one connection for each small-blob
      // slot (the manifest's one among them), though no blob read can have been sent yet; at
      // the destination the 6 checks' and the 3 transfers' (the ping's among them). The old
      // engine opened them only as the first transfers went, after the checks.
      await until(
        () => srcProxy.connections().length >= JOBS.smallBlobJobs,
        'source connections opened ahead',
      );
      await until(
        () => dstProxy.connections().length >= CHECKS + JOBS.smallBlobJobs,
        'destination connections',
      );
      assert.equal(idleOpen(srcProxy.connections()), JOBS.smallBlobJobs - 1);
      assert.equal(srcProxy.requests().filter((r) => r.url.includes('/blobs/')).length, 0);
    } finally {
      release();
    }
    const result = await copying;
    // Never more than the slots (source) and the checks + slots (destination); none left idle.
    assert.equal(result.blobs.copied, LAYERS.length + 1);
    assert.ok(
      srcProxy.connections().length <= JOBS.smallBlobJobs,
      `${srcProxy.connections().length} at the source`,
    );
    assert.ok(
      dstProxy.connections().length <= CHECKS + JOBS.smallBlobJobs,
      `${dstProxy.connections().length} at the destination`,
    );
    await until(
      () => idleOpen([...srcProxy.connections(), ...dstProxy.connections()]) === 0,
      'idle ones closed',
    );
  });

  it('opens no connection beyond its requests’ own when nothing is to be copied', async () => {
    // Prepare: the image already at the destination under its tag (a no-op), and under another
    // tag whose blobs are all there (only the manifest goes up).
    const first = await proxied();
    await copy(first.srcProxy, first.dstProxy, 'conn/present');
    for (const [repository, tag] of [
      ['conn/present', 'noop'],
      ['conn/present', 'retag'],
    ] as const) {
      const { srcProxy, dstProxy } = await proxied();
      // Act
      const result = await copy(srcProxy, dstProxy, repository, {}, tag === 'noop' ? '1' : 'other');
      // Assess: the no-op's source and destination each one connection, every one carried
      // requests; the re-tag's idle ones (its checks found every blob) are closed.
      assert.equal(result.blobs.copied, 0);
      if (tag === 'noop') {
        assert.equal(result.alreadyPresent, true);
        assert.deepEqual(
          [srcProxy.connections().length, dstProxy.connections().length, idleOpen(srcProxy.connections())],
          [1, 1, 0],
        );
      } else {
        await until(() => idleOpen([...srcProxy.connections(), ...dstProxy.connections()]) === 0, 'closed');
        assert.ok(dstProxy.connections().length <= CHECKS + JOBS.smallBlobJobs);
      }
    }
  });

  it('closes the connections no request took when the copy fails', async () => {
    // Prepare: the checks held; the copy is ended (as a deadline ends it) once the connections
    // for its transfers are open.
    const { srcProxy, dstProxy } = await proxied();
    const release = holdBlobChecks(dstProxy);
    const deadline = new AbortController();
    const copying = copy(srcProxy, dstProxy, 'conn/failed', { signal: deadline.signal });
    await until(() => srcProxy.connections().length >= JOBS.smallBlobJobs, 'source connections opened ahead');
    assert.ok(idleOpen(srcProxy.connections()) > 0);
    // Act
    deadline.abort(new Error('deadline'));
    await assert.rejects(copying, /deadline/);
    release();
    // Assess: nothing pre-opened stays open at either registry
    await until(
      () => idleOpen([...srcProxy.connections(), ...dstProxy.connections()]) === 0,
      'idle ones closed',
    );
  });
});
