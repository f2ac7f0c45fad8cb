// A network between the copier and one registry, modelled on loopback: an HTTP proxy in front of
// the registry that makes every exchange pay what a real link charges, so a copy's time is decided
// by its round trips and its use of the bandwidth, not by this machine's CPU (on bare loopback the
// two registries alone use ~1.4 CPU-s of the 2 cores per 320 MiB copied).
// - Round trip: every answer's head leaves the proxy `rttMs` after the registry answered (the
//   request's way there and the answer's way back), and a new connection's handshake takes one
//   more from the moment it was opened (plain HTTP, so no TLS round trips, which ECR would add):
//   a request sent at once on it pays it whole, one sent on a connection opened a round trip
//   before (pre-opened, or reused) pays nothing for it.
// - Bandwidth, both ways separately (full duplex): each connection at most
//   `connectionBytesPerSecond` (one TCP stream's ceiling), and all connections of this proxy
//   together at most `totalBytesPerSecond` (the copier's link to that registry). Bodies go in
//   slices, each when both budgets allow; a stream may catch up at most MAX_BURST_MS of bytes.
// It never holds more than one chunk of a body (backpressure reaches both ends). It counts
// requests, connections and body bytes, so a benchmark can say what a copy sent.
// Benchmark support only: it must never listen on or forward to anything but 127.0.0.1.
import {
  Agent,
  createServer,
  request as forwardRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from 'node:http';
import type { Socket } from 'node:net';
import { Transform, type Readable, type TransformCallback } from 'node:stream';

export interface NetworkModel {
  /** Added to every exchange, and once more to the first on a new connection (counted from when
   * the connection was opened: the handshake). */
  readonly rttMs: number;
  /** One connection's ceiling, each way. */
  readonly connectionBytesPerSecond: number;
  /** All connections to this registry together, each way. */
  readonly totalBytesPerSecond: number;
}

export interface NetworkStats {
  readonly requests: number;
  /** TCP connections the client opened (each a handshake round trip, paid by its first request
   * unless the connection was opened a round trip or more before it). */
  readonly connections: number;
  /** Request body bytes (client to registry) and answer body bytes (registry to client). */
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** Requests by method, e.g. { HEAD: 101, PUT: 102 }. */
  readonly methods: Readonly<Record<string, number>>;
}

/** One exchange through the proxy, times in ms of performance.now() (this process's clock). */
export interface TimelineEntry {
  /** Which connection it came on, numbered from 1 in the order they were opened. */
  readonly connection: number;
  /** Whether it was the first on its connection. */
  readonly first: boolean;
  /** How long its answer waited for its connection's handshake: one round trip for a request sent
   * as the connection opened, less for one sent later (a pre-opened connection), else 0. */
  readonly handshakeMs: number;
  readonly method: string;
  /** The path, with digests and upload ids shortened to their first characters. */
  readonly path: string;
  readonly status: number;
  /** Its head arrived at the proxy. */
  readonly arrived: number;
  /** Its body (if any) was through to the registry, paced by the model. */
  readonly sent: number;
  /** The registry's answer head arrived. */
  readonly upstream: number;
  /** The answer's head left the proxy (after the modelled round trip). */
  readonly head: number;
  /** The answer's last byte left the proxy. */
  readonly done: number;
}

/** What the proxy itself checks before anything reaches the registry. */
export interface NetworkProxyOptions {
  /**
   * Basic credentials the proxy asks for (401 with a Basic challenge, after the modelled round
   * trip, to a request without them), so that the registry behind it can run without any: ECR
   * checks a token per request, docker-registry's htpasswd runs a bcrypt per request (~1.5 ms of
   * CPU here), which on a shared 2-core machine is the machine's cost, not the network's. The
   * Authorization header is not forwarded.
   */
  readonly credentials?: { readonly username: string; readonly password: string };
}

export interface NetworkProxy {
  /** `127.0.0.1:PORT`: the registry part of references that go through the model. */
  readonly host: string;
  readonly url: string;
  stats(): NetworkStats;
  /** Every finished exchange so far, in the order they arrived. */
  timeline(): readonly TimelineEntry[];
  stop(): Promise<void>;
}

const MiB = 1024 * 1024;

/** The benchmark's defaults: see docs/benchmarks.md ("Network model"). */
export const DEFAULT_NETWORK_MODEL: NetworkModel = {
  rttMs: 20,
  connectionBytesPerSecond: 25 * MiB,
  totalBytesPerSecond: 100 * MiB,
};

const MIN_SLICE_BYTES = 4 * 1024;
const MAX_SLICE_BYTES = 64 * 1024;
const MAX_BURST_MS = 20;

/**
 * A budget in time: `paidUntil` is when every byte reserved so far has gone at `bytesPerSecond`.
 * Idle time is not saved up beyond MAX_BURST_MS.
 */
class Budget {
  private paidUntil = 0;

  constructor(private readonly bytesPerSecond: number) {}

  /** Reserves `bytes`; returns the earliest time (performance.now()) they may start. */
  reserve(bytes: number, now: number): number {
    this.paidUntil = Math.max(this.paidUntil, now - MAX_BURST_MS);
    const start = this.paidUntil;
    this.paidUntil += (bytes / this.bytesPerSecond) * 1000;
    return start;
  }
}

/** One direction of a link: the connection's own budget and the shared one. */
function pace(
  body: Readable,
  budgets: readonly Budget[],
  slice: number,
  counted: (n: number) => void,
): Transform {
  let timer: NodeJS.Timeout | undefined;
  const paced = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
      let offset = 0;
      const next = (): void => {
        timer = undefined;
        if (paced.destroyed) return;
        while (offset < chunk.length) {
          const piece = chunk.subarray(offset, offset + slice);
          const now = performance.now();
          const at = Math.max(...budgets.map((budget) => budget.reserve(piece.length, now)));
          offset += piece.length;
          counted(piece.length);
          if (at > now + 1) {
            // Sent once its time has come; the next slice is reserved then.
            timer = setTimeout(() => {
              paced.push(piece);
              next();
            }, at - now);
            return;
          }
          paced.push(piece);
        }
        done();
      };
      next();
    },
    destroy(error: Error | null, callback: (error: Error | null) => void): void {
      if (timer !== undefined) clearTimeout(timer);
      callback(error);
    },
  });
  body.once('error', (e: Error) => paced.destroy(e));
  return body.pipe(paced);
}

