// The copy benchmark's network model (bench/support/network-model.ts) in front of a plain HTTP
// server: it forwards faithfully, counts what went through, and never lets an exchange go faster
// than the model allows. Only lower bounds on time are asserted: a loaded machine can make an
// exchange slower, never faster, so these cannot fail for load.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Agent, createServer, request, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { exchangeSmall, preconnect } from '../../lambdas/adapters/http-exchange';
import {
  physicalLimitMs,
  startNetworkProxy,
  summarizeTimeline,
  UNAVOIDABLE_ROUND_TRIPS,
  type NetworkModel,
} from '../../bench/support/network-model';

const MiB = 1024 * 1024;
/** A model whose bandwidth never binds: only its round trips show. */
const roundTripsOnly = (rttMs: number): NetworkModel => ({
  rttMs,
  connectionBytesPerSecond: 1000 * MiB,
  totalBytesPerSecond: 1000 * MiB,
});
const BODY = randomBytes(MiB);

/** Echoes a request body's length; GET /blob answers BODY. */
function startUpstream(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if ((req.method === 'GET' || req.method === 'HEAD') && req.url === '/blob') {
      res
        .writeHead(200, {
          'content-length': String(BODY.length),
          'x-authorization': req.headers.authorization ?? 'none',
        })
        .end(BODY);
      return;
    }
    let length = 0;
    req.on('data', (chunk: Buffer) => (length += chunk.length));
    req.on('end', () => res.writeHead(201, { 'x-received': String(length) }).end());
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address !== 'object') throw new Error('no address');
      resolve({ server, url: `http://127.0.0.1:${address.port}` });
    }),
  );
}

/** One exchange; resolves with status, a header and the body length, and how long it took. */
function exchange(
  url: string,
  method: string,
  agent: Agent,
  body?: Buffer,
  headers: Record<string, string> = {},
): Promise<{
  status: number;
  received: string | undefined;
  length: number;
  ms: number;
  headers: Record<string, string | string[] | undefined>;
}> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent, headers }, (res) => {
      let length = 0;
      res.on('data', (chunk: Buffer) => (length += chunk.length));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          received: res.headers['x-received'] as string | undefined,
          length,
          ms: performance.now() - started,
          headers: res.headers,
        }),
      );
    });
    req.once('error', reject);
    req.end(body);
  });
}

