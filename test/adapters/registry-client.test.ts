// The registry client against real registries: Docker token (Bearer) authentication with a real
// registry verifying real JWTs, basic authentication (how ECR answers), digest checks on manifests
// the registry's storage was made to corrupt, and the absent-thing answers (HEAD 404s).
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../lambdas/adapters/registry-client';
import { copyImage } from '../../lambdas/copy/copy-image';
import { DigestMismatchError, ManifestUnknownError, UnauthorizedError } from '../../lambdas/core/errors';
import { parseImageRef } from '../../lambdas/core/image-ref';
import { inspectRaw, pushRandomImage, sha256 } from '../support/images';
import { startRegistry, type RegistryServer } from '../support/registry-server';
import { startTokenRegistry, type TokenRegistry } from '../support/token-registry';

const FAST_RETRY = { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 };

describe('RegistryClient with token (Bearer) authentication', () => {
  let hub: TokenRegistry;
  let basic: RegistryServer;
  before(async () => {
    [hub, basic] = await Promise.all([startTokenRegistry(), startRegistry()]);
  });
  after(async () => {
    await Promise.all([hub?.stop(), basic?.stop()]);
  });

  it('reads with a pull-scoped token for the service the challenge names, fetched once', async () => {
    // Prepare
    const pushed = await pushRandomImage(`${hub.host}/team/app:1`, hub);
    const client = new RegistryClient({ registry: hub.host, credentials: hub, retry: FAST_RETRY });
    hub.tokenRequests.length = 0;

    // Act
    const first = await client.getManifest('team/app', '1');
    const again = await client.headManifest('team/app', pushed.digest);

    // Assess
    assert.equal(first.digest, pushed.digest);
    assert.equal(again?.digest, pushed.digest);
    assert.deepEqual(hub.tokenRequests, [
      { user: hub.username, service: 'test-registry', scopes: ['repository:team/app:pull'] },
    ]);
  });

  it('copies from a token registry to a basic-auth registry and back', async () => {
    // Prepare
    const pushed = await pushRandomImage(`${hub.host}/round/trip:1`, hub);
    const hubClient = (): RegistryClient =>
      new RegistryClient({ registry: hub.host, credentials: hub, retry: FAST_RETRY });
    const basicClient = (): RegistryClient =>
      new RegistryClient({ registry: basic.host, credentials: basic, retry: FAST_RETRY });

    // Act
    await copyImage({
      source: parseImageRef(`${hub.host}/round/trip:1`),
      destination: parseImageRef(`${basic.host}/round/trip:1`),
      sourceRegistry: hubClient(),
      destinationRegistry: basicClient(),
    });
    hub.tokenRequests.length = 0;
    await copyImage({
      source: parseImageRef(`${basic.host}/round/trip:1`),
      destination: parseImageRef(`${hub.host}/round/back:1`),
      sourceRegistry: basicClient(),
      destinationRegistry: hubClient(),
    });

    // Assess
    assert.equal(sha256(await inspectRaw(`${basic.host}/round/trip:1`, basic)), pushed.digest);
    assert.equal(sha256(await inspectRaw(`${hub.host}/round/back:1`, hub)), pushed.digest);
    assert.ok(
      hub.tokenRequests.some((request) => request.scopes.includes('repository:round/back:pull,push')),
      JSON.stringify(hub.tokenRequests),
    );
  });

  const refused: readonly { readonly name: string; readonly password: string | undefined }[] = [
    { name: 'wrong password (the token service refuses)', password: 'wrong' },
    { name: 'no credentials (the token grants nothing)', password: undefined },
  ];
  for (const { name, password } of refused) {
    it(`fails with UnauthorizedError on ${name}`, async () => {
      // Prepare
      await pushRandomImage(`${hub.host}/private/app:1`, hub);
      const client = new RegistryClient({
        registry: hub.host,
        ...(password === undefined ? {} : { credentials: { username: hub.username, password } }),
        retry: FAST_RETRY,
      });

      // Act
      const reading = client.getManifest('private/app', '1');

      // Assess
      await assert.rejects(reading, (e: unknown) => e instanceof UnauthorizedError && !e.retryable);
    });
  }
});

describe('RegistryClient with basic authentication', () => {
  let registry: RegistryServer;
  let client: RegistryClient;
  before(async () => {
    registry = await startRegistry({ password: '333333333333-auth-token' });
    client = new RegistryClient({ registry: registry.host, credentials: registry, retry: FAST_RETRY });
  });
  after(async () => {
    await registry?.stop();
  });

  it('answers undefined / false for a missing manifest and blob, and throws for a missing GET', async () => {
    // Prepare
    const pushed = await pushRandomImage(`${registry.host}/absent/app:1`, registry);
    const missing = `sha256:${'0'.repeat(64)}`;

    // Act
    const tag = await client.headManifest('absent/app', 'nope');
    const blob = await client.hasBlob('absent/app', missing);
    const present = await client.hasBlob('absent/app', pushed.manifest.config.digest);
    const reading = client.getManifest('absent/app', 'nope');

    // Assess
    assert.equal(tag, undefined);
    assert.equal(blob, false);
    assert.equal(present, true);
    await assert.rejects(reading, (e: unknown) => e instanceof ManifestUnknownError && e.status === 404);
  });

  it('refuses a manifest whose bytes do not hash to the digest the registry announces', async () => {
    // Prepare: corrupt the manifest in the registry's storage (same length, one byte changed).
    const pushed = await pushRandomImage(`${registry.host}/tampered/app:1`, registry);
    const hex = pushed.digest.slice('sha256:'.length);
    const file = join(
      registry.rootDirectory,
      'docker/registry/v2/blobs/sha256',
      hex.slice(0, 2),
      hex,
      'data',
    );
    const tampered = pushed.manifest.bytes.replace('"size":1024', '"size":1025');
    assert.notEqual(tampered, pushed.manifest.bytes);
    await writeFile(file, tampered);

    // Act
    const readings = await Promise.allSettled([
      client.getManifest('tampered/app', '1'),
      client.getManifest('tampered/app', pushed.digest),
    ]);

    // Assess
    for (const reading of readings) {
      assert.equal(reading.status, 'rejected');
      await assert.rejects(Promise.reject((reading as PromiseRejectedResult).reason), (e: unknown) => {
        assert.ok(e instanceof DigestMismatchError, String(e));
        assert.equal(e.retryable, true);
        assert.match(e.message, new RegExp(`not ${pushed.digest}`));
        return true;
      });
    }
  });

  it('puts manifest bytes as they are and reports the digest the registry stored', async () => {
    // Prepare: an image whose manifest bytes are pretty-printed (any re-serialization would show).
    const pushed = await pushRandomImage(`${registry.host}/put/app:1`, registry, { pretty: true });
    const fetched = await client.getManifest('put/app', '1');

    // Act
    const put = await client.putManifest('put/app', 'copy', fetched.bytes, fetched.mediaType);

    // Assess
    assert.equal(put.digest, pushed.digest);
    assert.equal(
      (await inspectRaw(`${registry.host}/put/app:copy`, registry)).toString(),
      pushed.manifest.bytes,
    );
  });
});
