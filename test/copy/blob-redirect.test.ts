// Blob reads that the registry answers with a redirect to object storage — what ECR does for every
// layer (307 to a presigned S3 URL). The source registry stands behind a proxy that redirects every
// blob GET to a small storage server serving the registry's own stored bytes, which, like S3 with a
// presigned URL, refuses any request that still carries an Authorization header.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { copyWithEngine } from '../../bench/support/engine';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { inspectRaw, pushRandomImage, sha256 } from '../support/images';
import { startObjectStorage, type ObjectStorage } from '../support/object-storage';
import { startRegistry, type RegistryServer } from '../support/registry-server';

describe('blob reads redirected to object storage (ECR -> S3)', () => {
  let src: RegistryServer;
  let dst: RegistryServer;
  let proxy: FaultProxy;
  let storage: ObjectStorage;
  before(async () => {
    [src, dst] = await Promise.all([
      startRegistry({ password: 'src-pw' }),
      startRegistry({ password: 'dst-pw' }),
    ]);
    proxy = await startFaultProxy({ upstream: src.url });
    storage = await startObjectStorage(src.rootDirectory);
  });
  after(async () => {
    await Promise.all([proxy?.stop(), storage?.stop(), src?.stop(), dst?.stop()]);
  });

  // Both ways of reading a blob: the keep-alive pool, and a connection of its own (large blobs,
  // http-download.ts; here made to take every blob).
  const PATHS = [
    { name: 'pooled reads', transfer: {} },
    { name: 'own-connection reads', transfer: { directDownloadBytes: 0 } },
  ];
  PATHS.forEach(({ name, transfer }, i) => {
    it(`follows the redirect without sending the registry credentials there, and copies identically (${name})`, async () => {
      // Prepare
      const repository = `redirected/app${i}`;
      const pushed = await pushRandomImage(`${src.host}/${repository}:1`, src, { layers: [300_000, 5_000] });
      const before = storage.requests.length;
      proxy.setRules([
        {
          name: 'to-storage',
          methods: ['GET'],
          path: /\/blobs\/sha256:[a-f0-9]{64}$/,
          action: {
            kind: 'redirect',
            location: (path) => storage.presign(path),
          },
        },
      ]);

      // Act
      const result = await copyWithEngine({
        source: `${proxy.host}/${repository}:1`,
        destination: `${dst.host}/${repository}:1`,
        sourceSide: { endpoint: proxy.url, credentials: { username: src.username, password: src.password } },
        destinationSide: {
          endpoint: dst.url,
          credentials: { username: dst.username, password: dst.password },
        },
        transfer,
      });

      // Assess
      const blobs = 1 + pushed.manifest.layers.length;
      const requests = storage.requests.slice(before);
      assert.equal(result.digest, pushed.digest);
      assert.equal(sha256(await inspectRaw(`${dst.host}/${repository}:1`, dst)), pushed.digest);
      assert.equal(proxy.stats('to-storage').injected, blobs, 'every blob read was redirected');
      assert.equal(requests.length, blobs, 'every blob came from storage');
      assert.deepEqual(
        requests.filter((r) => r.authorization !== undefined),
        [],
        'credentials sent to storage',
      );
    });
  });
});
