// The auth layer binds the registry's credentials to the registry's origin: against a hostile
// registry on loopback (test/support/hostile-registry.ts), no Authorization header — Basic or a
// token — ever reaches another origin, whether it was learnt from a redirect, a 401 naming another
// realm, a `Link: rel=next` or an upload `Location`; and a token realm is taken only from the
// registry's own /v2/ challenge. The ordinary handshakes against a real registry are in
// test/adapters/registry-client.test.ts.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import { validateRealm } from '../../../lambdas/adapters/registry/auth';
import { RegistryClient } from '../../../lambdas/adapters/registry-client';
import { UnauthorizedError } from '../../../lambdas/core/errors';
import { startHostileRegistry, type HostileRegistry } from '../../support/hostile-registry';

const FAST_RETRY = { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 };
const CREDENTIALS = { username: 'robot', password: 'secret-password' };
const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('registry auth layer: credentials bound to the registry origin', () => {
  let hostile: HostileRegistry | undefined;
  afterEach(async () => {
    await hostile?.stop();
    hostile = undefined;
  });

  const clientFor = (registry: HostileRegistry): RegistryClient =>
    new RegistryClient({ registry: registry.host, credentials: CREDENTIALS, retry: FAST_RETRY });

  const cases: readonly {
    readonly name: string;
    readonly trap: 'redirect-to-challenge' | 'challenge-elsewhere' | 'foreign-link' | 'foreign-location';
    readonly auth: 'basic' | 'bearer';
    readonly act: (client: RegistryClient) => Promise<unknown>;
  }[] = [
    {
      name: 'a blob read redirected to another origin that answers 401 with its own realm',
      trap: 'redirect-to-challenge',
      auth: 'basic',
      act: (client) => client.openBlob('team/app', { mediaType: 'x', digest: DIGEST, size: 10 }),
    },
    {
      name: 'a manifest read redirected to another origin that answers 401 with its own realm (Bearer)',
      trap: 'redirect-to-challenge',
      auth: 'bearer',
      act: (client) => client.getManifest('team/app', '1'),
    },
    {
      name: "the registry's own 401 naming another origin's realm",
      trap: 'challenge-elsewhere',
      auth: 'bearer',
      act: (client) => client.getManifest('team/app', '1'),
    },
    {
      name: 'a referrers Link rel=next on another origin',
      trap: 'foreign-link',
      auth: 'basic',
      act: (client) => client.listReferrers('team/app', DIGEST),
    },
    {
      name: 'an upload Location on another origin',
      trap: 'foreign-location',
      auth: 'bearer',
      act: (client) =>
        client.uploadBlob('team/app', { mediaType: 'x', digest: DIGEST, size: 3 }, () =>
          Promise.resolve(Readable.from([Buffer.from('abc')])),
        ),
    },
  ];

  for (const { name, trap, auth, act } of cases) {
    it(`sends no credentials to ${name}`, async () => {
      // Prepare
      hostile = await startHostileRegistry({ trap, auth });
      const client = clientFor(hostile);

      // Act
      const outcome = await act(client).then(
        () => undefined,
        (e: unknown) => e,
      );

      // Assess
      assert.ok(outcome instanceof UnauthorizedError, `expected UnauthorizedError, got ${String(outcome)}`);
      assert.ok(
        hostile.requests.some(
          (request) => request.origin === 'registry' && request.authorization !== undefined,
        ),
        'the registry itself got the credentials',
      );
      assert.deepEqual(
        hostile.foreign().filter((request) => request.authorization !== undefined),
        [],
        'no Authorization header reached the foreign origin',
      );
      assert.ok(
        hostile.foreign().every((request) => !request.url.startsWith('/token')),
        'no token request went to the foreign realm',
      );
    });
  }

  it("says which origin refused, and that the registry's credentials stay with the registry", async () => {
    // Prepare
    hostile = await startHostileRegistry({ trap: 'foreign-location', auth: 'basic' });

    // Act
    const outcome = await clientFor(hostile)
      .uploadBlob('team/app', { mediaType: 'x', digest: DIGEST, size: 3 }, () =>
        Promise.resolve(Readable.from([Buffer.from('abc')])),
      )
      .catch((e: unknown) => e);

    // Assess
    assert.ok(outcome instanceof UnauthorizedError);
    assert.match(
      outcome.message,
      new RegExp(`${hostile.foreignUrl} \\(reached from ${hostile.host}\\) answered 401`),
    );
    assert.match(outcome.message, /only sent to the registry itself/);
  });

  it('asks /v2/ once, then again after a 401 from the registry itself', async () => {
    // Prepare: the registry answers every authenticated manifest read with 401
    hostile = await startHostileRegistry({ trap: 'challenge-elsewhere', auth: 'bearer' });
    const client = clientFor(hostile);

    // Act
    await client.getManifest('team/app', '1').catch(() => undefined);

    // Assess: ping, token, read (401), ping again, token again from the same realm, read (401)
    const own = hostile.requests.filter((request) => request.origin === 'registry');
    assert.equal(own.filter((request) => request.url === '/v2/').length, 2);
    assert.equal(own.filter((request) => request.url.startsWith('/token')).length, 2);
  });
});

describe('validateRealm', () => {
  const table: readonly { realm: string; endpoint: string; ok: boolean }[] = [
    { realm: 'https://auth.example.com/token', endpoint: 'https://registry.example.com', ok: true },
    { realm: 'http://auth.example.com/token', endpoint: 'https://registry.example.com', ok: false },
    { realm: 'http://127.0.0.1:5001/token', endpoint: 'http://127.0.0.1:5000', ok: true },
    { realm: 'file:///etc/passwd', endpoint: 'http://127.0.0.1:5000', ok: false },
    { realm: 'ftp://auth.example.com/token', endpoint: 'https://registry.example.com', ok: false },
    { realm: '/token', endpoint: 'https://registry.example.com', ok: false },
  ];
  for (const { realm, endpoint, ok } of table) {
    it(`${ok ? 'accepts' : 'refuses'} ${realm} for ${endpoint}`, () => {
      const check = (): void => validateRealm(realm, { registry: 'r.example', endpoint });
      if (ok) assert.doesNotThrow(check);
      else assert.throws(check, UnauthorizedError);
    });
  }
});
