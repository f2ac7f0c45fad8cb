// The large-download path against loopback servers: node:http and node:https for the framings a
// registry or S3 sends (Content-Length, chunked), and a raw TCP server for what node:http would
// never send (a body ended by the connection, an informational answer first, bytes past the
// framing, a connection cut mid-body, a broken head). Every body must come out byte for byte, or
// fail with an error; never end early as if complete.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { HttpFramingError, openDownload } from '../../lambdas/adapters/http-download';

const BODY = randomBytes(3 * 1024 * 1024 + 17);
const download = { headers: { 'user-agent': 'test', accept: '*/*' }, idleTimeoutMs: 5000 } as const;

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function close(server: Server | ReturnType<typeof createTcpServer>): Promise<void> {
  if ('closeAllConnections' in server) server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe('openDownload against node:http', () => {
  let server: Server;
  let base: string;
  const seen: IncomingMessage['headers'][] = [];
  const routes: Record<string, (response: ServerResponse) => void> = {
    '/length': (response) =>
      response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(BODY),
    '/chunked': (response) => {
      response.writeHead(200);
      for (let at = 0; at < BODY.byteLength; at += 100_000) response.write(BODY.subarray(at, at + 100_000));
      response.end();
    },
    '/empty': (response) => response.writeHead(204).end(),
    '/missing': (response) =>
      response.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[]}'),
    '/silent': () => undefined,
    '/endless': (response) => {
      response.writeHead(200, { 'content-length': String(64 * 1024 * 1024) });
      const piece = Buffer.alloc(1024 * 1024);
      const write = (): void => {
        while (!response.destroyed && response.write(piece));
      };
      response.on('drain', write);
      write();
    },
  };

  before(async () => {
    server = createServer((request, response) => {
      seen.push(request.headers);
      const route = routes[request.url ?? ''];
      if (route === undefined) response.writeHead(500).end();
      else route(response);
    });
    base = `http://127.0.0.1:${await listen(server)}`;
  });
  after(() => close(server));

  const FRAMINGS = [
    { name: 'a Content-Length body', path: '/length' },
    { name: 'a chunked body', path: '/chunked' },
  ];
  for (const { name, path } of FRAMINGS) {
    it(`reads ${name} byte for byte`, async () => {
      // Act
      const message = await openDownload(new URL(`${base}${path}`), download);
      const body = await readAll(message);
      // Assess
      assert.equal(message.statusCode, 200);
      assert.ok(body.equals(BODY));
    });
  }

  it('sends the caller headers, its own Host and Connection: close', async () => {
    // Act
    await readAll(await openDownload(new URL(`${base}/length`), download));
    // Assess
    const headers = seen.at(-1);
    assert.equal(headers?.['user-agent'], 'test');
    assert.equal(headers?.host, new URL(base).host);
    assert.equal(headers?.connection, 'close');
  });

  it('gives an error answer with its headers and body', async () => {
    // Act
    const message = await openDownload(new URL(`${base}/missing`), download);
    // Assess
    assert.equal(message.statusCode, 404);
    assert.equal(message.headers['content-type'], 'application/json');
    assert.equal((await readAll(message)).toString(), '{"errors":[]}');
  });

  it('ends a 204 answer with no body', async () => {
    const message = await openDownload(new URL(`${base}/empty`), download);
    assert.equal((await readAll(message)).byteLength, 0);
  });

  it('refuses a header that would break the request before connecting', async () => {
    await assert.rejects(
      openDownload(new URL(`${base}/length`), { ...download, headers: { 'x-a': 'b\r\nx-injected: 1' } }),
      TypeError,
    );
  });

  it('times out a server that never answers', async () => {
    await assert.rejects(
      openDownload(new URL(`${base}/silent`), { ...download, idleTimeoutMs: 200 }),
      /timed out/,
    );
  });

  it('stops reading while the body is not read (bounded memory)', async () => {
    // Prepare
    const message = await openDownload(new URL(`${base}/endless`), download);
    // Act: nobody reads for a while; loopback would deliver the 64 MiB in far less.
    await sleep(300);
    const buffered = message.readableLength;
    message.destroy();
    // Assess: the read-ahead (1 MiB) plus at most one slab and the first read.
    assert.ok(buffered <= 3 * 1024 * 1024, `${buffered} bytes buffered`);
  });

  it('reads on to the end once a reader that stopped for a while reads again', async () => {
    // Prepare: 3 MiB, three times the read-ahead: the socket is paused while nobody reads.
    const message = await openDownload(new URL(`${base}/length`), download);
    await sleep(100);
    // Act
    const body = await readAll(message);
    // Assess
    assert.ok(body.equals(BODY));
  });

  it('stops when the caller aborts', async () => {
    // Prepare
    const controller = new AbortController();
    const message = await openDownload(new URL(`${base}/endless`), {
      ...download,
      signal: controller.signal,
    });
    // Act
    const reading = readAll(message);
    controller.abort(new Error('stop now'));
    // Assess
    await assert.rejects(reading, /stop now/);
  });
});

