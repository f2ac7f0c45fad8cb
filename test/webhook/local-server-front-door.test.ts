// The local webhook server's front door, below the handler: a body over GitHub's cap is answered 413
// at once and never read to its end, and a client that drips its headers or body is disconnected
// instead of holding a connection. The handler here only records what reaches it.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { APIGatewayProxyStructuredResultV2, LambdaFunctionURLEvent } from 'aws-lambda';
import { startWebhookServer, type WebhookServer } from '../../lambdas/local/webhook-server';
import { MAX_WEBHOOK_PAYLOAD_BYTES } from '../../lambdas/core/push-event';

describe('image-promoter webhook: the local server front door', () => {
  // Two servers: the drip-feed cases need short timeouts to end quickly; the 413 cases stream 25 MB
  // and must not race those timeouts on a busy machine, so theirs are the defaults (10 s and 15 s).
  let server: WebhookServer;
  let impatient: WebhookServer;
  const reached: LambdaFunctionURLEvent[] = [];
  const handler = (event: LambdaFunctionURLEvent): Promise<APIGatewayProxyStructuredResultV2> => {
    reached.push(event);
    return Promise.resolve({ statusCode: 202, body: '{"message":"ok"}' });
  };

  before(async () => {
    [server, impatient] = await Promise.all([
      startWebhookServer({ port: 0, handler }),
      startWebhookServer({ port: 0, handler, headersTimeoutMs: 300, requestTimeoutMs: 600 }),
    ]);
  });
  after(() => Promise.all([server?.stop(), impatient?.stop()]));

  /** Opens a raw connection, writes `head`, and resolves with what came back when it closed. */
  function rawExchange(
    head: string,
    write?: (socket: Socket) => void,
    to: WebhookServer = server,
  ): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(Number(new URL(to.url).port), '127.0.0.1', () => {
        socket.write(head);
        write?.(socket);
      });
      let answer = '';
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
      socket.on('error', (e: NodeJS.ErrnoException) =>
        e.code === 'ECONNRESET' ? resolve(answer) : reject(e),
      );
      socket.on('close', () => resolve(answer));
    });
  }

  it('answers 413 to a declared Content-Length over the cap without reading the body', async () => {
    // Act
    const answer = await rawExchange(
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${MAX_WEBHOOK_PAYLOAD_BYTES + 1}\r\n\r\n{`,
    );
    // Assess
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /GitHub's cap/);
    assert.equal(reached.length, 0);
  });

  it('answers 413 to a chunked body once it passes the cap, and stops reading', async () => {
    // Prepare: 1 MiB chunks, 30 of them (past the 25 MB cap) unless the server closes first
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    // Act
    const answer = await rawExchange(
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
      (socket) => {
        let sent = 0;
        const next = (error?: Error | null): void => {
          if (error || socket.destroyed || socket.readableEnded || sent++ >= 30) return;
          socket.write(`${chunk.length.toString(16)}\r\n`);
          socket.write(chunk);
          socket.write('\r\n', next);
        };
        next();
      },
    );
    // Assess
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.equal(reached.length, 0);
  });

  it('disconnects a client that drips its headers', async () => {
    // Act: half a request line, then nothing
    const answer = await rawExchange('POST / HT', undefined, impatient);
    // Assess: closed by the server (408 or a plain close), the handler never called
    assert.ok(answer === '' || /^HTTP\/1\.1 408 /.test(answer), answer);
    assert.equal(reached.length, 0);
  });

  it('disconnects a client that drips its body', async () => {
    // Act: headers announce 100 bytes, one arrives
    const answer = await rawExchange(
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{',
      undefined,
      impatient,
    );
    // Assess
    assert.ok(answer === '' || /^HTTP\/1\.1 408 /.test(answer), answer);
    assert.equal(reached.length, 0);
  });

  it('hands a complete delivery to the handler', async () => {
    // Act
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"zen":"ok"}',
    });
    // Assess
    assert.equal(response.status, 202);
    assert.equal(reached.at(-1)?.body, '{"zen":"ok"}');
  });
});
