// One HTTP request over node:http / node:https with keep-alive pools: the registry client's only
// way to the network. Not fetch: Node 20's fetch costs several times the CPU per request (web
// streams, an AbortSignal and a Headers object each) and reads a streamed request body as fast as
// the source gives it, whatever the socket takes (measured: a 256 MiB layer raised RSS by ~270
// MiB). Here a streamed body goes through pipeline(), at the socket's pace.
// It knows nothing of registries: no auth, no retries, no error mapping (registry-client.ts).
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from 'node:http';
import type { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { ClientRequest, ClientRequestArgs } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { Readable, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { releaseChunk } from './http-download';

export interface Exchange {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Bytes are sent with Content-Length; a stream with the given one, else chunked. */
  readonly body?: Uint8Array | Readable;
  /** How long the socket may stay silent (an idle limit, not a total one: a large blob may take long). */
  readonly idleTimeoutMs: number;
  readonly signal?: AbortSignal;
}

/** A complete small answer: status, headers and the body read whole. */
export class HttpAnswer {
  constructor(
    readonly status: number,
    private readonly headers: IncomingHttpHeaders,
    readonly body: Buffer,
  ) {}

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  header(name: string): string | null {
    return headerValue(this.headers, name);
  }

  text(): string {
    return this.body.toString('utf8');
  }
}

/** The answer's body was longer than the caller allows. */
export class AnswerTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the answer is over ${limit} bytes`);
    this.name = 'AnswerTooLargeError';
  }
}

/** Connections opened ahead of requests by preconnect(), closed together by close(). */
export class Preconnection {
  /** Opened for it and not taken by a request yet. */
  readonly sockets = new Set<Socket>();
  private closed = false;

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes every connection of it no request took; later opens are skipped. */
  close(): void {
    this.closed = true;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }
}

/**
 * Pre-opened connections in one agent's keep-alive pool: a browser's `<link rel=preconnect>` (the
 * TCP and, for https, the TLS handshake; no request, so nothing is sent, credentials least of
 * all). node:http's Agent, undici (nodejs/undici #317, open: it "will only connect if a request is
 * enqueued") and Go's net/http (under go-containerregistry and containerd) open a connection only
 * once a request finds none idle, so every wave of requests wider than the pool pays a handshake
 * before its first byte: a round trip over TCP, two or three with TLS. Here the agent's
 * createConnection (its documented hook for where a new connection comes from) first hands out a
 * pre-opened socket, connected or still connecting, and only then opens one. A pre-opened socket
 * is filed under the agent's own getName() of its options, so it only ever serves the host, port
 * and TLS settings it was opened for: the agent's own rule for reusing a connection.
 */
class WarmSockets {
  private readonly idle = new Map<string, Set<Socket>>();
  private readonly owners = new WeakMap<
    Socket,
    { readonly owner: Preconnection; readonly drop: () => void }
  >();
  private readonly open: HttpAgent['createConnection'];

  constructor(private readonly agent: HttpAgent) {
    this.open = agent.createConnection.bind(agent);
    agent.createConnection = (options, callback): Duplex | null | undefined =>
      this.take(agent.getName(options)) ?? this.open(options, callback);
  }

  /** Opens connections to `url`'s origin until `wanted` are in use, idle or opening. */
  warm(url: URL, wanted: number, owner: Preconnection): void {
    const options = this.connectOptions(url);
    const name = this.agent.getName(options);
    let sockets = this.idle.get(name);
    if (sockets === undefined) this.idle.set(name, (sockets = new Set()));
    const have =
      (this.agent.sockets[name]?.length ?? 0) + (this.agent.freeSockets[name]?.length ?? 0) + sockets.size;
    for (let i = have; i < wanted && !owner.isClosed; i++) {
      const socket = this.open(options) as Socket | null | undefined;
      if (socket === null || socket === undefined) return;
      const idle = sockets;
      // Until a request takes it, a failure or close only drops it, and it keeps no process alive.
      const drop = (): void => {
        idle.delete(socket);
        owner.sockets.delete(socket);
        socket.destroy();
      };
      socket.once('error', drop);
      socket.once('close', drop);
      socket.unref();
      idle.add(socket);
      owner.sockets.add(socket);
      this.owners.set(socket, { owner, drop });
    }
  }

  private take(name: string): Socket | undefined {
    const sockets = this.idle.get(name);
    if (sockets === undefined) return undefined;
    for (const socket of sockets) {
      sockets.delete(socket);
      const held = this.owners.get(socket);
      if (held !== undefined) {
        socket.off('error', held.drop);
        socket.off('close', held.drop);
        held.owner.sockets.delete(socket);
      }
      if (socket.destroyed) continue;
      socket.ref();
      return socket;
    }
    return undefined;
  }

  /** What the agent's createSocket() gives createConnection for a request to `url` (its own
   * options, host, port, and for https the server name node's normalizeServerName sets). */
  private connectOptions(url: URL): ClientRequestArgs {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const secure = url.protocol === 'https:';
    const agent = this.agent as HttpAgent & { readonly options?: object; readonly keepAliveMsecs?: number };
    return {
      ...agent.options,
      host,
      port: Number(url.port || (secure ? 443 : 80)),
      ...(secure && isIP(host) === 0 ? { servername: host } : {}),
      // As createSocket() passes them for a keep-alive agent.
      ...({ keepAlive: true, keepAliveInitialDelay: agent.keepAliveMsecs ?? 1000 } as object),
    };
  }
}

// Keep-alive pools shared by every client of the process (a warm Lambda reuses its connections).
const httpAgent = new HttpAgent({ keepAlive: true });
const httpWarm = new WarmSockets(httpAgent);
/** node:https (and node:tls beneath it) loads once a URL needs it: ~10 ms of every CLI start
 * otherwise, before the first request, also for registries spoken to over plain HTTP. */
interface HttpsPool {
  readonly request: typeof httpsRequest;
  readonly agent: HttpsAgent;
  readonly warm: WarmSockets;
}
let https: Promise<HttpsPool> | undefined;
function loadHttps(): Promise<HttpsPool> {
  https ??= import('node:https').then((m) => {
    const agent = new m.Agent({ keepAlive: true });
    return { request: m.request, agent, warm: new WarmSockets(agent) };
  });
  return https;
}

/**
 * Opens connections to `url`'s origin (and for https, handshakes them) until `wanted` of them are
 * in use, idle or opening in the keep-alive pool, for requests about to come: a request that
 * needs a new connection takes one of these first. close() on the answer closes those no request
 * took. Nothing is sent on them before a request is.
 */
export function preconnect(url: URL, wanted: number): Preconnection {
  const owner = new Preconnection();
  if (!(wanted > 0)) return owner;
  if (url.protocol === 'https:') {
    void loadHttps().then(
      ({ warm }) => warm.warm(url, wanted, owner),
      () => undefined,
    );
  } else if (url.protocol === 'http:') {
    httpWarm.warm(url, wanted, owner);
  }
  return owner;
}

/**
 * Sends one request; resolves once the answer's headers are in (its body still to be read, see
 * readAnswer). A failure of a streamed body rejects as it is (the source's own error), unless the
 * server already answered with an error status: then that answer is what counts.
 */
export async function openExchange(url: URL, exchange: Exchange): Promise<IncomingMessage> {
  const secure = url.protocol === 'https:' ? await loadHttps() : undefined;
  const send = secure === undefined ? httpRequest : secure.request;
  const { body } = exchange;
  const headers =
    body instanceof Readable && exchange.headers['content-length'] === undefined
      ? { ...exchange.headers, 'transfer-encoding': 'chunked' }
      : body instanceof Uint8Array
        ? { ...exchange.headers, 'content-length': String(body.byteLength) }
        : exchange.headers;
  const request = send(url, {
    method: exchange.method,
    headers,
    agent: secure === undefined ? httpAgent : secure.agent,
    timeout: exchange.idleTimeoutMs,
    ...(exchange.signal === undefined ? {} : { signal: exchange.signal }),
  });
  const answered = new Promise<IncomingMessage>((resolve, reject) => {
    request.once('response', resolve);
    request.once('error', reject);
    request.once('timeout', () => request.destroy(new Error('timed out')));
  });
  if (!(body instanceof Readable)) {
    request.end(body);
    return answered;
  }
  const [sent, response] = await Promise.allSettled([sendBody(body, request), answered]);
  const early = response.status === 'fulfilled' && (response.value.statusCode ?? 0) >= 400;
  if (sent.status === 'rejected' && !early) {
    if (response.status === 'fulfilled') response.value.resume();
    throw sent.reason;
  }
  if (response.status === 'rejected') throw response.reason;
  return response.value;
}

/**
 * pipeline(body, request), except that every piece goes back to its download (releaseChunk) once
 * the socket has taken it, so a blob's read slabs are reused rather than left to the allocator.
 * Backpressure as pipeline's: the next piece only once the request can take more.
 */
function sendBody(body: Readable, request: ClientRequest): Promise<void> {
  let sent = false;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done): void {
      const more = request.write(chunk, (e?: Error | null) => {
        if (e === undefined || e === null) releaseChunk(chunk);
      });
      if (more) done();
      else request.once('drain', () => done());
    },
    final(done): void {
      request.end(() => {
        sent = true;
        done();
      });
    },
    destroy(error, done): void {
      // The body failed (or was cut): the request must not go on with a short body.
      if (error !== null) request.destroy(error);
      done(error);
    },
  });
  request.once('error', (e: Error) => sink.destroy(e));
  request.once('close', () => {
    if (!sent) sink.destroy(new Error('the connection closed before the request body was sent'));
  });
  return pipeline(body, sink);
}

/** An answer whose headers are in and whose body is still to be read: an IncomingMessage, or a
 * DownloadMessage (http-download.ts). */
export type HttpMessage = Readable & {
  readonly statusCode?: number | undefined;
  readonly headers: IncomingHttpHeaders;
};

/** Reads the rest of `message` into an HttpAnswer; over `limit` bytes it stops and throws. */
export async function readAnswer(message: HttpMessage, limit: number): Promise<HttpAnswer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of message) {
    const buffer = chunk as Buffer;
    length += buffer.byteLength;
    if (length > limit) {
      message.destroy();
      throw new AnswerTooLargeError(limit);
    }
    chunks.push(buffer);
  }
  const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
  return new HttpAnswer(message.statusCode ?? 502, message.headers, body);
}

/** Sends one request and reads its answer whole (at most `limit` bytes). */
export async function exchangeSmall(url: URL, exchange: Exchange, limit: number): Promise<HttpAnswer> {
  return readAnswer(await openExchange(url, exchange), limit);
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | null {
  const value = headers[name];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}
