// Blob reads that the registry answers with a redirect to object storage — what ECR does for every
// layer (307 to a presigned S3 URL). The source registry stands behind a proxy that redirects every
// blob GET to a small storage server serving the registry's own stored bytes, which, like S3 with a
// presigned URL, refuses any request that still carries an Authorization header.
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { copyWithEngine } from '../../bench/support/engine';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { inspectRaw, pushRandomImage, sha256 } from '../support/images';
import { startRegistry, type RegistryServer } from '../support/registry-server';

interface StorageServer {
  readonly url: string;
  readonly requests: { readonly path: string; readonly authorization: string | undefined }[];
  stop(): Promise<void>;
}

/** Serves `/<algorithm>/<hex>` from the registry's filesystem storage, S3-style (no Authorization). */
async function startStorage(registry: RegistryServer): Promise<StorageServer> {
  const requests: StorageServer['requests'] = [];
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://storage').pathname;
    requests.push({ path, authorization: req.headers.authorization });
    if (req.headers.authorization !== undefined) {
      res.writeHead(400).end('Only one auth mechanism allowed');
      return;
    }
    const [, algorithm, hex] = path.split('/');
    const file = join(
      registry.rootDirectory,
      'docker/registry/v2/blobs',
      algorithm ?? '',
      (hex ?? '').slice(0, 2),
      hex ?? '',
      'data',
    );
    stat(file).then(
      (info) => {
        res.writeHead(200, {
          'content-length': String(info.size),
          'content-type': 'application/octet-stream',
        });
        createReadStream(file).pipe(res);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  // `localhost`, not 127.0.0.1: another origin than the registry's, as S3 is.
  return {
    url: `http://localhost:${port}`,
    requests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('blob reads redirected to object storage (ECR -> S3)', () => {
  let src: RegistryServer;
  let dst: RegistryServer;
  let proxy: FaultProxy;
  let storage: StorageServer;
  before(async () => {
    [src, dst] = await Promise.all([
      startRegistry({ password: 'src-pw' }),
      startRegistry({ password: 'dst-pw' }),
    ]);
    proxy = await startFaultProxy({ upstream: src.url });
    storage = await startStorage(src);
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
            location: (path) =>
              `${storage.url}/${path.split('/blobs/')[1]!.replace(':', '/')}?X-Amz-Signature=test`,
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
