// A model of Amazon ECR's registry (docker/OCI) API: an HTTP proxy on loopback in front of a real
// docker-registry that answers the way ECR does where ECR differs from the CNCF registry. No
// machine here reaches AWS, so every behaviour below is one ECR documents or users reported, each
// with its source; the engine's tests run through it as well as against plain docker-registry.
//
//  - API quotas, per account and Region, as token buckets per API (AWS docs, "Amazon ECR service
//    quotas": PutImage 10/s, InitiateLayerUpload and CompleteLayerUpload 100/s, UploadLayerPart
//    500/s, BatchCheckLayerAvailability 1,000/s, BatchGetImage 2,000/s, GetDownloadUrlForLayer
//    3,000/s). Registry routes map onto these APIs (ROUTES below). Over quota: 429, code
//    TOOMANYREQUESTS, message "Rate exceeded", no Retry-After (AWS docs "Troubleshooting Amazon ECR
//    error messages": "TOOMANYREQUESTS: Rate exceeded"; containerd #10447: 429 on a manifest PUT
//    against ECR's PutImage 10/s).
//  - A chunk upload (PATCH) is answered 201, not the spec's 202 (research note, shared/research).
//  - Every layer part but the last must be at least 5 MiB: a PATCH or closing PUT after a smaller
//    part is refused, "All layer parts except the last part should be at least 5MB"
//    (LayerPartTooSmallException, dotnet/sdk-container-builds #424; the registry-API error code
//    below is this model's, the message is ECR's). Layers over 52,000 MiB are refused (quotas).
//  - Blob mounting is off unless the registry turned it on (BLOB_MOUNTING, same account and Region
//    only; containers-roadmap #2860): a mount POST gets an upload session (202), never a 201.
//  - A repository must exist (NAME_UNKNOWN, 404, "The repository with name '...' does not exist in
//    the registry with id '...'"; moby/moby #24473) unless created on push (repository creation
//    templates, CREATE_ON_PUSH).
//  - Immutable tags: any PUT to an existing tag is refused, even of the same digest: 400 TAG_INVALID
//    "The image tag '<tag>' already exists in the '<repo>' repository and cannot be overwritten
//    because the tag is immutable." (osscontainertools/kaniko #204; moby/buildkit #3776;
//    containers-roadmap #2380).
//  - A manifest whose `subject` is an index is refused with 405 (moby/buildkit #5747, ECR with
//    oci-artifact attestations; oras-project/oras #2783 in shared/research). Body: this model's.
//  - Manifests with `platform.features` are refused (containers-roadmap #2439), and so is a
//    descriptor `data` field (reported for ECR Public, containers-roadmap #2023; modelled for both).
//    Manifests over 4 MiB are refused (MANIFEST_INVALID; the OCI distribution spec lets a registry
//    set this limit, 4 MiB being the spec's suggested minimum a registry should accept).
//  - Blob GETs answer 307 to a presigned S3 URL (./object-storage), which refuses Authorization.
//
// What ECR does not do differently (auth challenge, manifests by digest, the referrers API) is the
// CNCF registry's own answer, forwarded. Test support only: loopback, never anything else.
import { Agent, createServer, request as forwardRequest, type IncomingMessage, type Server } from 'node:http';
import { startObjectStorage, type ObjectStorage } from './object-storage';
import type { RegistryServer } from './registry-server';

/** The ECR APIs a registry request counts against. */
export type EcrApi =
  | 'PutImage'
  | 'InitiateLayerUpload'
  | 'UploadLayerPart'
  | 'CompleteLayerUpload'
  | 'BatchCheckLayerAvailability'
  | 'BatchGetImage'
  | 'GetDownloadUrlForLayer';

/** Default quotas, requests per second per account and Region (AWS docs, service quotas). */
export const ECR_API_QUOTAS: Readonly<Record<EcrApi, number>> = {
  PutImage: 10,
  InitiateLayerUpload: 100,
  UploadLayerPart: 500,
  CompleteLayerUpload: 100,
  BatchCheckLayerAvailability: 1000,
  BatchGetImage: 2000,
  GetDownloadUrlForLayer: 3000,
};