describe('network model', () => {
  let upstream: { server: Server; url: string };
  before(async () => {
    upstream = await startUpstream();
  });
  after(() => {
    upstream.server.close();
  });

  it('forwards bodies both ways unchanged and counts requests, connections and bytes', async () => {
    // Prepare
    const proxy = await startNetworkProxy(upstream.url, roundTripsOnly(0));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // Act
      const get = await exchange(`${proxy.url}/blob`, 'GET', agent);
      const put = await exchange(`${proxy.url}/upload`, 'PUT', agent, BODY);
      const head = await exchange(`${proxy.url}/blob`, 'HEAD', agent);
      // Assess
      assert.deepEqual([get.status, get.length], [200, MiB]);
      assert.deepEqual([put.status, put.received], [201, String(MiB)]);
      assert.deepEqual([head.status, head.length], [200, 0]);
      const stats = proxy.stats();
      assert.deepEqual(
        { ...stats, methods: { ...stats.methods } },
        { requests: 3, connections: 1, bytesUp: MiB, bytesDown: MiB, methods: { GET: 1, PUT: 1, HEAD: 1 } },
      );
    } finally {
      agent.destroy();
      await proxy.stop();
    }
  });

  it('adds a round trip to every answer and one more for a new connection', async () => {
    // Prepare
    const model = roundTripsOnly(150);
    const proxy = await startNetworkProxy(upstream.url, model);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // Act
      const first = await exchange(`${proxy.url}/blob`, 'HEAD', agent);
      const second = await exchange(`${proxy.url}/blob`, 'HEAD', agent);
      // Assess (timers may fire a millisecond early)
      assert.ok(first.ms >= 2 * model.rttMs - 2, `first answer after ${first.ms} ms`);
      assert.ok(second.ms >= model.rttMs - 2, `second answer after ${second.ms} ms`);
      assert.equal(proxy.stats().connections, 1);
    } finally {
      agent.destroy();
      await proxy.stop();
    }
  });

  it('charges no handshake to the first request on a connection opened a round trip before it', async () => {
    // Prepare: a connection opened ahead (http-exchange's preconnect), then left for more than the
    // handshake's round trip (waiting longer can only leave less of it to pay).
    const model = roundTripsOnly(50);
    const proxy = await startNetworkProxy(upstream.url, model);
    const url = new URL(`${proxy.url}/blob`);
    const opened = preconnect(url, 1);
    try {
      await sleep(3 * model.rttMs);
      // Act
      const answer = await exchangeSmall(url, { method: 'HEAD', headers: {}, idleTimeoutMs: 30_000 }, 0);
      // Assess: one connection, its first exchange charged the round trip alone
      assert.equal(answer.status, 200);
      const [entry] = proxy.timeline();
      assert.deepEqual([entry?.first, entry?.handshakeMs, proxy.stats().connections], [true, 0, 1]);
    } finally {
      opened.close();
      await proxy.stop();
    }
  });

  it('caps each connection, and all connections together, each way', async () => {
    // Prepare: 1 MiB at 4 MiB/s is 250 ms on one connection; two at once under a 4 MiB/s total
    // are 500 ms even though each connection alone may go at 100 MiB/s.
    const perConnection = await startNetworkProxy(upstream.url, {
      rttMs: 0,
      connectionBytesPerSecond: 4 * MiB,
      totalBytesPerSecond: 1000 * MiB,
    });
    const shared = await startNetworkProxy(upstream.url, {
      rttMs: 0,
      connectionBytesPerSecond: 100 * MiB,
      totalBytesPerSecond: 4 * MiB,
    });
    const agent = new Agent({ keepAlive: false });
    try {
      // Act
      const down = await exchange(`${perConnection.url}/blob`, 'GET', agent);
      const up = await exchange(`${perConnection.url}/upload`, 'PUT', agent, BODY);
      const started = performance.now();
      const both = await Promise.all([
        exchange(`${shared.url}/blob`, 'GET', agent),
        exchange(`${shared.url}/upload`, 'PUT', agent, BODY),
        exchange(`${shared.url}/blob`, 'GET', agent),
      ]);
      const sharedMs = performance.now() - started;
      // Assess: less 20 ms of burst a stream may catch up with
      assert.equal(down.length, MiB);
      assert.ok(down.ms >= 250 - 25, `1 MiB down at 4 MiB/s in ${down.ms} ms`);
      assert.ok(up.ms >= 250 - 25, `1 MiB up at 4 MiB/s in ${up.ms} ms`);
      // Two downloads share the downward budget; the upload has its own (full duplex).
      assert.deepEqual(
        both.map((b) => b.status),
        [200, 201, 200],
      );
      assert.ok(sharedMs >= 500 - 25, `2 MiB down at 4 MiB/s in total in ${sharedMs} ms`);
    } finally {
      agent.destroy();
      await Promise.all([perConnection.stop(), shared.stop()]);
    }
  });

  it('records every exchange in a timeline: its connection, whether it opened it, and when', async () => {
    // Prepare
    const proxy = await startNetworkProxy(upstream.url, roundTripsOnly(5));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const other = new Agent({ keepAlive: false });
    const digest = `sha256:${'ab'.repeat(32)}`;
    try {
      // Act
      const start = performance.now();
      await exchange(`${proxy.url}/blob`, 'GET', agent);
      await exchange(`${proxy.url}/v2/r/blobs/uploads/0123456789abcdef?digest=${digest}`, 'PUT', agent, BODY);
      await exchange(`${proxy.url}/v2/r/blobs/${digest}`, 'HEAD', other); // the upstream's 201
      // Assess
      const timeline = proxy.timeline();
      assert.deepEqual(
        timeline.map((e) => [e.connection, e.first, e.method, e.status, e.path]),
        [
          [1, true, 'GET', 200, '/blob'],
          [1, false, 'PUT', 201, '/v2/r/blobs/uploads/01234567?digest'],
          [2, true, 'HEAD', 201, `/v2/r/blobs/sha256:${'ab'.repeat(6)}`],
        ],
      );
      for (const e of timeline) {
        assert.ok(start <= e.arrived && e.arrived <= e.sent, 'arrived, then sent on');
        assert.ok(e.sent <= e.upstream, 'then answered upstream');
        assert.ok(e.upstream <= e.head && e.head <= e.done, 'then the head, then the last byte');
      }
      // The two first exchanges came as their connections opened: each waited for the handshake
      // (up to one round trip; a loaded machine may have taken part of it before they arrived).
      assert.deepEqual(
        timeline.map((e) => e.handshakeMs <= 5),
        [true, true, true],
      );
      assert.equal(timeline[1]!.handshakeMs, 0);
      const summary = summarizeTimeline([], timeline, start, 5);
      assert.deepEqual([summary.requests, summary.peakInFlight], [3, 1]);
      assert.ok(summary.handshakes <= 2, `${summary.handshakes} handshakes`);
      assert.equal(summary.blobsToMs, timeline[1]!.done - start);
    } finally {
      agent.destroy();
      other.destroy();
      await proxy.stop();
    }
  });

  it('asks for basic credentials itself and forwards without them', async () => {
    // Prepare
    const credentials = { username: 'AWS', password: 'token' };
    const proxy = await startNetworkProxy(upstream.url, roundTripsOnly(0), { credentials });
    const agent = new Agent({ keepAlive: true });
    const basic = (user: string, password: string): Record<string, string> => ({
      authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
    });
    try {
      // Act
      const without = await exchange(`${proxy.url}/blob`, 'GET', agent);
      const wrong = await exchange(`${proxy.url}/blob`, 'GET', agent, undefined, basic('AWS', 'other'));
      const right = await exchange(`${proxy.url}/blob`, 'GET', agent, undefined, basic('AWS', 'token'));
      // Assess
      assert.equal(without.status, 401);
      assert.equal(without.headers['www-authenticate'], 'Basic realm="network-model"');
      assert.equal(wrong.status, 401);
      assert.deepEqual([right.status, right.length], [200, MiB]);
      assert.equal(right.headers['x-authorization'], 'none', 'the credentials stop at the proxy');
      assert.equal(proxy.stats().requests, 3);
    } finally {
      agent.destroy();
      await proxy.stop();
    }
  });

  it('models the physical limit as the bytes over the binding cap plus the round-trip chain', () => {
    const model: NetworkModel = {
      rttMs: 20,
      connectionBytesPerSecond: 25 * MiB,
      totalBytesPerSecond: 100 * MiB,
    };
    // 5 x 64 MiB: 320 MiB over the 100 MiB/s total.
    assert.equal(physicalLimitMs(Array(5).fill(64 * MiB), model), 3200 + UNAVOIDABLE_ROUND_TRIPS * 20);
    // 1 x 64 MiB: one connection's 25 MiB/s binds.
    assert.equal(physicalLimitMs([64 * MiB], model), 2560 + UNAVOIDABLE_ROUND_TRIPS * 20);
  });

  it('refuses anything but a loopback upstream and a model without positive caps', async () => {
    const model: NetworkModel = { rttMs: 0, connectionBytesPerSecond: MiB, totalBytesPerSecond: MiB };
    await assert.rejects(startNetworkProxy('http://example.com', model), /127\.0\.0\.1 only/);
    await assert.rejects(
      startNetworkProxy(upstream.url, { ...model, totalBytesPerSecond: 0 }),
      /totalBytesPerSecond must be a positive number/,
    );
  });
});