export async function startNetworkProxy(
  upstream: string,
  model: NetworkModel,
  options: NetworkProxyOptions = {},
): Promise<NetworkProxy> {
  const target = new URL(upstream);
  if (target.protocol !== 'http:' || target.hostname !== '127.0.0.1') {
    throw new Error(`network model forwards to http://127.0.0.1 only, not ${upstream}`);
  }
  for (const [name, value] of Object.entries(model)) {
    if (!(Number.isFinite(value) && value >= 0) || (name !== 'rttMs' && value === 0)) {
      throw new Error(`network model: ${name} must be a positive number, not ${value}`);
    }
  }
  const slice = (bytesPerSecond: number): number =>
    Math.max(MIN_SLICE_BYTES, Math.min(MAX_SLICE_BYTES, Math.floor(bytesPerSecond / 200)));
  const sliceBytes = slice(model.connectionBytesPerSecond);
  const totalUp = new Budget(model.totalBytesPerSecond);
  const totalDown = new Budget(model.totalBytesPerSecond);
  const links = new WeakMap<
    Socket,
    { id: number; up: Budget; down: Budget; answered: boolean; readonly opened: number }
  >();
  const timeline: { entry: TimelineEntry; order: number }[] = [];
  let arrivals = 0;
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const { credentials } = options;
  const expected =
    credentials === undefined
      ? undefined
      : `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
  const stats = { requests: 0, connections: 0, bytesUp: 0, bytesDown: 0 };
  const methods: Record<string, number> = {};

  const server: Server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    stats.requests++;
    methods[method] = (methods[method] ?? 0) + 1;
    const link = links.get(req.socket)!;
    const arrived = performance.now();
    const order = arrivals++;
    const first = !link.answered;
    // The request could not have left before the handshake was over (a round trip after the
    // connection was opened); on loopback it came at once, so its answer waits for the rest.
    const handshakeMs = Math.max(0, link.opened + model.rttMs - arrived);
    const delay = model.rttMs + handshakeMs;
    link.answered = true;
    let sent = Number.NaN;
    let upstream = Number.NaN;
    let head = Number.NaN;
    let status = 0;
    res.once('finish', () => {
      const path = shortPath(req.url ?? '/');
      const entry = {
        connection: link.id,
        first,
        handshakeMs,
        method,
        path,
        status,
        arrived,
        sent,
        upstream,
        head,
      };
      timeline.push({ entry: { ...entry, done: performance.now() }, order });
    });
    if (expected !== undefined && req.headers.authorization !== expected) {
      // What docker-registry's htpasswd answers (and ECR: Basic, realm the registry's).
      req.resume();
      setTimeout(() => {
        // Answered here at once: no registry time; the head leaves after the modelled round trip.
        sent = upstream = arrived;
        head = performance.now();
        status = 401;
        if (res.destroyed) return;
        const body =
          '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}\n';
        res.writeHead(401, {
          'content-type': 'application/json; charset=utf-8',
          'content-length': String(Buffer.byteLength(body)),
          'docker-distribution-api-version': 'registry/2.0',
          'www-authenticate': 'Basic realm="network-model"',
        });
        res.end(req.method === 'HEAD' ? undefined : body);
      }, delay);
      return;
    }
    const { authorization: _authorization, ...forwarded } = req.headers;
    const outgoing = forwardRequest({
      host: target.hostname,
      port: target.port,
      method,
      path: req.url ?? '/',
      headers: expected === undefined ? req.headers : forwarded,
      agent,
    });
    outgoing.once('error', () => {
      if (!res.headersSent)
        res.writeHead(502, { 'content-type': 'text/plain' }).end('network model: upstream failed');
      else res.destroy();
    });
    res.once('close', () => {
      if (!res.writableFinished) outgoing.destroy();
    });
    outgoing.once('finish', () => (sent = performance.now()));
    // Most exchanges carry no body (HEAD, GET, POST of an upload session): no pacing to set up.
    if (hasBody(req.headers)) {
      pace(req, [link.up, totalUp], sliceBytes, (n) => (stats.bytesUp += n)).pipe(outgoing);
    } else {
      req.resume();
      outgoing.end();
    }
    outgoing.once('response', (answer: IncomingMessage) => {
      upstream = performance.now();
      status = answer.statusCode ?? 502;
      // Not flowing until piped: the body waits in the stream while the head is on its way.
      setTimeout(() => {
        if (res.destroyed) {
          answer.destroy();
          return;
        }
        head = performance.now();
        res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
        const code = answer.statusCode ?? 502;
        const bodyless =
          answer.headers['content-length'] === '0' && answer.headers['transfer-encoding'] === undefined;
        if (method === 'HEAD' || code === 204 || code === 304 || bodyless) {
          answer.resume();
          res.end();
          return;
        }
        pace(answer, [link.down, totalDown], sliceBytes, (n) => (stats.bytesDown += n)).pipe(res);
      }, delay);
    });
  });
  server.on('connection', (socket: Socket) => {
    stats.connections++;
    socket.setNoDelay(true);
    links.set(socket, {
      id: stats.connections,
      up: new Budget(model.connectionBytesPerSecond),
      down: new Budget(model.connectionBytesPerSecond),
      answered: false,
      opened: performance.now(),
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('network model: no address');
  const host = `127.0.0.1:${address.port}`;
  return {
    host,
    url: `http://${host}`,
    stats: () => ({ ...stats, methods: { ...methods } }),
    timeline: () => [...timeline].sort((a, b) => a.order - b.order).map((t) => t.entry),
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

/** Where the time of one copy went, from the two proxies' timelines. Times in ms after `start`. */
export interface TimelineSummary {
  readonly requests: number;
  /** The first request's arrival: the copier's start-up (process start, before any round trip). */
  readonly firstRequestMs: number;
  /** The first blob read (source GET of a blob) arrived, and the last blob upload was answered. */
  readonly blobsFromMs: number;
  readonly blobsToMs: number;
  /** The last answer's last byte left a proxy. */
  readonly lastAnswerMs: number;
  /** Most exchanges in flight at once, both registries together. */
  readonly peakInFlight: number;
  /** Exchanges whose answer waited for their connection's handshake (a connection opened as the
   * request went, not ahead of it). */
  readonly handshakes: number;
  /** How long the registries took to answer once a request (and its body) was through, median and
   * 90th percentile: near 0 on a machine with CPU to spare. */
  readonly registryMs: { readonly median: number; readonly p90: number };
  /** How much later than the model a head left the proxy (the proxies' own CPU share), median and
   * 90th percentile: near 0 on a machine with CPU to spare. */
  readonly lateMs: { readonly median: number; readonly p90: number };
}

function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * q))]!;
}