/** Every part but the last: at least this many bytes (LayerPartTooSmallException). */
export const ECR_MIN_LAYER_PART_BYTES = 5 * 1024 * 1024;
export const ECR_MAX_LAYER_BYTES = 52_000 * 1024 * 1024;
export const ECR_MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface EcrModelOptions {
  /** The docker-registry behind the model (its storage serves the presigned blob reads). */
  readonly upstream: RegistryServer;
  readonly accountId?: string;
  /** Repositories that exist. Default: created on push (a creation template), as tests push anywhere:
   * then the registry's own answers say which exist. */
  readonly repositories?: readonly string[] | 'create-on-push';
  /** Repositories whose tags are IMMUTABLE. */
  readonly immutableRepositories?: readonly string[];
  /** The registry's BLOB_MOUNTING setting (default off, as ECR's). */
  readonly blobMounting?: boolean;
  /** Requests per second per API (default ECR_API_QUOTAS); `false`: no quotas. */
  readonly quotas?: Partial<Record<EcrApi, number>> | false;
  /** Milliseconds for the quota buckets (default performance.now): a test that counts throttled
   * answers freezes it, so a slow machine cannot refill a bucket in the middle of a burst. */
  readonly clock?: () => number;
  readonly maxLayerBytes?: number;
  readonly maxManifestBytes?: number;
  /** Blob GETs redirect to presigned storage URLs (default true). */
  readonly presignedBlobReads?: boolean;
}

export interface EcrRefusal {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly code: string;
}

export interface EcrModel {
  /** `127.0.0.1:PORT`: the registry host of image references through the model. */
  readonly host: string;
  readonly url: string;
  readonly accountId: string;
  readonly username: string;
  readonly password: string;
  /** Requests counted against each API so far (throttled ones included). */
  calls(api: EcrApi): number;
  /** Requests answered 429 per API. */
  throttled(api: EcrApi): number;
  /** Every answer the model gave in ECR's own way (refusals, 429s), in order. */
  refusals(): readonly EcrRefusal[];
  createRepository(name: string, options?: { readonly immutable?: boolean }): void;
  /** The presigned-URL storage (its request log shows which blob reads went there). */
  readonly storage: ObjectStorage;
  /** The storage's address on 127.0.0.1 (what a fault proxy in front of it forwards to). */
  readonly storageUpstream: string;
  /** Presigned URLs name `origin` (a fault proxy in front of storageUpstream) instead of the
   * storage itself, so a test can break the S3 side of a blob read; undefined: the storage again. */
  presignThrough(origin: string | undefined): void;
  stop(): Promise<void>;
}

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly api: EcrApi | undefined;
  readonly kind: 'manifest' | 'blob' | 'upload-start' | 'upload-part' | 'upload-close' | 'other';
}

// /v2/<name>/<rest>: name may hold slashes; the first of these suffixes ends it.
const ROUTES: readonly Route[] = [
  { method: 'PUT', pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/, api: 'PutImage', kind: 'manifest' },
  { method: 'GET', pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/, api: 'BatchGetImage', kind: 'other' },
  { method: 'HEAD', pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/, api: 'BatchGetImage', kind: 'other' },
  {
    method: 'GET',
    pattern: /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/,
    api: 'GetDownloadUrlForLayer',
    kind: 'blob',
  },
  {
    method: 'HEAD',
    pattern: /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/,
    api: 'BatchCheckLayerAvailability',
    kind: 'other',
  },
  {
    method: 'POST',
    pattern: /^\/v2\/(.+)\/blobs\/uploads\/$/,
    api: 'InitiateLayerUpload',
    kind: 'upload-start',
  },
  {
    method: 'PATCH',
    pattern: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/,
    api: 'UploadLayerPart',
    kind: 'upload-part',
  },
  {
    method: 'PUT',
    pattern: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/,
    api: 'CompleteLayerUpload',
    kind: 'upload-close',
  },
  { method: 'GET', pattern: /^\/v2\/(.+)\/(?:referrers|tags)\/.*$/, api: undefined, kind: 'other' },
];

const INDEX_MEDIA_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);

