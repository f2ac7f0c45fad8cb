// The OCI distribution API client: one instance per registry host. Handles the auth handshake
// (ping, Basic or Bearer token per scope, one re-authentication on 401), retries what may succeed
// next time (5xx, 429 with Retry-After, connection errors) with capped exponential backoff, streams
// blobs without buffering them, and turns every failure into a RegistryError from core/errors.
// It verifies every byte it hands out against the digest it was asked for. It never re-serializes
// a manifest and never decides what to copy: that is lambdas/copy.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BlobUnknownError,
  DeniedError,
  DigestMismatchError,
  ManifestInvalidError,
  ManifestUnknownError,
  PromoterError,
  RateLimitedError,
  RegistryRequestError,
  RegistryUnavailableError,
  UnauthorizedError,
  type RegistryError,
  type RegistryErrorDetails,
} from '../core/errors';
import { formatImageRef, isDigest } from '../core/image-ref';
import {
  MANIFEST_MEDIA_TYPES,
  MAX_MANIFEST_BYTES,
  MEDIA_TYPES,
  ManifestFormatError,
  computeDigest,
  parseManifest,
  type Descriptor,
} from '../core/manifest';
import {
  AnswerTooLargeError,
  exchangeSmall,
  headerValue,
  openExchange,
  readAnswer,
  type HttpMessage,
  type Exchange,
  type HttpAnswer,
} from './http-exchange';
import { DownloadMessage, openDownload } from './http-download';

export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

/** Credentials for a registry host, asked for once per client (ECR tokens, `user:pass`...). */
export type CredentialProvider = (registry: string) => Promise<RegistryCredentials | undefined>;

export interface RetryPolicy {
  /** Total tries, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 250, maxDelayMs: 8000 };

export interface RegistryClientOptions {
  /** Registry host as in an ImageRef: `111111111111.dkr.ecr.us-east-1.amazonaws.com`, `127.0.0.1:5000`. */
  readonly registry: string;
  /** Base URL to reach it at. Default `https://<registry>`, or `http://` for loopback hosts. */
  readonly endpoint?: string;
  readonly credentials?: RegistryCredentials | CredentialProvider;
  readonly retry?: Partial<RetryPolicy>;
  /** Time limit for one request without a streamed body. */
  readonly requestTimeoutMs?: number;
  readonly userAgent?: string;
  /**
   * Blobs of at most this many bytes go up in one request (POST, then a PUT carrying the bytes)
   * instead of three (POST, streamed PATCH, closing PUT). Default MONOLITHIC_UPLOAD_BYTES; 0: never.
   */
  readonly monolithicUploadBytes?: number;
  /**
   * Blobs of at least this many bytes (or of unknown size) are read over a connection of their
   * own in large reads (http-download.ts) rather than through the keep-alive pool. Default
   * DIRECT_DOWNLOAD_BYTES; Infinity: never.
   */
  readonly directDownloadBytes?: number;
}

/**
 * Up to this size a blob goes up in one PUT. Small blobs are request-bound (every request costs a
 * registry an auth check and bookkeeping: 100 x 256 KiB went from 516 requests to 415); large ones
 * keep the streamed PATCH, the form every registry takes.
 */
export const MONOLITHIC_UPLOAD_BYTES = 8 * 1024 * 1024;

/**
 * From this size a blob is read over a connection of its own, in reads of up to 1 MiB: node:http's
 * 64 KiB reads cost the copier ~0.4 CPU-s per 320 MiB more (see http-download.ts). Below it a new
 * connection (a TLS handshake against ECR) per blob would cost more than it saves.
 */
export const DIRECT_DOWNLOAD_BYTES = 1024 * 1024;

export interface FetchedManifest {
  /** The exact bytes served. */
  readonly bytes: Buffer;
  readonly mediaType: string;
  /** Computed over `bytes`. */
  readonly digest: string;
}

export interface ManifestHead {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
}

export interface PutManifestResult {
  readonly digest: string;
  /** The registry said (`OCI-Subject`) that it indexed the manifest's subject itself. */
  readonly subjectIndexed: boolean;
}

export type BlobUploadResult = 'mounted' | 'uploaded';

/** What one client learns about its registry, shared with every view made by withSignal(). */
interface AuthState {
  credentials?: Promise<RegistryCredentials | undefined>;
  challenge?: Promise<Challenge>;
  readonly tokens: Map<string, Promise<string>>;
  /** Set once the registry refused one way of uploading: every later blob goes up the other way. */
  uploadMethod?: 'PUT' | 'PATCH';
  /**
   * Until when (ms since the epoch) no request is sent: a 429 slows every transfer to the
   * registry, not only the one it answered (ECR throttles per account and API, not per blob).
   */
  pausedUntil: number;
}