/** Sums up the timelines of the two proxies of one copy started at `start` (performance.now()). */
export function summarizeTimeline(
  source: readonly TimelineEntry[],
  destination: readonly TimelineEntry[],
  start: number,
  rttMs: number,
): TimelineSummary {
  const all = [...source, ...destination];
  const blobReads = source.filter((e) => e.method === 'GET' && e.path.includes('/blobs/'));
  const uploads = destination.filter((e) => e.method === 'PUT' && e.path.includes('/blobs/uploads/'));
  const events = all.flatMap((e) => [
    { at: e.arrived, step: 1 },
    { at: e.done, step: -1 },
  ]);
  events.sort((a, b) => a.at - b.at || a.step - b.step);
  let inFlight = 0;
  let peakInFlight = 0;
  for (const { step } of events) peakInFlight = Math.max(peakInFlight, (inFlight += step));
  const since = (at: number): number => (Number.isFinite(at) ? at - start : Number.NaN);
  const registry = all.map((e) => e.upstream - e.sent);
  const late = all.map((e) => e.head - e.upstream - rttMs - e.handshakeMs);
  return {
    requests: all.length,
    firstRequestMs: since(Math.min(...all.map((e) => e.arrived))),
    blobsFromMs: since(Math.min(...blobReads.map((e) => e.arrived))),
    blobsToMs: since(Math.max(...uploads.map((e) => e.done))),
    lastAnswerMs: since(Math.max(...all.map((e) => e.done))),
    peakInFlight,
    handshakes: all.filter((e) => e.handshakeMs > 0).length,
    registryMs: { median: quantile(registry, 0.5), p90: quantile(registry, 0.9) },
    lateMs: { median: quantile(late, 0.5), p90: quantile(late, 0.9) },
  };
}

