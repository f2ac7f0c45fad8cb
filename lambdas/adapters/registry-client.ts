// The OCI distribution API client: one instance per registry host. A facade over the layers in
// registry/ (built like go-containerregistry's remote/transport): exchange.ts (one request, every
// failure a RegistryError), retry.ts (capped backoff, the 429 pause), auth.ts (ping, challenge,
// token cache, the one 401 path — credentials only ever sent to the registry's own origin),
// transport.ts (their composition, redirects), and manifests.ts, blobs.ts, referrers.ts,
// uploads.ts on top. It verifies every byte it hands out against the digest it was asked for. It
// never re-serializes a manifest and never decides what to copy: that is lambdas/copy.
import type { Readable } from 'node:stream';
import type { Descriptor } from '../core/manifest';
import { AuthState, type CredentialProvider, type RegistryCredentials } from './registry/auth';
import { DEFAULT_MAX_BLOB_BYTES } from '../core/manifest';
import { preconnect } from './http-exchange';
import { hasBlob, openBlob, type BlobReadLimits } from './registry/blobs';
import { deleteManifest, listRepositories, listTags } from './registry/catalog';
import {
  getManifest,
  headManifest,
  putManifest,
  type FetchedManifest,
  type ManifestHead,
  type PutManifestResult,
} from './registry/manifests';
import { listReferrers } from './registry/referrers';
import { DEFAULT_RETRY, Throttle, type RetryPolicy } from './registry/retry';
import { RegistryTransport, type TransportState } from './registry/transport';
import { uploadBlob, type BlobUploadResult } from './registry/uploads';

export type { CredentialProvider, RegistryCredentials } from './registry/auth';
export type { FetchedManifest, ManifestHead, PutManifestResult } from './registry/manifests';
export type { BlobUploadResult } from './registry/uploads';
export {
  DEFAULT_RETRY,
  MAX_RETRY_AFTER_MS,
  Throttle,
  ThrottlePool,
  type LanePolicy,
  type RetryPolicy,
} from './registry/retry';

export interface RegistryClientOptions {
  /** Registry host as in an ImageRef: `111111111111.dkr.ecr.us-east-1.amazonaws.com`, `127.0.0.1:5000`. */
  readonly registry: string;
  /** Base URL to reach it at. Default `https://<registry>`, or `http://` for loopback hosts. */
  readonly endpoint?: string;
  readonly credentials?: RegistryCredentials | CredentialProvider;
  readonly retry?: Partial<RetryPolicy>;
  /** Idle limit of one request without a streamed body: no byte for this long, it fails
   * (retryable). Default idleTimeoutMs. */
  readonly requestTimeoutMs?: number;
  /**
   * Idle limit of every transfer, streamed blob reads and uploads included: no byte either way for
   * this long and it fails with RegistryUnavailableError (retryable). Default IDLE_TIMEOUT_MS.
   */
  readonly idleTimeoutMs?: number;
  /**
   * Longest blob of unknown size (Docker schema 1 manifests record none) read before
   * BlobTooLargeError. Default DEFAULT_MAX_BLOB_BYTES (config `copy.maxBlobBytes`).
   */
  readonly maxBlobBytes?: number;
  readonly userAgent?: string;
  /**
   * Blobs of at most this many bytes go up in two requests (POST, then a PUT carrying the bytes)
   * instead of three (POST, streamed PATCH, closing PUT). Default MONOLITHIC_UPLOAD_BYTES (every
   * blob of known size); 0: never.
   */
  readonly monolithicUploadBytes?: number;
  /**
   * Blobs of at least this many bytes (or of unknown size) are read over a connection of their
   * own in large reads (http-download.ts) rather than through the keep-alive pool. Default
   * DIRECT_DOWNLOAD_BYTES; Infinity: never.
   */
  readonly directDownloadBytes?: number;
  /**
   * The 429 pause this client honours and sets (retry.ts). Default: one of its own; clients of the
   * same registry given the same Throttle pause together.
   */
  readonly throttle?: Throttle;
}

/**
 * Up to this size a blob goes up in one PUT after the POST (the OCI distribution spec's "POST then
 * PUT" push): every blob of known size. One request less per blob than POST, PATCH, closing PUT.
 * Small blobs are request-bound (every request costs a registry an auth check and bookkeeping: 100
 * x 256 KiB went from 516 requests to 415). On a large one the registry commits in the request
 * that carries the bytes: docker-registry on a disk answers a PATCH only after an fsync of the data
 * and one of its hash state, and the closing PUT is a second request with fsyncs of its own (5 x
 * 64 MiB: ~0.6 s from the last byte sent to the manifest PUT with PATCHes, ~0.5 s this way; see
 * docs/benchmarks.md). containerd's pusher sends every blob this way (remotes/docker/pusher.go),
 * BuildKit pushes to ECR through it, and kitops moved large layers to it for ECR (kitops #822). A
 * registry that refuses it gets the PATCH form (uploads.ts). 0: always PATCH.
 */
export const MONOLITHIC_UPLOAD_BYTES = Number.POSITIVE_INFINITY;

/**
 * From this size a blob is read over a connection of its own, in reads of up to 1 MiB: node:http's
 * 64 KiB reads cost the copier ~0.4 CPU-s per 320 MiB more (see http-download.ts). Below it a new
 * connection (a TLS handshake against ECR) per blob would cost more than it saves.
 */