describe('openDownload against a raw TCP server', () => {
  let server: ReturnType<typeof createTcpServer>;
  let base: string;
  let answer: (socket: Socket) => void = () => undefined;

  before(async () => {
    server = createTcpServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => answer(socket));
    });
    base = `http://127.0.0.1:${await listen(server)}`;
  });
  after(() => close(server));

  const head = (lines: string): string => `${lines.split('\n').join('\r\n')}\r\n\r\n`;

  const COMPLETE = [
    {
      name: 'a body ended by the connection',
      send: (socket: Socket) => socket.end(Buffer.concat([Buffer.from(head('HTTP/1.1 200 OK')), BODY])),
      body: BODY,
    },
    {
      name: 'an informational answer before the real one',
      send: (socket: Socket) =>
        socket.end(head('HTTP/1.1 100 Continue') + head('HTTP/1.1 200 OK\nContent-Length: 5') + 'hello'),
      body: Buffer.from('hello'),
    },
    {
      name: 'nothing past the Content-Length',
      send: (socket: Socket) => socket.end(`${head('HTTP/1.1 200 OK\nContent-Length: 5')}helloEXTRA`),
      body: Buffer.from('hello'),
    },
    {
      name: 'a chunked body with extensions and trailers, in pieces',
      send: (socket: Socket) => {
        const text = `${head('HTTP/1.1 200 OK\nTransfer-Encoding: chunked')}5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nx-t: 1\r\n\r\n`;
        // One byte per write: every state boundary falls between two reads at least once.
        for (const byte of Buffer.from(text)) socket.write(Buffer.of(byte));
        socket.end();
      },
      body: Buffer.from('hello world'),
    },
  ];
  for (const { name, send, body } of COMPLETE) {
    it(`reads ${name}`, async () => {
      // Prepare
      answer = send;
      // Act
      const received = await readAll(await openDownload(new URL(`${base}/x`), download));
      // Assess
      assert.ok(received.equals(body), received.subarray(0, 40).toString());
    });
  }

  const BROKEN_BODIES = [
    {
      name: 'the connection closes before the Content-Length is reached',
      send: (socket: Socket) =>
        socket.end(`${head('HTTP/1.1 200 OK\nContent-Length: 1000')}${'a'.repeat(500)}`),
      error: /closed after 500 of 1000 body bytes/,
    },
    {
      name: 'the connection closes inside a chunked body',
      send: (socket: Socket) =>
        socket.end(`${head('HTTP/1.1 200 OK\nTransfer-Encoding: chunked')}a\r\nhello`),
      error: /closed inside a chunked body/,
    },
    {
      name: 'a chunk is longer than its size',
      send: (socket: Socket) =>
        socket.end(`${head('HTTP/1.1 200 OK\nTransfer-Encoding: chunked')}2\r\nhello\r\n0\r\n\r\n`),
      error: /chunk data longer than its size/,
    },
    {
      name: 'a chunk size is not hex',
      send: (socket: Socket) => socket.end(`${head('HTTP/1.1 200 OK\nTransfer-Encoding: chunked')}zz\r\n`),
      error: /bad chunk size/,
    },
    {
      name: 'the connection is reset mid-body',
      send: (socket: Socket) => {
        socket.write(`${head('HTTP/1.1 200 OK\nContent-Length: 1000')}abc`);
        setTimeout(() => socket.resetAndDestroy(), 20);
      },
      error: /ECONNRESET|closed after 3 of 1000/,
    },
  ];
  for (const { name, send, error } of BROKEN_BODIES) {
    it(`fails the body when ${name}`, async () => {
      // Prepare
      answer = send;
      // Act
      const message = await openDownload(new URL(`${base}/x`), download);
      // Assess
      await assert.rejects(readAll(message), error);
    });
  }

  it('closes a body that broke in its first read and is only drained, with no unheard error', async () => {
    // Prepare: a redirect whose chunked body is broken in the same packet as its head.
    answer = (socket) =>
      socket.end(
        `${head('HTTP/1.1 307 Temporary Redirect\nLocation: /y\nTransfer-Encoding: chunked')}zz\r\n`,
      );
    const message = await openDownload(new URL(`${base}/x`), download);
    // Act: what a caller does with a redirect's body (drains it without listening for errors).
    message.resume();
    // Assess: it closes; an 'error' nobody listens to would have ended the test process instead.
    // (events.once would listen for 'error' too: then the error is delivered to it, as it should be.)
    await new Promise((resolve) => message.once('close', resolve));
    assert.equal(message.statusCode, 307);
  });

  const BROKEN_HEADS = [
    {
      name: 'the connection closes first',
      send: (socket: Socket) => socket.end(),
      error: /before an answer/,
    },
    {
      name: 'the status line is not HTTP/1.1',
      send: (socket: Socket) => socket.end(head('SSH-2.0-OpenSSH')),
      error: /bad status line/,
    },
    {
      name: 'two different Content-Lengths',
      send: (socket: Socket) => socket.end(head('HTTP/1.1 200 OK\nContent-Length: 5\nContent-Length: 6')),
      error: /bad Content-Length/,
    },
    {
      name: 'the head never ends',
      send: (socket: Socket) => socket.write(`HTTP/1.1 200 OK\r\nx: ${'a'.repeat(70 * 1024)}`),
      error: /answer head too large/,
    },
  ];
  for (const { name, send, error } of BROKEN_HEADS) {
    it(`rejects when ${name}`, async () => {
      // Prepare
      answer = send;
      // Act + Assess
      await assert.rejects(openDownload(new URL(`${base}/x`), download), (e: unknown) => {
        assert.match(String(e), error);
        return e instanceof HttpFramingError;
      });
    });
  }
});

