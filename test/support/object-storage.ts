// A stand-in for S3 behind ECR's presigned blob URLs: serves `/<algorithm>/<hex>` from a
// docker-registry's filesystem storage and, like S3 with a presigned URL, refuses any request that
// still carries an Authorization header ("Only one auth mechanism allowed"). Listens on `localhost`,
// another origin than the registry's 127.0.0.1, as S3 is another host than ECR.
// Test support only: loopback, read-only.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';

export interface ObjectStorage {
  /** `http://localhost:PORT`. */
  readonly url: string;
  readonly requests: { readonly path: string; readonly authorization: string | undefined }[];
  /** The presigned URL of the blob at a registry path ending `/blobs/<digest>`. */
  presign(path: string): string;
  stop(): Promise<void>;
}

/** Serves the blobs of the registry whose storage root is `rootDirectory`. */
export async function startObjectStorage(rootDirectory: string): Promise<ObjectStorage> {
  const requests: ObjectStorage['requests'] = [];
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://storage').pathname;
    requests.push({ path, authorization: req.headers.authorization });
    if (req.headers.authorization !== undefined) {
      res.writeHead(400).end('Only one auth mechanism allowed');
      return;
    }
    const [, algorithm, hex] = path.split('/');
    const file = join(
      rootDirectory,
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
  const url = `http://localhost:${port}`;
  return {
    url,
    requests,
    presign: (path) => `${url}/${path.split('/blobs/')[1]!.replace(':', '/')}?X-Amz-Signature=test`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