class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly perSecond: number,
    private readonly clock: () => number,
  ) {
    // One second's worth of burst: AWS states rates, not burst sizes.
    this.tokens = perSecond;
    this.last = clock();
  }
  take(): boolean {
    const now = this.clock();
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

interface UploadSession {
  /** Size of each part received so far. */
  readonly parts: number[];
}

export async function startEcrModel(options: EcrModelOptions): Promise<EcrModel> {
  const upstream = new URL(options.upstream.url);
  if (upstream.hostname !== '127.0.0.1') throw new Error('ECR model forwards to 127.0.0.1 only');
  const accountId = options.accountId ?? '111111111111';
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const storage = await startObjectStorage(options.upstream.rootDirectory);
  const maxLayerBytes = options.maxLayerBytes ?? ECR_MAX_LAYER_BYTES;
  const maxManifestBytes = options.maxManifestBytes ?? ECR_MAX_MANIFEST_BYTES;
  const createOnPush = options.repositories === undefined || options.repositories === 'create-on-push';
  const repositories = new Set(Array.isArray(options.repositories) ? options.repositories : []);
  const immutable = new Set(options.immutableRepositories ?? []);
  const quotas: Partial<Record<EcrApi, number>> =
    options.quotas === false ? {} : { ...ECR_API_QUOTAS, ...options.quotas };
  const buckets = new Map<EcrApi, TokenBucket>();
  for (const [api, rate] of Object.entries(quotas)) {
    if (typeof rate === 'number')
      buckets.set(api as EcrApi, new TokenBucket(rate, options.clock ?? (() => performance.now())));
  }
  const calls = new Map<EcrApi, number>();
  const throttled = new Map<EcrApi, number>();
  const refusals: EcrRefusal[] = [];
  const sessions = new Map<string, UploadSession>();
  let presignedOrigin: string | undefined;
  const presign = (path: string): string => {
    const presigned = storage.presign(path);
    if (presignedOrigin === undefined) return presigned;
    const url = new URL(presigned);
    return `${presignedOrigin}${url.pathname}${url.search}`;
  };

  /** The upstream's answer to a request of our own (HEAD of a tag, for immutability). */
  const ask = (method: string, path: string, headers: IncomingMessage['headers']): Promise<number> =>
    new Promise((resolve, reject) => {
      const outgoing = forwardRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method,
          path,
          agent,
          headers: {
            ...(headers.authorization === undefined ? {} : { authorization: headers.authorization }),
            accept: [...INDEX_MEDIA_TYPES, 'application/vnd.oci.image.manifest.v1+json'].join(', '),
          },
        },
        (answer) => {
          answer.resume();
          answer.once('end', () => resolve(answer.statusCode ?? 502));
        },
      );
      outgoing.once('error', reject);
      outgoing.end();
    });

  const server: Server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://ecr');
    const path = url.pathname;
    const route = ROUTES.find((r) => r.method === method && r.pattern.test(path));
    const match = route ? path.match(route.pattern) : null;
    const repository = match?.[1];

    const refuse = (
      status: number,
      code: string,
      message: string,
      headers: Record<string, string> = {},
    ): void => {
      refusals.push({ method, path, status, code });
      const body = JSON.stringify({ errors: [{ code, message }] });
      const send = (): void => {
        res.writeHead(status, {
          'content-type': 'application/json; charset=utf-8',
          'content-length': String(Buffer.byteLength(body)),
          ...headers,
        });
        res.end(body);
      };
      // Read what was sent first, as a front end that refuses after buffering would.
      if (req.readableEnded) send();
      else {
        req.resume();
        req.once('end', send);
      }
    };

    const forward = (target: string, body?: Buffer, rewriteStatus?: (status: number) => number): void => {
      const headers = { ...req.headers };
      if (body !== undefined) headers['content-length'] = String(body.length);
      const outgoing = forwardRequest({
        host: upstream.hostname,
        port: upstream.port,
        method,
        path: target,
        headers,
        agent,
      });
      outgoing.once('response', (answer) => {
        const status = rewriteStatus ? rewriteStatus(answer.statusCode ?? 502) : (answer.statusCode ?? 502);
        res.writeHead(status, answer.rawHeaders);
        answer.pipe(res);
      });
      outgoing.once('error', () => {
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
      });
      if (body !== undefined) outgoing.end(body);
      else req.pipe(outgoing);
    };

    // Unauthenticated requests get the registry's own challenge: ECR's auth is not modelled here.
    if (!route || repository === undefined || req.headers.authorization === undefined) {
      forward(`${path}${url.search}`);
      return;
    }

    if (route.api !== undefined) {
      calls.set(route.api, (calls.get(route.api) ?? 0) + 1);
      const bucket = buckets.get(route.api);
      if (bucket && !bucket.take()) {
        throttled.set(route.api, (throttled.get(route.api) ?? 0) + 1);
        refuse(429, 'TOOMANYREQUESTS', 'Rate exceeded');
        return;
      }
    }

    // Created on push: every repository may exist (the registry's own answers say which do).
    if (!createOnPush && !repositories.has(repository)) {
      {
        refuse(
          404,
          'NAME_UNKNOWN',
          `The repository with name '${repository}' does not exist in the registry with id '${accountId}'`,
        );
        return;
      }
    }

    switch (route.kind) {
      case 'blob':
        if (options.presignedBlobReads === false) break;
        req.resume();
        res.writeHead(307, { location: presign(path), 'content-length': '0' }).end();
        return;
      case 'upload-start': {
        const target = new URL(url);
        if (options.blobMounting !== true && target.searchParams.has('mount')) {
          target.searchParams.delete('mount');
          target.searchParams.delete('from');
        }
        forward(`${target.pathname}${target.search}`);
        return;
      }
      case 'upload-part':
      case 'upload-close': {
        const session = sessions.get(match![2]!) ?? { parts: [] };
        sessions.set(match![2]!, session);
        const earlier = session.parts.at(-1);
        const hasBody = route.kind === 'upload-part' || Number(req.headers['content-length'] ?? 0) > 0;
        if (hasBody && earlier !== undefined && earlier < ECR_MIN_LAYER_PART_BYTES) {
          refuse(400, 'LAYER_PART_TOO_SMALL', 'All layer parts except the last part should be at least 5MB');
          return;
        }
        let received = 0;
        req.on('data', (chunk: Buffer) => {
          received += chunk.length;
        });
        req.once('end', () => {
          if (hasBody) session.parts.push(received);
        });
        const total = session.parts.reduce((a, b) => a + b, 0) + Number(req.headers['content-length'] ?? 0);
        if (total > maxLayerBytes) {
          refuse(400, 'BLOB_UPLOAD_INVALID', `Layer size exceeds the limit of ${maxLayerBytes} bytes`);
          return;
        }
        // ECR answers a chunk with 201 where the spec says 202.
        forward(`${path}${url.search}`, undefined, (status) =>
          route.kind === 'upload-part' && status === 202 ? 201 : status,
        );
        return;
      }
      case 'manifest': {
        const reference = match![2]!;
        const chunks: Buffer[] = [];
        let size = 0;
        let tooLarge = false;
        req.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxManifestBytes) tooLarge = true;
          else chunks.push(chunk);
        });
        req.once('end', () => {
          void (async (): Promise<void> => {
            if (tooLarge) {
              refuse(400, 'MANIFEST_INVALID', `Manifest size exceeds the limit of ${maxManifestBytes} bytes`);
              return;
            }
            const body = Buffer.concat(chunks);
            const problem = refusedContent(body);
            if (problem) {
              refuse(problem.status, problem.code, problem.message);
              return;
            }
            if (immutable.has(repository) && !reference.startsWith('sha256:')) {
              const existing = await ask('HEAD', `/v2/${repository}/manifests/${reference}`, req.headers);
              if (existing === 200) {
                refuse(
                  400,
                  'TAG_INVALID',
                  `The image tag '${reference}' already exists in the '${repository}' repository and cannot be overwritten because the tag is immutable.`,
                );
                return;
              }
            }
            forward(`${path}${url.search}`, body);
          })().catch(() => {
            if (!res.headersSent) res.writeHead(502).end();
          });
        });
        return;
      }
      case 'other':
        break;
    }
    forward(`${path}${url.search}`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('ECR model: no address');
  const host = `127.0.0.1:${address.port}`;
  return {
    host,
    url: `http://${host}`,
    accountId,
    username: options.upstream.username,
    password: options.upstream.password,
    calls: (api) => calls.get(api) ?? 0,
    throttled: (api) => throttled.get(api) ?? 0,
    refusals: () => [...refusals],
    createRepository: (name, repositoryOptions = {}) => {
      repositories.add(name);
      if (repositoryOptions.immutable === true) immutable.add(name);
    },
    storage,
    storageUpstream: storage.url.replace('//localhost:', '//127.0.0.1:'),
    presignThrough: (origin) => {
      presignedOrigin = origin?.replace(/\/+$/, '');
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
      await storage.stop();
    },
  };
}

