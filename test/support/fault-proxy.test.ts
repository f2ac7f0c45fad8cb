// The fault proxy itself, in front of a real registry: it forwards faithfully when no rule applies,
// and each fault really happens (and is counted) when one does.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy, type FaultRule, type ProxiedRequest } from './fault-proxy';
import { inspectRaw, pushRandomImage, sha256 } from './images';
import { startRegistry, type RegistryServer } from './registry-server';

const BLOB = randomBytes(300 * 1024);
const BLOB_DIGEST = sha256(BLOB);
const BLOB_PATH = `/v2/proxy/test/blobs/${BLOB_DIGEST}`;

/** POST an upload session, then PUT the whole blob into it (returns the PUT's status). */
async function uploadBlob(base: string, repository: string, blob: Buffer): Promise<number> {
  const start = await fetch(`${base}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  await start.arrayBuffer();
  assert.equal(start.status, 202);
  const location = new URL(start.headers.get('location') ?? '', base);
  location.searchParams.set('digest', sha256(blob));
  const put = await fetch(location, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: blob,
  });
  await put.arrayBuffer();
  return put.status;
}

async function readAll(url: string, init?: RequestInit): Promise<{ status: number; body: Buffer }> {
  const response = await fetch(url, init);
  return { status: response.status, body: Buffer.from(await response.arrayBuffer()) };
}

describe('fault proxy', () => {
  let registry: RegistryServer;
  let proxy: FaultProxy;
  before(async () => {
    registry = await startRegistry({ auth: false });
    proxy = await startFaultProxy({ upstream: registry.url });
    // Straight to the registry: the blob every case reads.
    assert.equal(await uploadBlob(registry.url, 'proxy/test', BLOB), 201);
  });
  after(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  it('forwards an image push and pull by an independent client unchanged', async () => {
    // Prepare
    proxy.setRules([]);
    // Act
    const pushed = await pushRandomImage(`${proxy.host}/proxy/image:1`, undefined, { layers: [200_000] });
    const raw = await inspectRaw(`${proxy.host}/proxy/image:1`);
    // Assess
    assert.equal(sha256(raw), pushed.digest);
    const methods = new Set(proxy.requests().map((r) => r.method));
    for (const method of ['POST', 'PUT', 'GET', 'HEAD']) assert.ok(methods.has(method), method);
    assert.ok(proxy.requests().every((r) => r.fault === undefined));
  });

  it('resets the connection mid-body after N bytes, then lets the next request through', async () => {
    // Prepare
    proxy.setRules([
      {
        name: 'reset',
        methods: ['GET'],
        path: /\/blobs\/sha256:/,
        times: 1,
        action: { kind: 'reset-response', afterBytes: 64 * 1024 },
      },
    ]);
    // Act
    const first = await readAll(`${proxy.url}${BLOB_PATH}`).then(
      () => undefined,
      (e: unknown) => e,
    );
    const second = await readAll(`${proxy.url}${BLOB_PATH}`);
    // Assess
    assert.ok(first instanceof Error, 'the first read must fail');
    assert.equal(second.status, 200);
    assert.ok(second.body.equals(BLOB));
    assert.deepEqual(proxy.stats('reset'), { matched: 2, injected: 1, early: 0 });
    const [cut] = proxy.requests().filter((r) => r.fault === 'reset');
    assert.equal(cut?.responseBytes, 64 * 1024);
  });

  it('flips exactly one bit of the body when told to corrupt it', async () => {
    proxy.setRules([
      { name: 'corrupt', path: /\/blobs\//, times: 1, action: { kind: 'corrupt-response', atByte: 1000 } },
    ]);
    const { status, body } = await readAll(`${proxy.url}${BLOB_PATH}`);
    assert.equal(status, 200);
    assert.equal(body.length, BLOB.length);
    const differing = [...body.keys()].filter((i) => body[i] !== BLOB[i]);
    assert.deepEqual(differing, [1000]);
  });

  const statusCases: readonly {
    readonly name: string;
    readonly rule: FaultRule;
    readonly statuses: readonly number[];
    readonly retryAfter: string | null;
  }[] = [
    {
      name: '429 with Retry-After on the first two requests',
      rule: {
        name: 'limit',
        path: /\/blobs\//,
        times: 2,
        action: { kind: 'status', status: 429, retryAfterSeconds: 1 },
      },
      statuses: [429, 429, 200],
      retryAfter: '1',
    },
    {
      name: 'a 503 burst after one good request',
      rule: { name: 'burst', path: /\/blobs\//, skip: 1, times: 2, action: { kind: 'status', status: 503 } },
      statuses: [200, 503, 503, 200],
      retryAfter: null,
    },
    {
      name: 'only the listed methods',
      rule: {
        name: 'head-only',
        methods: ['HEAD'],
        path: /\/blobs\//,
        action: { kind: 'status', status: 503 },
      },
      statuses: [200, 200],
      retryAfter: null,
    },
  ];
  for (const c of statusCases) {
    it(`answers ${c.name}`, async () => {
      // Prepare
      proxy.setRules([c.rule]);
      // Act
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < c.statuses.length; i += 1) {
        const response = await fetch(`${proxy.url}${BLOB_PATH}`);
        await response.arrayBuffer();
        statuses.push(response.status);
        if (response.status === 429) retryAfter = response.headers.get('retry-after');
      }
      // Assess
      assert.deepEqual(statuses, c.statuses);
      assert.equal(retryAfter, c.retryAfter);
      const injected = c.statuses.filter((s) => s !== 200).length;
      assert.equal(proxy.stats(c.rule.name).injected, injected);
    });
  }

  it('counts retries that come back before Retry-After as early, and later ones not', async () => {
    // Prepare
    proxy.setRules([
      {
        name: 'limit',
        path: /\/blobs\//,
        times: 2,
        action: { kind: 'status', status: 429, retryAfterSeconds: 1 },
      },
    ]);
    // Act: one retry at once (early), one after the announced second (on time).
    for (const wait of [0, 0, 1100]) {
      await sleep(wait);
      await (await fetch(`${proxy.url}${BLOB_PATH}`)).arrayBuffer();
    }
    // Assess
    assert.deepEqual(proxy.stats('limit'), { matched: 3, injected: 2, early: 1 });
  });

  it('loses the answer to a forwarded request: the registry did the work, the client sees 503', async () => {
    // Prepare
    const blob = randomBytes(1000);
    proxy.setRules([
      {
        name: 'lost',
        methods: ['PUT'],
        path: /\/blobs\/uploads\/./,
        action: { kind: 'status', status: 503, forward: true },
      },
    ]);
    // Act
    const status = await uploadBlob(proxy.url, 'proxy/test', blob);
    const stored = await fetch(`${registry.url}/v2/proxy/test/blobs/${sha256(blob)}`, { method: 'HEAD' });
    // Assess
    assert.equal(status, 503);
    assert.equal(stored.status, 200);
    assert.equal(proxy.stats('lost').injected, 1);
  });

  it('resets an upload after N request bytes, and the registry never gets the blob', async () => {
    // Prepare
    const blob = randomBytes(256 * 1024);
    proxy.setRules([
      {
        name: 'cut-upload',
        methods: ['PUT'],
        path: /\/blobs\/uploads\/./,
        action: { kind: 'reset-request', afterBytes: 64 * 1024 },
      },
    ]);
    // Act
    const outcome = await uploadBlob(proxy.url, 'proxy/test', blob).then(
      (status) => status,
      (e: unknown) => e,
    );
    const stored = await fetch(`${registry.url}/v2/proxy/test/blobs/${sha256(blob)}`, { method: 'HEAD' });
    // Assess
    assert.ok(outcome instanceof Error, `expected a reset, got ${String(outcome)}`);
    assert.equal(stored.status, 404);
    assert.equal(proxy.stats('cut-upload').injected, 1);
    const [cut] = proxy.requests().filter((r) => r.fault === 'cut-upload');
    assert.ok((cut?.requestBytes ?? 0) >= 64 * 1024);
  });

  // A throttle's correctness check, not a speed target: a capped body cannot arrive sooner than
  // its size allows (lower bound only; a loaded machine may always be slower).
  const MB = 1_000_000;
  const capCases: readonly {
    readonly name: string;
    readonly bytesPerSecond: number;
    readonly transfer: (blob: Buffer) => Promise<ProxiedRequest | undefined>;
    readonly bytesOf: (request: ProxiedRequest) => number;
  }[] = [
    {
      name: 'a response body (blob GET)',
      bytesPerSecond: 4 * MB,
      transfer: async (blob) => {
        assert.equal(await uploadBlob(registry.url, 'proxy/test', blob), 201);
        const { status, body } = await readAll(`${proxy.url}/v2/proxy/test/blobs/${sha256(blob)}`);
        assert.equal(status, 200);
        assert.ok(body.equals(blob), 'the body arrives intact');
        return proxy.requests().find((r) => r.method === 'GET');
      },
      bytesOf: (request) => request.responseBytes,
    },
    {
      name: 'a request body (monolithic blob PUT)',
      bytesPerSecond: 4 * MB,
      transfer: async (blob) => {
        assert.equal(await uploadBlob(proxy.url, 'proxy/test', blob), 201);
        const stored = await readAll(`${registry.url}/v2/proxy/test/blobs/${sha256(blob)}`);
        assert.ok(stored.body.equals(blob), 'the registry stored the body intact');
        return proxy.requests().find((r) => r.method === 'PUT');
      },
      bytesOf: (request) => request.requestBytes,
    },
  ];
  for (const c of capCases) {
    it(`caps ${c.name} at the set bandwidth`, async () => {
      // Prepare
      const blob = randomBytes(2 * MB);
      proxy.setRules([]);
      proxy.setBandwidth(c.bytesPerSecond);
      try {
        // Act
        const request = await c.transfer(blob);
        // Assess: 2 MB at 4 MB/s is 0.5 s; the throttle allows a 50 ms burst.
        assert.ok(request !== undefined, 'the proxy logged the transfer');
        assert.equal(c.bytesOf(request), blob.length);
        const floorMs = (blob.length / c.bytesPerSecond) * 1000 - 100;
        assert.ok(
          request.ms >= floorMs,
          `${blob.length} bytes took ${request.ms} ms, expected >= ${floorMs} ms`,
        );
      } finally {
        proxy.setBandwidth(undefined);
      }
    });
  }

  it('refuses a bandwidth that is not a positive number', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => proxy.setBandwidth(bad), /positive number/, String(bad));
    }
  });

  it('refuses to forward anywhere but loopback', async () => {
    await assert.rejects(startFaultProxy({ upstream: 'http://example.com:5000' }), /127\.0\.0\.1 only/);
  });
});
