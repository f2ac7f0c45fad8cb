// A small misbehaving registry on loopback, and a second origin beside it ("foreign": another port,
// `localhost` instead of 127.0.0.1) that records every request it gets with its Authorization
// header. The registry asks for credentials at /v2/ (Basic, or Bearer with its own token service)
// and then, by trap, does what a hostile or broken registry may do: send a blob read to the
// foreign origin, which answers 401 naming its own token realm; answer its own 401 naming the
// foreign realm; link the next referrers page, or an upload session, to the foreign origin; stream
// a blob without end; accept a request and never answer; drip a blob a byte at a time.
// No real registry behaves like this; docker-registry covers the ordinary cases (registry-server.ts).
// Test support only: it listens on 127.0.0.1 and nothing else.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export type HostileTrap =
  /** Blob and manifest GETs: 307 to the foreign origin, which answers 401 with its own Bearer realm. */
  | 'redirect-to-challenge'
  /** The registry's own manifest GETs answer 401 naming the foreign origin's token realm. */
  | 'challenge-elsewhere'
  /** Referrers: one page here, `Link: rel=next` to the foreign origin (which answers 401). */
  | 'foreign-link'
  /** Upload sessions: `Location` on the foreign origin (which answers 401). */
  | 'foreign-location'
  /** Blob GETs: 200, chunked, bytes without end. */
  | 'endless-blob'
  /** Blob GETs: the connection is accepted and never answered. */
  | 'silent'
  /** Blob GETs: 200 with a Content-Length, then one byte every `dripMs`. */
  | 'drip';

export interface SeenRequest {
  readonly origin: 'registry' | 'foreign';
  readonly method: string;
  /** Path and query. */
  readonly url: string;
  readonly authorization: string | undefined;
}

export interface HostileRegistry {
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  readonly url: string;
  /** `http://localhost:PORT`: another origin than the registry's. */
  readonly foreignUrl: string;
  readonly requests: SeenRequest[];
  /** Requests that reached the foreign origin. */
  foreign(): readonly SeenRequest[];
  /** Bytes of blob bodies sent so far (endless-blob, drip). */
  blobBytesSent(): number;
  stop(): Promise<void>;
}

export interface HostileRegistryOptions {
  readonly trap: HostileTrap;
  /** How /v2/ asks for credentials. Default basic. */
  readonly auth?: 'basic' | 'bearer';
  /** drip: ms between bytes (default 100). */
  readonly dripMs?: number;
  /** drip: the Content-Length announced (default 1 MiB). */
  readonly dripLength?: number;
}

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

