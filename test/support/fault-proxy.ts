// A fault-injecting HTTP proxy on loopback, in front of a real registry: forwards every request
// as is (streaming both ways, Host header kept so upload Locations point back at the proxy) and,
// by rule, breaks some of them the way networks and registries break: connection reset mid-body,
// 429 with Retry-After, 5xx bursts, lost responses, corrupted bytes. Every rule counts what it
// matched and injected, so tests assert that a fault really happened — and, for Retry-After, how
// many retries came back before the announced time ("early"): a count, never a timing assertion.
// Optionally it also caps each request's bandwidth, both ways (`bytesPerSecond`): a model of a
// network where every HTTP request is one TCP stream with its own throughput ceiling (ECR and S3
// across accounts), for the worker benchmark. Paced in small slices, with backpressure; it never
// holds more than one chunk of a body.
// Test support only: it must never listen on or forward to anything but 127.0.0.1.
import {
  Agent,
  createServer,
  request as forwardRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import { Transform, type Readable, type TransformCallback } from 'node:stream';

/** What to do to a request a rule selected. */
export type FaultAction =
  /** Forward, then destroy the client connection after `afterBytes` bytes of the response body. */
  | { readonly kind: 'reset-response'; readonly afterBytes: number }
  /** Forward the request body until `afterBytes` bytes went through, then destroy both connections. */
  | { readonly kind: 'reset-request'; readonly afterBytes: number }
  /** Forward, but flip one bit of the response body at byte `atByte` (length and headers intact). */
  | { readonly kind: 'corrupt-response'; readonly atByte: number }
  /**
   * Answer `status` with an OCI error body. The request is not forwarded, unless `forward`: then
   * the registry does the work and its answer is lost (replaced by `status`).
   * `retryAfterSeconds` sends `Retry-After` and makes the proxy count retries that come back early.
   */
  | {
      readonly kind: 'status';
      readonly status: number;
      readonly retryAfterSeconds?: number;
      readonly forward?: boolean;
    }
  /** Answer 307 with `Location: location(path)` without forwarding: how ECR sends blob reads to S3. */
  | { readonly kind: 'redirect'; readonly location: (path: string) => string }
  /** Forward, and hold the registry's answer `ms` before sending it on (a slow registry). */
  | { readonly kind: 'delay'; readonly ms: number }
  /** Forward, and hold the registry's answer until `until` settles (a test looks at the client
   * meanwhile: what it opened or sent while waiting for these answers). */
  | { readonly kind: 'hold'; readonly until: Promise<unknown> };

export interface FaultRule {
  /** Name the counters are kept under. */
  readonly name: string;
  /** HTTP methods the rule applies to (upper case); every method when omitted. */
  readonly methods?: readonly string[];
  /** Tested against the request path (without the query string). */
  readonly path: RegExp;
  /** Only requests that carry a body (true) or carry none (false); either when omitted. */
  readonly withBody?: boolean;
  /** Let this many matching requests through untouched first (default 0). */
  readonly skip?: number;
  /** Inject into this many matching requests after the skipped ones (default: all of them). */
  readonly times?: number;
  readonly action: FaultAction;
}

export interface RuleStats {
  /** Requests that matched the rule (method and path). */
  readonly matched: number;
  /** Requests the fault was injected into. */
  readonly injected: number;
  /** Requests for the same method and path that arrived before a Retry-After of this rule expired. */
  readonly early: number;
}

export interface ProxiedRequest {
  readonly method: string;
  /** Path and query, as received. */
  readonly url: string;
  /** Status sent to the client; undefined when the connection was reset before a status. */
  readonly status: number | undefined;
  readonly requestBytes: number;
  readonly responseBytes: number;
  /** Name of the rule whose fault was injected, if any. */
  readonly fault: string | undefined;
  /** The Location header sent to the client, if any (where an upload session goes on). */
  readonly location: string | undefined;
  /** When the request arrived (ms since the epoch) and how long until the response was done. */
  readonly arrivedAt: number;
  readonly ms: number;
}

/** One client connection to the proxy. */
export interface ProxyConnection {
  /** Requests that arrived on it. */
  readonly requests: number;
  /** Still open (the client has not closed it, nor the proxy). */
  readonly open: boolean;
}

export interface FaultProxy {
  /** `127.0.0.1:PORT`: the host part of image references that go through the proxy. */
  readonly host: string;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Replaces the rules and zeroes every counter and the request log. */
  setRules(rules: readonly FaultRule[]): void;
  stats(name: string): RuleStats;
  /** Every completed request since the last setRules(), in completion order. */
  requests(): readonly ProxiedRequest[];
  /** Every client connection opened since the last setRules() (or resetConnections()), in order. */
  connections(): readonly ProxyConnection[];
  /** Forgets the connections counted so far (open ones go on being served, uncounted). */
  resetConnections(): void;
  /**
   * Caps every request that arrives from now on at `bytesPerSecond` for its request body and,
   * separately, for its response body (one budget per body, as one TCP stream has; requests in
   * flight keep the cap they started with). `undefined`: no cap (the default).
   */
  setBandwidth(bytesPerSecond: number | undefined): void;
  stop(): Promise<void>;
}

export interface FaultProxyOptions {
  /** Where to forward: `http://127.0.0.1:PORT` (loopback only). */
  readonly upstream: string;
  readonly rules?: readonly FaultRule[];
  /** Per-request bandwidth cap, each way; see FaultProxy.setBandwidth. */
  readonly bytesPerSecond?: number;
}

// Timers may fire a millisecond or two early; a retry this close to the deadline honoured it.
const EARLY_TOLERANCE_MS = 25;

interface MutableStats {
  matched: number;
  injected: number;
  early: number;
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = new URL(options.upstream);
  if (upstream.protocol !== 'http:' || upstream.hostname !== '127.0.0.1') {
    throw new Error(`fault proxy forwards to http://127.0.0.1 only, not ${options.upstream}`);
  }
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let bytesPerSecond: number | undefined;
  const setBandwidth = (next: number | undefined): void => {
    if (next !== undefined && !(Number.isFinite(next) && next > 0)) {
      throw new Error(`fault proxy: bandwidth must be a positive number of bytes per second, not ${next}`);
    }
    bytesPerSecond = next;
  };
  setBandwidth(options.bytesPerSecond);
  let rules: readonly FaultRule[] = [];
  let stats = new Map<string, MutableStats>();
  let log: ProxiedRequest[] = [];
  let connections = new Map<Socket, { requests: number; open: boolean }>();
  // method + path -> when the last Retry-After for it expires, and which rule sent it.
  let retryDeadlines = new Map<string, { readonly until: number; readonly rule: string }>();

  const setRules = (next: readonly FaultRule[]): void => {
    rules = next;
    stats = new Map(next.map((rule) => [rule.name, { matched: 0, injected: 0, early: 0 }]));
    log = [];
    retryDeadlines = new Map();
    connections = new Map();
  };
  setRules(options.rules ?? []);

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const path = new URL(url, 'http://proxy').pathname;
    const connection = connections.get(req.socket);
    if (connection !== undefined) connection.requests += 1;
    const key = `${method} ${path}`;

    const deadline = retryDeadlines.get(key);
    if (deadline !== undefined && Date.now() < deadline.until - EARLY_TOLERANCE_MS) {
      const counters = stats.get(deadline.rule);
      if (counters) counters.early += 1;
    }

    let fault: FaultRule | undefined;
    for (const rule of rules) {
      if (rule.methods !== undefined && !rule.methods.includes(method)) continue;
      if (!rule.path.test(path)) continue;
      if (rule.withBody !== undefined && rule.withBody !== hasBody(req)) continue;
      const counters = stats.get(rule.name)!;
      counters.matched += 1;
      const skip = rule.skip ?? 0;
      if (counters.matched > skip && counters.matched <= skip + (rule.times ?? Infinity)) {
        counters.injected += 1;
        fault = rule;
      }
      break;
    }

    const entry = {
      method,
      url,
      status: undefined as number | undefined,
      location: undefined as string | undefined,
      requestBytes: 0,
      responseBytes: 0,
    };
    // One budget per body and direction, fixed when the request arrives.
    const rate = bytesPerSecond;
    const throttles: Transform[] = [];
    const pace = (body: Readable): Readable => {
      if (rate === undefined) return body;
      const throttle = createThrottle(rate);
      throttles.push(throttle);
      return body.pipe(throttle);
    };
    res.once('close', () => {
      for (const throttle of throttles) throttle.destroy();
    });
    const arrivedAt = Date.now();
    let logged = false;
    const record = (): void => {
      if (logged) return;
      logged = true;
      log.push({ ...entry, fault: fault?.name, arrivedAt, ms: Date.now() - arrivedAt });
    };
    res.once('close', record);
    req.on('data', (chunk: Buffer) => {
      entry.requestBytes += chunk.length;
    });

    const action = fault?.action;
    if (action?.kind === 'redirect') {
      req.resume();
      req.once('end', () => {
        entry.status = 307;
        entry.location = action.location(path);
        res.writeHead(307, { location: entry.location, 'content-length': '0' }).end();
      });
      return;
    }
    if (action?.kind === 'status' && action.forward !== true) {
      // Read the whole request first, as a front end that rejects after buffering would.
      req.resume();
      req.once('end', () => {
        entry.status = action.status;
        sendFault(res, action, () => noteRetryAfter(key, fault!.name, action));
      });
      return;
    }

    const outgoing = forwardRequest({
      host: upstream.hostname,
      port: upstream.port,
      method,
      path: url,
      headers: req.headers,
      agent,
    });
    const dropBoth = (): void => {
      outgoing.destroy();
      req.socket.destroy();
    };
    outgoing.once('error', () => {
      if (!res.headersSent) {
        entry.status = 502;
        res.writeHead(502, { 'content-type': 'text/plain' }).end('fault proxy: upstream failed');
      } else res.destroy();
    });
    res.once('close', () => {
      if (!res.writableFinished) outgoing.destroy();
    });

    const requestBody = pace(req);
    if (action?.kind === 'reset-request') {
      let sent = 0;
      requestBody.on('data', (chunk: Buffer) => {
        if (sent >= action.afterBytes) return;
        const room = action.afterBytes - sent;
        const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
        sent += piece.length;
        outgoing.write(piece);
        if (sent >= action.afterBytes) dropBoth();
      });
      requestBody.once('end', () => {
        // Shorter than afterBytes: reset once the whole body went through, before any answer.
        if (sent < action.afterBytes) dropBoth();
      });
      return;
    }
    requestBody.pipe(outgoing);

    const answerWith = (answer: IncomingMessage): void => {
      if (action?.kind === 'status') {
        // forward: the registry did the work; the client never hears about it.
        answer.resume();
        answer.once('end', () => {
          entry.status = action.status;
          sendFault(res, action, () => noteRetryAfter(key, fault!.name, action));
        });
        return;
      }
      entry.status = answer.statusCode ?? 502;
      entry.location = answer.headers.location;
      res.writeHead(entry.status, answer.rawHeaders);
      const body = pace(answer);
      let offset = 0;
      body.on('data', (chunk: Buffer) => {
        let piece = chunk;
        if (
          action?.kind === 'corrupt-response' &&
          action.atByte >= offset &&
          action.atByte < offset + chunk.length
        ) {
          piece = Buffer.from(chunk);
          piece[action.atByte - offset] = piece[action.atByte - offset]! ^ 0x01;
        }
        if (action?.kind === 'reset-response' && offset + piece.length >= action.afterBytes) {
          const head = piece.subarray(0, action.afterBytes - offset);
          offset += head.length;
          entry.responseBytes += head.length;
          answer.destroy();
          if (body !== answer) body.destroy();
          res.write(head, () => destroySocket(res.socket));
          // If the write never completes, the socket still goes.
          setImmediate(() => destroySocket(res.socket));
          return;
        }
        offset += piece.length;
        entry.responseBytes += piece.length;
        if (!res.write(piece)) {
          body.pause();
          res.once('drain', () => body.resume());
        }
      });
      body.once('end', () => {
        if (action?.kind === 'reset-response' && offset < action.afterBytes) destroySocket(res.socket);
        else res.end();
      });
      answer.once('error', () => res.destroy());
    };
    outgoing.once('response', (received: IncomingMessage) => {
      // Not flowing until answerWith reads it: a delayed body waits in the stream.
      // Unref'd: a held answer must not keep the process alive once the proxy is stopped.
      if (action?.kind === 'delay') setTimeout(() => answerWith(received), action.ms).unref();
      else if (action?.kind === 'hold') {
        const release = (): void => answerWith(received);
        action.until.then(release, release);
      } else answerWith(received);
    });
  };

  const noteRetryAfter = (key: string, rule: string, action: FaultAction): void => {
    if (action.kind === 'status' && action.retryAfterSeconds !== undefined) {
      retryDeadlines.set(key, { until: Date.now() + action.retryAfterSeconds * 1000, rule });
    }
  };

  const server: Server = createServer(handle);
  server.on('connection', (socket: Socket) => {
    const connection = { requests: 0, open: true };
    connections.set(socket, connection);
    socket.once('close', () => (connection.open = false));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('fault proxy: no address');
  const host = `127.0.0.1:${address.port}`;

  return {
    host,
    url: `http://${host}`,
    setRules,
    stats: (name) => {
      const counters = stats.get(name);
      if (!counters) throw new Error(`fault proxy: no rule named "${name}"`);
      return { ...counters };
    },
    requests: () => [...log],
    connections: () => [...connections.values()].map((c) => ({ ...c })),
    resetConnections: () => (connections = new Map()),
    setBandwidth,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

// A body goes in slices of 1/20 s worth of bytes, within these bounds: smooth enough for a pace,
// few enough timers and writes that pacing 100 streams at once stays cheap (with 16 KiB slices the
// worker benchmark's 10-image job at 2 MB/s was CPU-bound in the proxies: 1.95 of 2 cores busy).
const MIN_SLICE_BYTES = 4 * 1024;
const MAX_SLICE_BYTES = 64 * 1024;
// A stream that fell behind its budget (a late timer, a busy event loop, a slow reader) may catch
// up by at most this much time's worth of bytes in one go: a small burst, never a flood.
const MAX_BURST_MS = 50;

/**
 * Passes bytes through at no more than `bytesPerSecond` on average: each slice goes when the
 * stream's budget allows, else after a timer. The next chunk is not taken until this one is out,
 * so backpressure reaches the writer and no more than one chunk is ever held.
 */
function createThrottle(bytesPerSecond: number): Transform {
  const slice = Math.max(MIN_SLICE_BYTES, Math.min(MAX_SLICE_BYTES, Math.floor(bytesPerSecond / 20)));
  // The time by which every byte sent so far is paid for; a slice may go once it is not ahead of now.
  let paidUntil = performance.now();
  let timer: NodeJS.Timeout | undefined;
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
      let offset = 0;
      const sendSlices = (): void => {
        timer = undefined;
        if (this.destroyed) return;
        while (offset < chunk.length) {
          const now = performance.now();
          paidUntil = Math.max(paidUntil, now - MAX_BURST_MS);
          if (paidUntil > now) {
            timer = setTimeout(sendSlices, paidUntil - now);
            return;
          }
          const piece = chunk.subarray(offset, offset + slice);
          offset += piece.length;
          paidUntil += (piece.length / bytesPerSecond) * 1000;
          this.push(piece);
        }
        done();
      };
      sendSlices();
    },
    destroy(error: Error | null, callback: (error: Error | null) => void): void {
      if (timer !== undefined) clearTimeout(timer);
      callback(error);
    },
  });
}

function destroySocket(socket: Socket | null): void {
  socket?.destroy();
}

const OCI_ERROR_CODES: Readonly<Record<number, string>> = {
  429: 'TOOMANYREQUESTS',
  503: 'UNAVAILABLE',
};

function sendFault(
  res: ServerResponse,
  action: Extract<FaultAction, { kind: 'status' }>,
  onSent: () => void,
): void {
  const body = JSON.stringify({
    errors: [{ code: OCI_ERROR_CODES[action.status] ?? 'UNKNOWN', message: 'injected by fault proxy' }],
  });
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
  };
  if (action.retryAfterSeconds !== undefined) headers['retry-after'] = String(action.retryAfterSeconds);
  res.writeHead(action.status, headers);
  res.end(body, onSent);
}

/** Whether a request announces a body: a non-zero Content-Length, or a chunked one. */
function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return request.headers['transfer-encoding'] !== undefined;
}