/** What ECR refuses in a manifest's content: a subject that is an index, fields it does not take. */
function refusedContent(
  body: Buffer,
): { readonly status: number; readonly code: string; readonly message: string } | undefined {
  let manifest: unknown;
  try {
    manifest = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined; // the registry's own MANIFEST_INVALID
  }
  if (typeof manifest !== 'object' || manifest === null) return undefined;
  const record = manifest as Record<string, unknown>;
  const subject = record['subject'] as { mediaType?: unknown } | undefined;
  if (subject && typeof subject.mediaType === 'string' && INDEX_MEDIA_TYPES.has(subject.mediaType)) {
    return {
      status: 405,
      code: 'UNSUPPORTED',
      message: 'A manifest whose subject is an image index is not supported',
    };
  }
  const descriptors: unknown[] = [
    record['config'],
    record['subject'],
    ...(Array.isArray(record['layers']) ? (record['layers'] as unknown[]) : []),
    ...(Array.isArray(record['manifests']) ? (record['manifests'] as unknown[]) : []),
  ];
  for (const descriptor of descriptors) {
    if (typeof descriptor !== 'object' || descriptor === null) continue;
    const fields = descriptor as Record<string, unknown>;
    if ('data' in fields) {
      return {
        status: 400,
        code: 'MANIFEST_INVALID',
        message: "Invalid parameter: descriptor field 'data' is not supported",
      };
    }
    const platform = fields['platform'] as Record<string, unknown> | undefined;
    if (platform && 'features' in platform) {
      return {
        status: 400,
        code: 'MANIFEST_INVALID',
        message: "Invalid parameter: platform field 'features' is not supported",
      };
    }
  }
  return undefined;
}