export const DIRECT_DOWNLOAD_BYTES = 1024 * 1024;

/**
 * No byte either way for this long and a request or transfer fails (retryable): a registry that
 * accepts a connection and never answers, or stops mid-blob, holds a copy this long per attempt,
 * not until the Lambda's end. A registry's answer to a closing PUT (it hashes and stores the whole
 * blob first) is the longest silence a healthy one keeps; the closing PUT had this limit before.
 */
export const IDLE_TIMEOUT_MS = 60_000;

const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/;

export class RegistryClient {
  readonly registry: string;
  readonly endpoint: string;
  private readonly transport: RegistryTransport;
  private readonly monolithicUploadBytes: number;
  private readonly blobLimits: BlobReadLimits;

  constructor(
    private readonly options: RegistryClientOptions,
    scope: { readonly state: TransportState; readonly signal: AbortSignal } | undefined = undefined,
  ) {
    this.registry = options.registry;
    const scheme = LOOPBACK.test(options.registry) ? 'http' : 'https';
    this.endpoint = (options.endpoint ?? `${scheme}://${options.registry}`).replace(/\/+$/, '');
    this.monolithicUploadBytes = options.monolithicUploadBytes ?? MONOLITHIC_UPLOAD_BYTES;
    this.blobLimits = {
      directDownloadBytes: options.directDownloadBytes ?? DIRECT_DOWNLOAD_BYTES,
      maxBlobBytes: options.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES,
    };
    const idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    const credentials = options.credentials;
    const state: TransportState = scope?.state ?? {
      auth: new AuthState(
        typeof credentials === 'function' ? credentials : () => Promise.resolve(credentials),
      ),
      throttle: options.throttle ?? new Throttle(),
      uploadMethod: undefined,
    };
    this.transport = new RegistryTransport(
      {
        registry: this.registry,
        endpoint: this.endpoint,
        origin: new URL(this.endpoint).origin,
        userAgent: options.userAgent ?? 'image-promoter',
        requestTimeoutMs: options.requestTimeoutMs ?? idleTimeoutMs,
        streamTimeoutMs: idleTimeoutMs,
        signal: scope?.signal,
      },
      state,
      { ...DEFAULT_RETRY, ...options.retry },
    );
  }

  /**
   * The same client (same credentials, tokens, 429 pause and connection pools) whose requests and
   * retry waits all stop when `signal` aborts: how the copy engine ends every transfer of a failed copy.
   */
  withSignal(signal: AbortSignal): RegistryClient {
    return new RegistryClient(this.options, { state: this.transport.state, signal });
  }

  /** The manifest's exact bytes; when `reference` is a digest, verified against it. */
  getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    return getManifest(this.transport, repository, reference);
  }

  /** Digest, media type and size of a manifest, or undefined when there is none. */
  headManifest(repository: string, reference: string): Promise<ManifestHead | undefined> {
    return headManifest(this.transport, repository, reference);
  }

  /** Stores `bytes` as they are under `reference`; checks the digest the registry computed. */
  putManifest(
    repository: string,
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
  ): Promise<PutManifestResult> {
    return putManifest(this.transport, repository, reference, bytes, mediaType);
  }

  hasBlob(repository: string, digest: string): Promise<boolean> {
    return hasBlob(this.transport, repository, digest);
  }

  /** The blob's bytes, verified against `descriptor` as they pass (registry/blobs.ts). */
  openBlob(repository: string, descriptor: Descriptor): Promise<Readable> {
    return openBlob(this.transport, repository, descriptor, this.blobLimits);
  }

  /** Mounts or uploads a blob (registry/uploads.ts). */
  uploadBlob(
    repository: string,
    descriptor: Descriptor,
    open: () => Promise<Readable>,
    mountFrom?: string,
  ): Promise<BlobUploadResult> {
    return uploadBlob(this.transport, repository, descriptor, open, this.monolithicUploadBytes, mountFrom);
  }

  /** Referrers of `digest` (all pages), or undefined when the registry has no referrers API. */
  listReferrers(repository: string, digest: string): Promise<readonly Descriptor[] | undefined> {
    return listReferrers(this.transport, repository, digest);
  }

  /** Every repository of the catalog, or undefined when the registry has none (registry/catalog.ts). */
  listRepositories(): Promise<readonly string[] | undefined> {
    return listRepositories(this.transport);
  }

  /** Every tag of `repository` (all pages). */
  listTags(repository: string): Promise<readonly string[]> {
    return listTags(this.transport, repository);
  }

  /** Deletes a manifest by digest (prune only); 'absent' when it is not there. */
  deleteManifest(repository: string, digest: string): Promise<'deleted' | 'absent'> {
    return deleteManifest(this.transport, repository, digest);
  }

  /**
   * Opens connections to the registry (TCP, and TLS for https) until `connections` of them are in
   * use, idle or opening, for requests about to go at once: those that need a new connection take
   * these first (http-exchange.ts preconnect). Nothing is sent on them, so no credentials either.
   * close() on the answer closes the ones no request took.
   */
  preconnect(connections: number): { close(): void } {
    return preconnect(new URL(this.endpoint), connections);
  }

  /** Runs `operation` again while it fails with a retryable error, with this client's policy. */
  retry<T>(operation: (attempt: number) => Promise<T>): Promise<T> {
    return this.transport.retry(operation);
  }
}