export async function startHostileRegistry(options: HostileRegistryOptions): Promise<HostileRegistry> {
  const requests: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let blobBytes = 0;
  let registryUrl = '';
  let foreignUrl = '';

  const foreign = createServer((req, res) => {
    requests.push(seen('foreign', req));
    req.resume();
    // Whatever is asked: a challenge naming this origin's own token service.
    if (new URL(req.url ?? '/', 'http://x').pathname === '/token') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"foreign-token"}');
      return;
    }
    res
      .writeHead(401, { 'www-authenticate': `Bearer realm="${foreignUrl}/token",service="foreign"` })
      .end('{"errors":[{"code":"UNAUTHORIZED","message":"foreign"}]}');
  });

  const registry = createServer((req, res) => {
    requests.push(seen('registry', req));
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/token') {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"registry-token"}');
      return;
    }
    const challenge =
      options.auth === 'bearer'
        ? `Bearer realm="${registryUrl}/token",service="hostile"`
        : 'Basic realm="hostile"';
    if (req.headers.authorization === undefined) {
      req.resume();
      res.writeHead(401, { 'www-authenticate': challenge }).end();
      return;
    }
    answer(req, res, path);
  });

  const answer = (req: IncomingMessage, res: ServerResponse, path: string): void => {
    const trap = options.trap;
    const blobGet = req.method === 'GET' && /\/blobs\/sha256:[0-9a-f]{64}$/.test(path);
    const manifestGet = req.method === 'GET' && /\/manifests\//.test(path);
    if (trap === 'redirect-to-challenge' && (blobGet || manifestGet)) {
      req.resume();
      res.writeHead(307, { location: `${foreignUrl}${req.url ?? '/'}` }).end();
      return;
    }
    if (trap === 'challenge-elsewhere' && manifestGet) {
      req.resume();
      res
        .writeHead(401, { 'www-authenticate': `Bearer realm="${foreignUrl}/token",service="foreign"` })
        .end();
      return;
    }
    if (trap === 'foreign-link' && req.method === 'GET' && /\/referrers\//.test(path)) {
      req.resume();
      res
        .writeHead(200, {
          'content-type': OCI_INDEX,
          link: `<${foreignUrl}${path}?page=2>; rel="next"`,
        })
        .end(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }));
      return;
    }
    if (trap === 'foreign-location' && req.method === 'POST' && /\/blobs\/uploads\/$/.test(path)) {
      req.resume();
      res.writeHead(202, { location: `${foreignUrl}/v2/upload/session-1` }).end();
      return;
    }
    if (manifestGet && (trap === 'endless-blob' || trap === 'silent' || trap === 'drip')) {
      req.resume();
      const manifest = imageManifest(trap);
      res.writeHead(200, {
        'content-type': manifest.mediaType,
        'content-length': String(manifest.bytes.byteLength),
      });
      res.end(manifest.bytes);
      return;
    }
    if (trap === 'endless-blob' && blobGet) {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const pump = (): void => {
        while (!res.destroyed) {
          blobBytes += CHUNK.byteLength;
          if (!res.write(CHUNK)) {
            res.once('drain', pump);
            return;
          }
        }
      };
      pump();
      return;
    }
    if (trap === 'silent' && blobGet) {
      req.resume();
      return;
    }
    if (trap === 'drip' && blobGet) {
      req.resume();
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': String(options.dripLength ?? 1024 * 1024),
      });
      const timer = setInterval(() => {
        if (res.destroyed) {
          clearInterval(timer);
          timers.delete(timer);
          return;
        }
        blobBytes += 1;
        res.write('a');
      }, options.dripMs ?? 100);
      timers.add(timer);
      return;
    }
    req.resume();
    if (path === '/v2/') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    res
      .writeHead(404, { 'content-type': 'application/json' })
      .end('{"errors":[{"code":"NAME_UNKNOWN","message":"nothing here"}]}');
  };

  for (const server of [registry, foreign]) {
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
  }
  const registryPort = await listen(registry);
  const foreignPort = await listen(foreign);
  registryUrl = `http://127.0.0.1:${registryPort}`;
  foreignUrl = `http://localhost:${foreignPort}`;
  return {
    host: `127.0.0.1:${registryPort}`,
    url: registryUrl,
    foreignUrl,
    requests,
    foreign: () => requests.filter((request) => request.origin === 'foreign'),
    blobBytesSent: () => blobBytes,
    stop: async () => {
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      await Promise.all([close(registry), close(foreign)]);
    },
  };
}

/** The image the blob traps serve: Docker schema 1 (no sizes) for endless-blob, else an OCI image
 * whose one layer is the trapped blob (every blob GET is trapped; the config is empty JSON). */
function imageManifest(trap: HostileTrap): { readonly mediaType: string; readonly bytes: Buffer } {
  if (trap === 'endless-blob') {
    const body = {
      schemaVersion: 1,
      name: 'hostile/app',
      tag: '1',
      architecture: 'amd64',
      fsLayers: [{ blobSum: HOSTILE_LAYER }],
      history: [{ v1Compatibility: '{}' }],
    };
    return {
      mediaType: 'application/vnd.docker.distribution.manifest.v1+json',
      bytes: Buffer.from(JSON.stringify(body)),
    };
  }
  const mediaType = 'application/vnd.oci.image.manifest.v1+json';
  const body = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: HOSTILE_LAYER, size: 2 },
    layers: [
      { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: HOSTILE_LAYER, size: 1024 * 1024 },
    ],
  };
  return { mediaType, bytes: Buffer.from(JSON.stringify(body)) };
}

/** The digest every blob of the served images names (never delivered whole). */
export const HOSTILE_LAYER = `sha256:${'b'.repeat(64)}`;

function seen(origin: SeenRequest['origin'], req: IncomingMessage): SeenRequest {
  return { origin, method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

function close(server: Server): Promise<void> {
  return new Promise<void>((resolve) => server.close(() => resolve()));
}
