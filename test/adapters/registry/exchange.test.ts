// The exchange layer on its own: every answer a caller did not accept becomes the one RegistryError
// that says retry or give up, naming the origin that answered when it is not the registry's; a
// connection that fails becomes RegistryUnavailableError (retryable). A real socket on loopback.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { exchange, toError, type RegistryContext } from '../../../lambdas/adapters/registry/exchange';
import { HttpAnswer } from '../../../lambdas/adapters/http-exchange';
import {
  BlobUnknownError,
  DeniedError,
  ManifestUnknownError,
  RateLimitedError,
  RegistryRequestError,
  RegistryUnavailableError,
  UnauthorizedError,
} from '../../../lambdas/core/errors';

const request = { what: 'blob r/x@sha256:1', repository: 'x', notFound: 'blob' as const };

describe('registry exchange layer', () => {
  it('maps each status to its error, retryable or not', () => {
    const table = [
      { status: 401, type: UnauthorizedError, retryable: false },
      { status: 403, type: DeniedError, retryable: false },
      { status: 404, type: BlobUnknownError, retryable: false },
      { status: 429, type: RateLimitedError, retryable: true },
      { status: 503, type: RegistryUnavailableError, retryable: true },
      { status: 400, type: RegistryRequestError, retryable: false },
    ];
    for (const { status, type, retryable } of table) {
      const error = toError(
        'r.example',
        request,
        new HttpAnswer(status, { 'retry-after': '2' }, Buffer.alloc(0)),
      );
      assert.ok(error instanceof type, `${status}`);
      assert.equal(error.retryable, retryable, `${status}`);
      assert.equal(error.status, status);
    }
    const manifest = toError(
      'r.example',
      { what: 'manifest', repository: 'x' },
      new HttpAnswer(404, {}, Buffer.from('{"errors":[{"code":"NAME_UNKNOWN","message":"no repo"}]}')),
    );
    assert.ok(manifest instanceof ManifestUnknownError);
    assert.match(manifest.message, /NAME_UNKNOWN: no repo.*does the repository exist/);
    const limited = toError(
      'r.example',
      request,
      new HttpAnswer(429, { 'retry-after': '2' }, Buffer.alloc(0)),
    );
    assert.ok(limited instanceof RateLimitedError && limited.retryAfterMs === 2000);
  });

  it('names the other origin that answered', () => {
    const error = toError(
      'r.example',
      request,
      new HttpAnswer(401, {}, Buffer.alloc(0)),
      'http://elsewhere:1',
    );
    assert.match(error.message, /http:\/\/elsewhere:1 \(reached from r\.example\) answered 401/);
  });

  it('turns a connection that closes without an answer into a retryable RegistryUnavailableError', async () => {
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const context: RegistryContext = {
      registry: `127.0.0.1:${port}`,
      endpoint: `http://127.0.0.1:${port}`,
      origin: `http://127.0.0.1:${port}`,
      userAgent: 'test',
      requestTimeoutMs: 1000,
      streamTimeoutMs: 1000,
      signal: undefined,
    };
    try {
      await assert.rejects(
        exchange(
          context,
          { method: 'GET', url: '/v2/', repository: '', scopes: [], what: 'ping' },
          new URL(`${context.endpoint}/v2/`),
          {},
        ),
        (e: unknown) =>
          e instanceof RegistryUnavailableError && e.retryable && /cannot reach/.test(e.message),
      );
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