type Challenge =
  | { readonly scheme: 'none' }
  | { readonly scheme: 'basic' }
  | { readonly scheme: 'bearer'; readonly realm: string; readonly service: string | undefined };

interface Request {
  readonly method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  /** Path under the endpoint (`/v2/...`) or an absolute upload URL from a Location header. */
  readonly url: string;
  readonly repository: string;
  /** Token scopes (`repository:name:pull`), only used with Bearer auth. */
  readonly scopes: readonly string[];
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | Readable;
  /** What the failure is about, for the one-line message: `manifest shop/api:1.0`. */
  readonly what: string;
  /** 404 means this kind of thing does not exist. */
  readonly notFound?: 'manifest' | 'blob';
  /** Statuses returned to the caller instead of thrown. */
  readonly accept?: readonly number[];
  /** Whether a failed attempt may be repeated here (false for streamed bodies). */
  readonly replayable?: boolean;
  readonly timeoutMs?: number | null;
  /** Longest answer body read (default SMALL_ANSWER_BYTES). */
  readonly answerLimit?: number;
  /** A GET whose large body is read over a connection of its own (http-download.ts). */
  readonly direct?: boolean;
}

/** Longest answer read whole, other than a manifest: error bodies, tokens, referrer lists. */
const SMALL_ANSWER_BYTES = 1024 * 1024;

/** Longest Retry-After honoured by waiting in-process. */
export const MAX_RETRY_AFTER_MS = 30_000;

/** Errors whose retries already ran out (see RegistryClient.retry). */
const exhausted = new WeakSet<PromoterError>();

const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/;

export class RegistryClient {
  readonly registry: string;
  readonly endpoint: string;
  private readonly retryPolicy: RetryPolicy;
  private readonly requestTimeoutMs: number;
  private readonly userAgent: string;
  private readonly monolithicUploadBytes: number;
  private readonly directDownloadBytes: number;
  private readonly credentialSource: CredentialProvider;
  /** Shared with every view made by withSignal(): one ping, one token per scope. */
  private readonly auth: AuthState;
  private readonly signal: AbortSignal | undefined;

  constructor(
    private readonly options: RegistryClientOptions,
    scope: { readonly auth: AuthState; readonly signal: AbortSignal } | undefined = undefined,
  ) {
    this.auth = scope?.auth ?? { tokens: new Map(), pausedUntil: 0 };
    this.signal = scope?.signal;
    this.registry = options.registry;
    const scheme = LOOPBACK.test(options.registry) ? 'http' : 'https';
    this.endpoint = (options.endpoint ?? `${scheme}://${options.registry}`).replace(/\/+$/, '');
    this.retryPolicy = { ...DEFAULT_RETRY, ...options.retry };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.userAgent = options.userAgent ?? 'image-promoter';
    this.monolithicUploadBytes = options.monolithicUploadBytes ?? MONOLITHIC_UPLOAD_BYTES;
    this.directDownloadBytes = options.directDownloadBytes ?? DIRECT_DOWNLOAD_BYTES;
    const credentials = options.credentials;
    this.credentialSource =
      typeof credentials === 'function' ? credentials : () => Promise.resolve(credentials);
  }

  /**
   * The same client (same credentials, tokens and connection pools) whose requests and retry
   * waits all stop when `signal` aborts: how the copy engine ends every transfer of a failed copy.
   */
  withSignal(signal: AbortSignal): RegistryClient {
    return new RegistryClient(this.options, { auth: this.auth, signal });
  }

