// The registry client's HTTP layer against a plain node:http server on loopback: how bodies are
// framed (Content-Length for bytes, chunked for a stream of unknown length), that an answer is
// read whole only up to its limit, that a failing source stream is what the caller sees (not the
// aborted request), that an early error answer wins over the body it cut short, that a silent
// server times out, that requests share keep-alive connections, and that connections opened ahead
// (preconnect) serve the next requests to their own origin only and are closed when not taken.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import {
  AnswerTooLargeError,
  exchangeSmall,
  openExchange,
  preconnect,
  readAnswer,
} from '../../lambdas/adapters/http-exchange';

interface Received {
  readonly method: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

type Route = (request: IncomingMessage, response: ServerResponse) => void;

describe('http-exchange against a loopback HTTP server', () => {
  let server: Server;
  let base: string;
  let connections = 0;
  const received: Received[] = [];
  const routes = new Map<string, Route>();

  const readAll = async (request: IncomingMessage): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };

  before(async () => {
    routes.set('/echo', (request, response) => {
      void readAll(request).then((body) => {
        received.push({ method: request.method ?? '', headers: request.headers, body });
        response.writeHead(201, { 'x-length': String(body.byteLength) }).end(body);
      });
    });
    routes.set('/big', (_request, response) => {
      response.writeHead(200);
      response.end(Buffer.alloc(64 * 1024, 1));
    });
    routes.set('/refuse', (_request, response) => {
      // Answers before reading the body, then drops the connection: what a registry refusing a
      // too-large upload does.
      response.writeHead(413, { connection: 'close' }).end('{"errors":[{"code":"SIZE_INVALID"}]}');
    });
    routes.set('/silent', () => undefined);
    server = createServer((request, response) => {
      const route = routes.get(new URL(request.url ?? '/', 'http://x').pathname);
      if (route === undefined) response.writeHead(404).end();
      else route(request, response);
    });
    server.on('connection', () => {
      connections += 1;
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const exchange = { headers: {}, idleTimeoutMs: 5000 } as const;

  const BODIES = [
    {
      name: 'bytes go with a Content-Length',
      body: () => Buffer.from('exact bytes'),
      framing: (headers: IncomingMessage['headers']) => headers['content-length'] === '11',
    },
    {
      name: 'a stream of unknown length goes chunked',
      body: () => Readable.from([Buffer.from('exact '), Buffer.from('bytes')]),
      framing: (headers: IncomingMessage['headers']) =>
        headers['transfer-encoding'] === 'chunked' && headers['content-length'] === undefined,
    },
  ] as const;

  for (const c of BODIES) {
    it(c.name, async () => {
      // Prepare
      received.length = 0;
      // Act
      const answer = await exchangeSmall(
        new URL(`${base}/echo`),
        { ...exchange, method: 'PUT', body: c.body() },
        1024,
      );
      // Assess
      assert.equal(answer.status, 201);
      assert.equal(answer.ok, true);
      assert.equal(answer.header('x-length'), '11');
      assert.equal(answer.text(), 'exact bytes');
      assert.equal(received[0]?.body.toString(), 'exact bytes');
      assert.ok(c.framing(received[0]!.headers), JSON.stringify(received[0]!.headers));
    });
  }

  it('stops reading an answer over its limit', async () => {
    // Act
    const message = await openExchange(new URL(`${base}/big`), { ...exchange, method: 'GET' });
    const outcome = await readAnswer(message, 1000).catch((e: unknown) => e);
    // Assess
    assert.ok(outcome instanceof AnswerTooLargeError, String(outcome));
    assert.equal(outcome.limit, 1000);
    assert.equal(message.destroyed, true);
  });

  it('rejects with the source stream’s own error when the body fails mid-way', async () => {
    // Prepare
    const failure = new Error('source broke');
    const body = new Readable({
      read(): void {
        this.push(Buffer.alloc(1024));
        this.destroy(failure);
      },
    });
    // Act
    const outcome = await openExchange(new URL(`${base}/echo`), {
      ...exchange,
      method: 'PUT',
      headers: { 'content-length': '4096' },
      body,
    }).catch((e: unknown) => e);
    // Assess
    assert.equal(outcome, failure);
  });

  it('returns an error answer that came before the whole body was sent', async () => {
    // Prepare: far more than the socket buffers take, so the answer comes first.
    const body = Readable.from(
      (function* chunks(): Generator<Buffer> {
        for (let i = 0; i < 256; i++) yield Buffer.alloc(64 * 1024);
      })(),
    );
    // Act
    const answer = await exchangeSmall(
      new URL(`${base}/refuse`),
      { ...exchange, method: 'PATCH', headers: { 'content-length': String(256 * 64 * 1024) }, body },
      1024,
    );
    // Assess: the status (its body may be lost to the reset that cut the upload short)
    assert.equal(answer.status, 413);
  });

  it('gives up on a server that stays silent for the idle limit', async () => {
    // Act
    const outcome = await exchangeSmall(
      new URL(`${base}/silent`),
      { method: 'GET', headers: {}, idleTimeoutMs: 200 },
      1024,
    ).catch((e: unknown) => e);
    // Assess
    assert.ok(outcome instanceof Error && outcome.message === 'timed out', String(outcome));
  });

  it('sends one request after another over one kept-alive connection', async () => {
    // Prepare
    await exchangeSmall(new URL(`${base}/echo`), { ...exchange, method: 'GET' }, 1024);
    const before = connections;
    // Act
    for (let i = 0; i < 5; i++) {
      await exchangeSmall(
        new URL(`${base}/echo`),
        { ...exchange, method: 'POST', body: Buffer.from('x') },
        1024,
      );
    }
    // Assess
    assert.equal(connections, before, 'new connections opened');
  });
});

describe('http-exchange preconnect', () => {
  /** A server that counts its connections, the requests each carried, and which are still open. */
  interface Counted {
    readonly url: URL;
    readonly connections: { requests: number; open: boolean }[];
    readonly server: Server;
  }
  const servers: Counted[] = [];
  async function counted(): Promise<Counted> {
    const connections: { requests: number; open: boolean }[] = [];
    const server = createServer((request, response) => {
      const connection = (request.socket as { counted?: { requests: number } }).counted;
      if (connection !== undefined) connection.requests += 1;
      response.end('ok');
    });
    server.on('connection', (socket) => {
      const connection = { requests: 0, open: true };
      connections.push(connection);
      Object.assign(socket, { counted: connection });
      socket.once('close', () => (connection.open = false));
    });
    // An idle pooled connection stays open through the test however slow the machine is.
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/x`);
    const result = { url, connections, server };
    servers.push(result);
    return result;
  }
  async function until(condition: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!condition()) {
      if (Date.now() > deadline) assert.fail(`never happened: ${what}`);
      await sleep(10);
    }
  }
  const get = { method: 'GET', headers: {}, idleTimeoutMs: 30_000 } as const;

  after(async () => {
    for (const { server } of servers) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('serves the next requests to its origin over the connections opened ahead, and no other origin', async () => {
    // Prepare: two connections opened ahead to one server, none to the other
    const [a, b] = await Promise.all([counted(), counted()]);
    const opened = preconnect(a.url, 2);
    await until(() => a.connections.length === 2, 'two connections to the first server');
    // Act: a request to the other origin, then two at once to the first
    await exchangeSmall(b.url, get, 16);
    await Promise.all([exchangeSmall(a.url, get, 16), exchangeSmall(a.url, get, 16)]);
    // Assess: the other origin got a connection of its own; the first server's two carried the two
    assert.deepEqual(
      b.connections.map((c) => c.requests),
      [1],
    );
    assert.deepEqual(
      a.connections.map((c) => c.requests),
      [1, 1],
    );
    assert.equal(opened.sockets.size, 0);
    opened.close();
  });

  it('counts the connections already open, and closes those no request took', async () => {
    // Prepare: one connection idle in the pool after a request
    const a = await counted();
    await exchangeSmall(a.url, get, 16);
    // Act: three wanted: two more are opened, then closed untaken
    const opened = preconnect(a.url, 3);
    await until(() => a.connections.length === 3, 'three connections');
    opened.close();
    // Assess: the pooled one stays open; the two opened ahead are closed
    await until(() => a.connections.filter((c) => c.open).length === 1, 'the two closed');
    assert.deepEqual(
      a.connections.map((c) => [c.requests, c.open]),
      [
        [1, true],
        [0, false],
        [0, false],
      ],
    );
    assert.equal(preconnect(a.url, 1).sockets.size, 0, 'one open already');
  });

  it('over https: the connections opened ahead, handshaken, serve the requests to that origin', async () => {
    // Prepare: a TLS server for localhost with a certificate of its own (trusted for this case
    // only: the pool's agent takes the default CAs)
    const dir = await mkdtemp(join(tmpdir(), 'ip-preconnect-'));
    const trust = process.env['NODE_TLS_REJECT_UNAUTHORIZED'];
    const requests: number[] = [];
    let tls: ReturnType<typeof createHttpsServer> | undefined;
    try {
      await promisify(execFile)('openssl', [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
        ...['-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'],
        ...['-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
      ]);
      const server = createHttpsServer(
        { key: await readFile(join(dir, 'key.pem')), cert: await readFile(join(dir, 'cert.pem')) },
        (request, response) => {
          const index = (request.socket as { index?: number }).index;
          if (index !== undefined) requests[index] = (requests[index] ?? 0) + 1;
          response.end('ok');
        },
      );
      tls = server;
      server.on('secureConnection', (socket) => {
        Object.assign(socket, { index: requests.length });
        requests.push(0);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      process.env['NODE_TLS_REJECT_UNAUTHORIZED'] = '0';
      const url = new URL(`https://localhost:${(server.address() as AddressInfo).port}/x`);
      // Act
      const opened = preconnect(url, 2);
      await until(() => requests.length === 2, 'two TLS connections');
      await Promise.all([exchangeSmall(url, get, 16), exchangeSmall(url, get, 16)]);
      // Assess
      assert.deepEqual(requests, [1, 1]);
      assert.equal(opened.sockets.size, 0);
    } finally {
      if (trust === undefined) delete process.env['NODE_TLS_REJECT_UNAUTHORIZED'];
      else process.env['NODE_TLS_REJECT_UNAUTHORIZED'] = trust;
      tls?.closeAllConnections();
      await new Promise<void>((resolve) => (tls === undefined ? resolve() : tls.close(() => resolve())));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