/** Whether a request with these headers has a body (RFC 9112 section 6.3: Transfer-Encoding or a
 * Content-Length above 0). */
function hasBody(headers: IncomingHttpHeaders): boolean {
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && length !== '0';
}

/** `/v2/repo/blobs/sha256:0123…` → `/v2/repo/blobs/sha256:0123456789ab`; upload ids likewise. */
function shortPath(url: string): string {
  return url
    .replace(/\?.*$/, (query) =>
      query.includes('digest=') ? '?digest' : query.includes('mount=') ? '?mount' : '',
    )
    .replace(/(sha256:[0-9a-f]{12})[0-9a-f]{52}/g, '$1')
    .replace(/(uploads\/[0-9a-f-]{8})[0-9a-f-]+/g, '$1');
}

/**
 * The round trips no copier can avoid on a cold copy of one single-platform image between two
 * registries that ask for credentials, each waiting for the one before (the OCI distribution
 * spec's push and pull flows; docker-registry with basic auth, as here):
 * 1. connect (TCP handshake) to both registries, at once;
 * 2. `GET /v2/` at both: the auth challenge that says which credentials to send;
 * 3. `GET` the source manifest (the destination tag's `HEAD` goes at once): the blobs it names;
 * 4. `HEAD` each blob at the destination: a blob already there is not sent (all blobs at once);
 * 5. `POST` an upload session (the source blob's `GET` starts at once);
 * 6. `PUT ?digest=` carrying the bytes (its time on the wire is the bandwidth term, not this one);
 * 7. `PUT` the manifest, once every blob is in.
 * Reading the destination back to verify is not counted: a copier may skip it.
 */
export const UNAVOIDABLE_ROUND_TRIPS = 7;

/**
 * The modelled physical limit of a cold copy of blobs of `sizes` bytes: every byte over the
 * shared cap (or the largest blob over one connection's cap, whichever is longer; downloads and
 * uploads overlap, full duplex) plus the chain of round trips above.
 */
export function physicalLimitMs(sizes: readonly number[], model: NetworkModel): number {
  const total = sizes.reduce((sum, size) => sum + size, 0);
  const largest = Math.max(0, ...sizes);
  const wire = Math.max(total / model.totalBytesPerSecond, largest / model.connectionBytesPerSecond) * 1000;
  return wire + UNAVOIDABLE_ROUND_TRIPS * model.rttMs;
}