describe('openDownload over TLS', () => {
  let server: ReturnType<typeof createHttpsServer>;
  let base: string;
  let ca: string;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ip-tls-'));
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    ca = await readFile(join(dir, 'cert.pem'), 'utf8');
    server = createHttpsServer(
      { key: await readFile(join(dir, 'key.pem')), cert: ca },
      (_request, response) => {
        response.writeHead(200).end(BODY);
      },
    );
    base = `https://localhost:${await listen(server)}`;
  });
  after(async () => {
    await close(server);
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the body over TLS from a server the given CA vouches for, in pieces larger than its records', async () => {
    // Act
    const message = await openDownload(new URL(`${base}/blob`), { ...download, ca });
    const pieces: Buffer[] = [];
    for await (const piece of message) pieces.push(piece as Buffer);
    // Assess: TLS hands over 16 KiB records one by one; reads in one turn go on as one piece.
    assert.ok(Buffer.concat(pieces).equals(BODY));
    const records = Math.ceil(BODY.byteLength / 16384);
    assert.ok(pieces.length <= records / 2, `${pieces.length} pieces for ${records} records`);
  });

  it('refuses a server no trusted CA vouches for', async () => {
    await assert.rejects(openDownload(new URL(`${base}/blob`), download), /self[- ]signed/i);
  });
});
