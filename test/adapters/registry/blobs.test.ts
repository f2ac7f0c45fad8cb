// Bounded transfers, against a hostile registry on loopback (test/support/hostile-registry.ts): a
// blob of unknown size (Docker schema 1) that streams without end stops at maxBlobBytes; a registry
// that accepts a blob read and never answers, or answers slower than the idle limit, fails it with
// a retryable RegistryUnavailableError; one that drips bytes just fast enough to stay under the
// idle limit is ended by the copy's deadline (DeadlineExceededError, retryable).
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, it } from 'node:test';
import { RegistryClient } from '../../../lambdas/adapters/registry-client';
import { deadlineSignal } from '../../../lambdas/copy/deadline';
import {
  BlobTooLargeError,
  DeadlineExceededError,
  RegistryUnavailableError,
} from '../../../lambdas/core/errors';
import { HOSTILE_LAYER, startHostileRegistry, type HostileRegistry } from '../../support/hostile-registry';

const FAST_RETRY = { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 };
const CREDENTIALS = { username: 'robot', password: 'secret-password' };
const MiB = 1024 * 1024;

/** Reads `client`'s blob to the end (or its error), counting the bytes. */
async function drain(client: RegistryClient, size: number): Promise<{ bytes: number; error: unknown }> {
  let bytes = 0;
  try {
    const stream = await client.openBlob('hostile/app', { mediaType: 'x', digest: HOSTILE_LAYER, size });
    await pipeline(
      stream,
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          bytes += chunk.byteLength;
          callback();
        },
      }),
    );
    return { bytes, error: undefined };
  } catch (e: unknown) {
    return { bytes, error: e };
  }
}

describe('registry blobs: bounded transfers', { timeout: 60_000 }, () => {
  let hostile: HostileRegistry | undefined;
  afterEach(async () => {
    await hostile?.stop();
    hostile = undefined;
  });

  it('stops a blob of unknown size at maxBlobBytes (BlobTooLargeError, not retried)', async () => {
    // Prepare
    hostile = await startHostileRegistry({ trap: 'endless-blob' });
    const client = new RegistryClient({
      registry: hostile.host,
      credentials: CREDENTIALS,
      retry: FAST_RETRY,
      maxBlobBytes: 4 * MiB,
    });

    // Act
    const { bytes, error } = await drain(client, -1);

    // Assess
    assert.ok(error instanceof BlobTooLargeError, `expected BlobTooLargeError, got ${String(error)}`);
    assert.equal(error.retryable, false);
    assert.match(error.message, /copy\.maxBlobBytes/);
    assert.ok(bytes <= 4 * MiB, `${bytes} bytes handed on`);
    const gets = hostile.requests.filter((r) => r.method === 'GET' && r.url.includes('/blobs/'));
    assert.equal(gets.length, 1);
  });

  for (const { trap, size } of [
    { trap: 'silent', size: 1024 },
    { trap: 'silent', size: -1 },
    { trap: 'drip', size: 1024 },
    { trap: 'drip', size: 4 * MiB },
  ] as const) {
    const read = size < 0 || size >= MiB ? 'own-connection' : 'pooled';
    it(`fails a ${trap} blob read past the idle limit, retryably (${read} read)`, async () => {
      // Prepare: one byte a second against a 300 ms idle limit
      hostile = await startHostileRegistry({ trap, dripMs: 1000 });
      const client = new RegistryClient({
        registry: hostile.host,
        credentials: CREDENTIALS,
        retry: FAST_RETRY,
        idleTimeoutMs: 300,
      });

      // Act
      const { error } = await drain(client, size);

      // Assess
      assert.ok(
        error instanceof RegistryUnavailableError,
        `expected RegistryUnavailableError, got ${String(error)}`,
      );
      assert.equal(error.retryable, true);
    });
  }

  it('ends a blob read dripping under the idle limit at the deadline', async () => {
    // Prepare: a byte every 50 ms never trips a 1 s idle limit
    hostile = await startHostileRegistry({ trap: 'drip', dripMs: 50 });
    const client = new RegistryClient({
      registry: hostile.host,
      credentials: CREDENTIALS,
      retry: FAST_RETRY,
      idleTimeoutMs: 1000,
    }).withSignal(deadlineSignal(1500, 'test deadline'));

    // Act
    const { error } = await drain(client, 1024);

    // Assess
    assert.ok(error instanceof DeadlineExceededError, `expected DeadlineExceededError, got ${String(error)}`);
    assert.equal(error.retryable, true);
    assert.match(error.message, /within 1\.5 s \(test deadline\)/);
  });
});