  /** The manifest's exact bytes; when `reference` is a digest, verified against it (a mismatch is
   * read again, within the same retry budget). */
  getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    return this.retry(() => this.readManifest(repository, reference));
  }

  private async readManifest(repository: string, reference: string): Promise<FetchedManifest> {
    let response: HttpAnswer;
    try {
      response = await this.send({
        ...this.manifestRequest('GET', repository, reference),
        answerLimit: MAX_MANIFEST_BYTES,
      });
    } catch (e: unknown) {
      if (!(e instanceof AnswerTooLargeError)) throw e;
      throw this.invalid(repository, reference, `manifest is over ${MAX_MANIFEST_BYTES} bytes`);
    }
    const bytes = response.body;
    const details = this.details(repository, response.status);
    const expected = isDigest(reference) ? reference : response.header('docker-content-digest');
    const algorithm = expected?.startsWith('sha512:') ? 'sha512' : 'sha256';
    const digest = computeDigest(bytes, algorithm);
    if (expected !== null && isDigest(expected) && digest !== expected) {
      throw new DigestMismatchError(
        `manifest ${describe(this.registry, repository, reference)} hashes to ${digest}, not ${expected}; ` +
          'the registry served other bytes than it announced — retry, or check the registry',
        details,
      );
    }
    const mediaType = manifestMediaType(bytes, response.header('content-type'));
    return { bytes, mediaType, digest };
  }

  /** A read of a manifest, asking for every manifest type so that no registry converts it. */
  private manifestRequest(method: 'GET' | 'HEAD', repository: string, reference: string): Request {
    return {
      method,
      url: `/v2/${repository}/manifests/${reference}`,
      repository,
      scopes: [pullScope(repository)],
      headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
      what: `manifest ${describe(this.registry, repository, reference)}`,
      notFound: 'manifest',
    };
  }

  /** Digest, media type and size of a manifest, or undefined when there is none. */
  async headManifest(repository: string, reference: string): Promise<ManifestHead | undefined> {
    const response = await this.send({
      ...this.manifestRequest('HEAD', repository, reference),
      accept: [404],
    });
    if (response.status === 404) return undefined;
    const digest = response.header('docker-content-digest');
    if (digest === null || !isDigest(digest)) {
      // Some registries omit the header on HEAD: fall back to reading the manifest.
      const manifest = await this.getManifest(repository, reference);
      return { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.bytes.byteLength };
    }
    return {
      digest,
      mediaType: response.header('content-type')?.split(';')[0]?.trim() ?? '',
      size: Number(response.header('content-length') ?? '-1'),
    };
  }

  /** Stores `bytes` as they are under `reference` (tag or digest); checks the digest the registry
   * computed equals ours. */
  async putManifest(
    repository: string,
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
  ): Promise<PutManifestResult> {
    const algorithm = isDigest(reference) && reference.startsWith('sha512:') ? 'sha512' : 'sha256';
    const digest = computeDigest(bytes, algorithm);
    const response = await this.send({
      method: 'PUT',
      url: `/v2/${repository}/manifests/${reference}`,
      repository,
      scopes: [pushScope(repository)],
      headers: { 'content-type': mediaType },
      body: bytes,
      what: `manifest ${describe(this.registry, repository, reference)}`,
      notFound: 'manifest',
    });
    const stored = response.header('docker-content-digest');
    if (stored !== null && isDigest(stored) && stored !== digest) {
      throw new DigestMismatchError(
        `${describe(this.registry, repository, reference)} was stored as ${stored}, not ${digest}; ` +
          'the registry rewrote the manifest — it cannot hold a byte-identical copy',
        this.details(repository, response.status),
      );
    }
    return { digest, subjectIndexed: response.header('oci-subject') !== null };
  }

  async hasBlob(repository: string, digest: string): Promise<boolean> {
    const response = await this.send({
      method: 'HEAD',
      url: `/v2/${repository}/blobs/${digest}`,
      repository,
      scopes: [pullScope(repository)],
      what: `blob ${describe(this.registry, repository, digest)}`,
      notFound: 'blob',
      accept: [404],
    });
    return response.status !== 404;
  }

  /**
   * A stream of the blob's bytes that fails with DigestMismatchError when they do not hash to
   * `descriptor.digest` or are not `descriptor.size` long (size -1: unknown, not checked).
   */
  async openBlob(repository: string, descriptor: Descriptor): Promise<Readable> {
    const where = describe(this.registry, repository, descriptor.digest);
    const details = this.details(repository);
    const message = await this.openStream({
      method: 'GET',
      url: `/v2/${repository}/blobs/${descriptor.digest}`,
      repository,
      scopes: [pullScope(repository)],
      what: `blob ${where}`,
      notFound: 'blob',
      timeoutMs: null,
      direct: descriptor.size < 0 || descriptor.size >= this.directDownloadBytes,
    });
    const verifier = new VerifyingTransform(descriptor, details, where);
    message.once('error', (e: unknown) =>
      verifier.destroy(
        e instanceof PromoterError
          ? e
          : new RegistryUnavailableError(
              `blob ${where}: the connection broke while reading (${networkReason(e)}); retry`,
              details,
              { cause: e },
            ),
      ),
    );
    verifier.once('close', () => {
      if (!message.readableEnded) message.destroy();
    });
    return message.pipe(verifier);
  }

  /**
   * Puts a blob into `repository`: mounted from `mountFrom` (same registry) when the registry can,
   * else streamed from `open()`: a small blob (see monolithicUploadBytes) as POST then one PUT
   * carrying the bytes, a larger one the way crane does it, against ECR too: POST, one streamed
   * PATCH, a closing PUT `?digest=` (ECR answers the PATCH with 201 rather than 202; both are fine).
   * A registry that refuses one form (405, 400...) gets the other, for this blob and every later one.
   */
  async uploadBlob(
    repository: string,
    descriptor: Descriptor,
    open: () => Promise<Readable>,
    mountFrom?: string,
  ): Promise<BlobUploadResult> {
    const what = `blob upload ${describe(this.registry, repository, descriptor.digest)}`;
    const query = mountFrom === undefined ? '' : `?mount=${descriptor.digest}&from=${mountFrom}`;
    // The source read starts while the session opens: one round trip less per blob (on ECR also
    // the redirect to S3). Not before a mount, which usually needs no read at all.
    const ahead = mountFrom === undefined ? openAhead(open) : undefined;
    let location: string;
    try {
      const started = await this.send({
        method: 'POST',
        url: `/v2/${repository}/blobs/uploads/${query}`,
        repository,
        scopes:
          mountFrom === undefined ? [pushScope(repository)] : [pushScope(repository), pullScope(mountFrom)],
        what,
      });
      if (mountFrom !== undefined && started.status === 201) return 'mounted';
      location = this.uploadLocation(started, repository);
    } catch (e: unknown) {
      ahead?.discard();
      throw e;
    }
    const method = this.uploadMethodFor(descriptor.size);
    try {
      await this.streamUpload(repository, descriptor, location, ahead?.take ?? open, method, what);
    } catch (e: unknown) {
      const refused =
        descriptor.size >= 0 &&
        this.auth.uploadMethod === undefined &&
        e instanceof RegistryRequestError &&
        e.status !== undefined &&
        [400, 405, 415, 416, 501].includes(e.status);
      if (!refused) throw e;
      this.auth.uploadMethod = method === 'PUT' ? 'PATCH' : 'PUT';
      return this.uploadBlob(repository, descriptor, open);
    }
    return 'uploaded';
  }

  /** PUT (the bytes in one request) or PATCH (then a closing PUT) for a blob of `size` bytes. */
  private uploadMethodFor(size: number): 'PUT' | 'PATCH' {
    if (size < 0) return 'PATCH';
    if (this.auth.uploadMethod !== undefined) return this.auth.uploadMethod;
    return size <= this.monolithicUploadBytes ? 'PUT' : 'PATCH';
  }

  /** One upload session: the streamed body (PATCH then closing PUT, or one PUT), verified. */
  private async streamUpload(
    repository: string,
    descriptor: Descriptor,
    location: string,
    open: () => Promise<Readable>,
    method: 'PATCH' | 'PUT',
    what: string,
  ): Promise<void> {
    const finish = (at: string): string => {
      const url = new URL(at);
      url.searchParams.set('digest', descriptor.digest);
      return url.toString();
    };
    let streamed: HttpAnswer;
    // What broke the source stream, if anything: that, not the aborted request, is the failure.
    let sourceError: unknown;
    let body: Readable | undefined;
    try {
      body = await open();
      // The source's own failures are PromoterErrors (see openBlob); anything else is the upload
      // connection's failure passed back to the source by pipeline().
      body.once('error', (e: unknown) => {
        if (e instanceof PromoterError) sourceError = e;
      });
      streamed = await this.send({
        method,
        url: method === 'PUT' ? finish(location) : location,
        repository,
        scopes: [pushScope(repository)],
        headers: {
          'content-type': 'application/octet-stream',
          ...(descriptor.size >= 0 ? { 'content-length': String(descriptor.size) } : {}),
        },
        body,
        what,
        replayable: false,
        timeoutMs: null,
      });
    } catch (e: unknown) {
      // Frees the session when nothing was sent yet; after a partial body the registry may refuse
      // (stale upload state) and expires the session itself. The blob is never committed either way.
      // A source read the upload never took (a failure before it was sent) is closed, not left open.
      body?.destroy();
      await this.cancelUpload(location, repository);
      throw sourceError ?? promoterCause(e) ?? e;
    }
    if (method === 'PUT') return;

    await this.send({
      method: 'PUT',
      url: finish(this.uploadLocation(streamed, repository, location)),
      repository,
      scopes: [pushScope(repository)],
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array(0),
      what,
      replayable: false,
    });
  }

  /**
   * Referrers of `digest` from the OCI 1.1 referrers API (all pages), or undefined when the
   * registry does not offer the API (then the caller falls back to the `sha256-<hex>` tag).
   */
  async listReferrers(repository: string, digest: string): Promise<readonly Descriptor[] | undefined> {
    const referrers: Descriptor[] = [];
    let url: string | undefined = `/v2/${repository}/referrers/${digest}`;
    for (let page = 0; url !== undefined && page < 100; page++) {
      const response = await this.send({
        method: 'GET',
        url,
        repository,
        scopes: [pullScope(repository)],
        headers: { accept: MEDIA_TYPES.ociIndex },
        what: `referrers of ${describe(this.registry, repository, digest)}`,
        accept: [400, 404, 405, 501],
        answerLimit: MAX_MANIFEST_BYTES,
      });
      const contentType = response.header('content-type')?.split(';')[0]?.trim();
      if (response.status !== 200 || contentType !== MEDIA_TYPES.ociIndex) {
        if (page === 0) return undefined;
        break;
      }
      const bytes = response.body;
      try {
        referrers.push(...parseManifest(bytes, contentType).manifests);
      } catch (e: unknown) {
        throw this.invalid(repository, `referrers/${digest}`, describeFormat(e), e);
      }
      url = nextLink(response.header('link'), this.endpoint);
    }
    return referrers;
  }

  /**
   * Runs `operation` again while it fails with a retryable error, with capped backoff. An error
   * that already ran out of retries in an inner `retry` (one request) is not retried again by an
   * outer one (a whole blob transfer): attempts add up instead of multiplying.
   */
  async retry<T>(operation: (attempt: number) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.signal?.throwIfAborted();
      try {
        return await operation(attempt);
      } catch (e: unknown) {
        if (!(e instanceof PromoterError) || !e.retryable || exhausted.has(e)) throw e;
        // A wait longer than MAX_RETRY_AFTER_MS is better spent by the caller (SQS redelivery).
        const tooLong = e instanceof RateLimitedError && (e.retryAfterMs ?? 0) > MAX_RETRY_AFTER_MS;
        if (attempt >= this.retryPolicy.attempts || tooLong) {
          exhausted.add(e);
          throw e;
        }
        const wait = this.backoff(attempt, e);
        if (e instanceof RateLimitedError) {
          this.auth.pausedUntil = Math.max(this.auth.pausedUntil, Date.now() + wait);
        }
        await sleep(wait, undefined, this.signal ? { signal: this.signal } : {});
      }
    }
  }

  private backoff(attempt: number, error: PromoterError): number {
    if (error instanceof RateLimitedError && error.retryAfterMs !== undefined) {
      // A little past the registry's time: a retry that comes early is just another 429.
      return error.retryAfterMs + 20;
    }
    const ceiling = Math.min(this.retryPolicy.maxDelayMs, this.retryPolicy.baseDelayMs * 2 ** (attempt - 1));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  private async cancelUpload(location: string, repository: string): Promise<void> {
    try {
      await this.send({
        method: 'DELETE',
        url: location,
        repository,
        scopes: [pushScope(repository)],
        what: 'cancel upload',
        accept: [404, 405],
        replayable: false,
      });
    } catch {
      // Best effort: registries expire abandoned uploads on their own.
    }
  }

  private uploadLocation(response: HttpAnswer, repository: string, previous?: string): string {
    const location = response.header('location');
    if (location === null) {
      if (previous !== undefined) return previous;
      throw new RegistryRequestError(
        `${this.registry} started a blob upload in ${repository} without a Location header`,
        this.details(repository, response.status),
      );
    }
    return new URL(location, `${this.endpoint}/`).toString();
  }

  /** One request, authenticated, retried when it may be, failures mapped to RegistryError. */
  private async send(request: Request): Promise<HttpAnswer> {
    const replayable = request.replayable ?? true;
    if (!replayable) return this.sendOnce(request);
    return this.retry(() => this.sendOnce(request));
  }

  private async sendOnce(request: Request): Promise<HttpAnswer> {
    let response = await this.fetchAuthorized(request, false);
    if (response.status === 401 && (request.replayable ?? true)) {
      // Token expired, or the registry wants another scheme than the ping said: learn it again.
      const challenge = parseChallenge(response.header('www-authenticate'));
      this.auth.challenge = Promise.resolve(challenge);
      this.auth.tokens.clear();
      response = await this.fetchAuthorized(request, true);
    }
    const accepted = request.accept ?? [];
    if (response.ok || accepted.includes(response.status)) return response;
    throw this.toError(request, response);
  }

  private async requestHeaders(request: Request, fresh: boolean): Promise<Record<string, string>> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent, ...request.headers };
    const authorization = await this.authorization(request.scopes, request.repository, fresh);
    if (authorization !== undefined) headers['authorization'] = authorization;
    return headers;
  }

  private absolute(request: Request): string {
    return request.url.startsWith('/') ? `${this.endpoint}${request.url}` : request.url;
  }

  private unreachable(request: Request, e: unknown): PromoterError {
    this.signal?.throwIfAborted();
    return (
      promoterCause(e) ??
      new RegistryUnavailableError(
        `${request.what}: cannot reach ${this.registry} (${networkReason(e)}); retry later`,
        this.details(request.repository),
        { cause: e },
      )
    );
  }

  /** One request, authenticated, its answer read whole; GET and HEAD follow redirects. */
  private async fetchAuthorized(request: Request, fresh: boolean): Promise<HttpAnswer> {
    const limit = request.answerLimit ?? SMALL_ANSWER_BYTES;
    const opened =
      request.method === 'GET' || request.method === 'HEAD'
        ? this.openFollowing(request, fresh)
        : this.requestHeaders(request, fresh).then((headers) =>
            this.exchange(request, new URL(this.absolute(request)), headers),
          );
    const message = await opened;
    try {
      return await readAnswer(message, limit);
    } catch (e: unknown) {
      if (e instanceof AnswerTooLargeError) throw e;
      throw this.unreachable(request, e);
    }
  }

  /** openExchange with this request's body, time limit and the view's abort signal. */
  private async exchange(
    request: Request,
    url: URL,
    headers: Readonly<Record<string, string>>,
  ): Promise<HttpMessage> {
    const timeoutMs = request.timeoutMs === undefined ? this.requestTimeoutMs : request.timeoutMs;
    const paused = this.auth.pausedUntil - Date.now();
    if (paused > 0) await sleep(paused, undefined, this.signal ? { signal: this.signal } : {});
    try {
      if (request.direct === true && request.method === 'GET') {
        return await openDownload(url, {
          headers,
          idleTimeoutMs: timeoutMs ?? STREAM_IDLE_TIMEOUT_MS,
          ...(this.signal === undefined ? {} : { signal: this.signal }),
        });
      }
      return await openExchange(url, {
        method: request.method,
        headers,
        ...(request.body === undefined ? {} : { body: request.body }),
        idleTimeoutMs: timeoutMs ?? STREAM_IDLE_TIMEOUT_MS,
        ...(this.signal === undefined ? {} : { signal: this.signal }),
      });
    } catch (e: unknown) {
      throw this.unreachable(request, e);
    }
  }

  /**
   * A GET whose body is streamed (over node:http, or for a large blob over a connection of its own:
   * http-download.ts): authenticated, retried until the answer's headers are in, redirects followed
   * (ECR sends blob reads to S3; credentials are dropped when the origin changes).
   */
  private openStream(request: Request): Promise<HttpMessage> {
    return this.retry(async () => {
      let message = await this.openFollowing(request, false);
      if (message.statusCode === 401) {
        const challenge = parseChallenge(headerValue(message.headers, 'www-authenticate'));
        discardBody(message);
        this.auth.challenge = Promise.resolve(challenge);
        this.auth.tokens.clear();
        message = await this.openFollowing(request, true);
      }
      const status = message.statusCode ?? 502;
      if (status >= 200 && status < 300) return message;
      let answer: HttpAnswer;
      try {
        answer = await readAnswer(message, SMALL_ANSWER_BYTES);
      } catch (e: unknown) {
        throw this.unreachable(request, e);
      }
      throw this.toError(request, answer);
    });
  }

  /** A GET or HEAD whose answer's headers are in, redirects followed (Authorization dropped when
   * the origin changes: ECR sends blob reads to presigned S3 URLs that refuse it). */
  private async openFollowing(request: Request, fresh: boolean): Promise<HttpMessage> {
    const headers = await this.requestHeaders(request, fresh);
    let url = new URL(this.absolute(request));
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const message = await this.exchange(request, url, headers);
      const status = message.statusCode ?? 0;
      const location = headerValue(message.headers, 'location');
      if (status < 300 || status >= 400 || location === null) return message;
      discardBody(message);
      const next = new URL(location, url);
      if (next.origin !== url.origin) delete headers['authorization'];
      url = next;
    }
    throw new RegistryRequestError(
      `${request.what}: more than ${MAX_REDIRECTS} redirects`,
      this.details(request.repository),
    );
  }

  private async authorization(
    scopes: readonly string[],
    repository: string,
    fresh: boolean,
  ): Promise<string | undefined> {
    this.auth.challenge ??= this.ping();
    const challenge = await this.auth.challenge;
    if (challenge.scheme === 'none') return undefined;
    const credentials = await this.loadCredentials();
    if (challenge.scheme === 'basic') {
      if (credentials === undefined) return undefined;
      return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    }
    const key = [...scopes].sort().join(' ');
    const tokens = this.auth.tokens;
    let token = fresh ? undefined : tokens.get(key);
    if (token === undefined) {
      token = this.fetchToken(challenge, scopes, credentials, repository);
      tokens.set(key, token);
      token.catch(() => tokens.delete(key));
    }
    return `Bearer ${await token}`;
  }

  private loadCredentials(): Promise<RegistryCredentials | undefined> {
    this.auth.credentials ??= this.credentialSource(this.registry);
    return this.auth.credentials;
  }

  /** GET /v2/: which auth scheme the registry wants (what crane's transport does first). */
  private async ping(): Promise<Challenge> {
    const url = `${this.endpoint}/v2/`;
    const response = await this.retry(async () => {
      let answer: HttpAnswer;
      try {
        answer = await exchangeSmall(
          new URL(url),
          this.smallGet({ 'user-agent': this.userAgent }),
          SMALL_ANSWER_BYTES,
        );
      } catch (e: unknown) {
        this.signal?.throwIfAborted();
        throw new RegistryUnavailableError(
          `cannot reach ${this.registry} at ${url} (${networkReason(e)}); check the endpoint or retry later`,
          { registry: this.registry },
          { cause: e },
        );
      }
      if (answer.status >= 500 || answer.status === 429) {
        throw this.toError({ what: `ping ${url}`, repository: '' }, answer);
      }
      return answer;
    });
    if (response.status !== 401) return { scheme: 'none' };
    return parseChallenge(response.header('www-authenticate'));
  }

  private async fetchToken(
    challenge: Extract<Challenge, { scheme: 'bearer' }>,
    scopes: readonly string[],
    credentials: RegistryCredentials | undefined,
    repository: string,
  ): Promise<string> {
    const url = new URL(challenge.realm);
    if (challenge.service !== undefined) url.searchParams.set('service', challenge.service);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    const headers: Record<string, string> = { 'user-agent': this.userAgent };
    if (credentials !== undefined) {
      headers['authorization'] =
        `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    }
    const response = await this.retry(async () => {
      let answer: HttpAnswer;
      try {
        answer = await exchangeSmall(url, this.smallGet(headers), SMALL_ANSWER_BYTES);
      } catch (e: unknown) {
        this.signal?.throwIfAborted();
        throw new RegistryUnavailableError(
          `cannot reach the token service of ${this.registry} (${networkReason(e)}); retry later`,
          this.details(repository),
          { cause: e },
        );
      }
      if (!answer.ok) {
        throw this.toError({ what: `token for ${scopes.join(' ')}`, repository }, answer);
      }
      return answer;
    });
    const token = parseToken(response.text());
    if (typeof token !== 'string' || token === '') {
      throw new UnauthorizedError(
        `the token service of ${this.registry} answered without a token; check the credentials`,
        this.details(repository, response.status),
      );
    }
    return token;
  }

  /** A plain GET outside send(): the ping and the token service. */
  private smallGet(headers: Readonly<Record<string, string>>): Exchange {
    return {
      method: 'GET',
      headers,
      idleTimeoutMs: this.requestTimeoutMs,
      ...(this.signal === undefined ? {} : { signal: this.signal }),
    };
  }

  private toError(
    request: Pick<Request, 'what' | 'repository' | 'notFound'>,
    response: HttpAnswer,
  ): RegistryError {
    const { code, message } = parseErrorBody(response.text());
    const details: RegistryErrorDetails = {
      ...this.details(request.repository, response.status),
      ...(code === undefined ? {} : { registryCode: code }),
    };
    const said = message === undefined ? '' : ` (${code === undefined ? '' : `${code}: `}${message})`;
    const status = response.status;
    const where = `${request.what}: ${this.registry} answered ${status}${said}`;
    if (status === 401) {
      return new UnauthorizedError(`${where}; check the registry credentials`, details);
    }
    if (status === 403) {
      return new DeniedError(`${where}; the credentials may not do this (IAM or repository policy)`, details);
    }
    if (status === 404 && (code === 'BLOB_UNKNOWN' || request.notFound === 'blob')) {
      return new BlobUnknownError(`${where}; the source is missing a blob its manifest names`, details);
    }
    if (status === 404) {
      const hint =
        code === 'NAME_UNKNOWN' || code === 'REPOSITORY_NOT_FOUND'
          ? 'does the repository exist?'
          : 'check the reference';
      return new ManifestUnknownError(`${where}; ${hint}`, details);
    }
    if (status === 429) {
      return new RateLimitedError(`${where}; rate limited, retry later`, details, retryAfter(response));
    }
    if (status >= 500) {
      return new RegistryUnavailableError(`${where}; retry later`, details);
    }
    return new RegistryRequestError(`${where}; the registry refused the request`, details);
  }

  private invalid(
    repository: string,
    reference: string,
    reason: string,
    cause?: unknown,
  ): ManifestInvalidError {
    return new ManifestInvalidError(
      `manifest ${describe(this.registry, repository, reference)} is not usable: ${reason}`,
      this.details(repository),
      cause === undefined ? {} : { cause },
    );
  }

  private details(repository: string, status?: number): RegistryErrorDetails {
    return {
      registry: this.registry,
      ...(repository === '' ? {} : { repository }),
      ...(status === undefined ? {} : { status }),
    };
  }
}

/** The media type of manifest bytes: the body's `mediaType`, else the Content-Type header. */
function manifestMediaType(bytes: Buffer, contentType: string | null): string {
  const header = contentType?.split(';')[0]?.trim();
  try {
    const body = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown };
    if (typeof body.mediaType === 'string' && body.mediaType !== '') return body.mediaType;
    return parseManifest(bytes, header).mediaType;
  } catch {
    return header ?? 'application/octet-stream';
  }
}

/** Drops an answer's body: drained on a pooled connection (kept alive), else the connection closed. */
function discardBody(message: HttpMessage): void {
  if (message instanceof DownloadMessage) message.destroy();
  else message.resume();
}

/**
 * Calls `open()` now. `take` hands the stream over once (later calls open again); `discard` closes
 * it when it is not wanted after all.
 */
function openAhead(open: () => Promise<Readable>): { take: () => Promise<Readable>; discard: () => void } {
  let pending: Promise<Readable> | undefined = open().then((stream) => {
    // An error before the taker listens must not go unheard; the stream keeps it (`errored`) and
    // the taker's pipeline reports it.
    stream.on('error', () => undefined);
    return stream;
  });
  pending.catch(() => undefined);
  const hand = (): Promise<Readable> | undefined => {
    const handed = pending;
    pending = undefined;
    return handed;
  };
  return {
    take: () => hand() ?? open(),
    discard: () => {
      void hand()?.then(
        (stream) => stream.destroy(),
        () => undefined,
      );
    },
  };
}

/** Passes a blob's bytes through while hashing and counting them; fails with
 * DigestMismatchError when they are not what `descriptor` announced (size -1: not checked). */
class VerifyingTransform extends Transform {
  private readonly hash: Hash;
  private readonly algorithm: string;
  private received = 0;

  constructor(
    private readonly descriptor: Descriptor,
    private readonly details: RegistryErrorDetails,
    private readonly where: string,
  ) {
    // 1 MiB read ahead: enough to keep the upload socket busy, small enough to stay bounded.
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
    this.algorithm = descriptor.digest.startsWith('sha512:') ? 'sha512' : 'sha256';
    this.hash = createHash(this.algorithm);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.byteLength;
    const { size } = this.descriptor;
    if (size >= 0 && this.received > size) {
      callback(this.mismatch(`more than the ${size} bytes announced`));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const { size, digest } = this.descriptor;
    if (size >= 0 && this.received !== size) {
      callback(this.mismatch(`${this.received} bytes, not the ${size} announced`));
      return;
    }
    const computed = `${this.algorithm}:${this.hash.digest('hex')}`;
    callback(computed === digest ? null : this.mismatch(`bytes hash to ${computed}`));
  }

  private mismatch(reason: string): DigestMismatchError {
    return new DigestMismatchError(
      `blob ${this.where}: ${reason}; the source served other bytes — retry`,
      this.details,
    );
  }
}

const STREAM_IDLE_TIMEOUT_MS = 120_000;
const MAX_REDIRECTS = 5;

function parseChallenge(header: string | null): Challenge {
  if (header === null) return { scheme: 'none' };
  const space = header.indexOf(' ');
  const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
  const params = new Map<string, string>();
  for (const match of header.slice(space + 1).matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) {
    params.set(match[1]!.toLowerCase(), match[2]!);
  }
  if (scheme === 'bearer' && params.has('realm')) {
    return { scheme: 'bearer', realm: params.get('realm')!, service: params.get('service') };
  }
  return { scheme: scheme === 'basic' ? 'basic' : 'none' };
}

function parseErrorBody(text: string): { code?: string; message?: string } {
  try {
    const body = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] };
    const first = body.errors?.[0];
    return {
      ...(typeof first?.code === 'string' ? { code: first.code } : {}),
      ...(typeof first?.message === 'string' && first.message !== '' ? { message: first.message } : {}),
    };
  } catch {
    return {};
  }
}

/** The token of a token service's JSON answer (`token`, or OAuth2's `access_token`). */
function parseToken(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { token?: unknown; access_token?: unknown };
    const token = typeof body.token === 'string' ? body.token : body.access_token;
    return typeof token === 'string' ? token : undefined;
  } catch {
    return undefined;
  }
}

function retryAfter(response: HttpAnswer): number | undefined {
  const value = response.header('retry-after');
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function nextLink(header: string | null, endpoint: string): string | undefined {
  const match = header === null ? null : /<([^>]+)>\s*;\s*rel="?next"?/.exec(header);
  if (match === null) return undefined;
  const url = new URL(match[1]!, `${endpoint}/`);
  return url.origin === new URL(endpoint).origin ? `${url.pathname}${url.search}` : url.toString();
}

function networkReason(e: unknown): string {
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause : e;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code ?? (cause.name === 'TimeoutError' ? 'timed out' : cause.message);
  }
  return String(cause);
}

/** A PromoterError somewhere in the cause chain (a verifying stream that failed mid-upload). */
function promoterCause(e: unknown): PromoterError | undefined {
  for (let current: unknown = e, depth = 0; current instanceof Error && depth < 5; depth++) {
    if (current instanceof PromoterError) return current;
    current = current.cause;
  }
  return undefined;
}

function describeFormat(e: unknown): string {
  return e instanceof ManifestFormatError ? e.reason : String(e);
}

function describe(registry: string, repository: string, reference: string): string {
  return isDigest(reference)
    ? formatImageRef({ registry, repository, digest: reference })
    : formatImageRef({ registry, repository, tag: reference });
}

function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}
