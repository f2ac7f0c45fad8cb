// The OCI distribution API client: one instance per registry host. Handles the auth handshake
// (ping, Basic or Bearer token per scope, one re-authentication on 401), retries what may succeed
// next time (5xx, 429 with Retry-After, connection errors) with capped exponential backoff, streams
// blobs without buffering them, and turns every failure into a RegistryError from core/errors.
// It verifies every byte it hands out against the digest it was asked for. It never re-serializes
// a manifest and never decides what to copy: that is lambdas/copy.
import { createHash, type Hash } from 'node:crypto';
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
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
}

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
  /** Set once the registry refused a streamed PATCH: known-size blobs then go up in one PUT. */
  monolithicUploads?: boolean;
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
}

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
  private readonly credentialSource: CredentialProvider;
  /** Shared with every view made by withSignal(): one ping, one token per scope. */
  private readonly auth: AuthState;
  private readonly signal: AbortSignal | undefined;

  constructor(
    private readonly options: RegistryClientOptions,
    scope: { readonly auth: AuthState; readonly signal: AbortSignal } | undefined = undefined,
  ) {
    this.auth = scope?.auth ?? { tokens: new Map() };
    this.signal = scope?.signal;
    this.registry = options.registry;
    const scheme = LOOPBACK.test(options.registry) ? 'http' : 'https';
    this.endpoint = (options.endpoint ?? `${scheme}://${options.registry}`).replace(/\/+$/, '');
    this.retryPolicy = { ...DEFAULT_RETRY, ...options.retry };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.userAgent = options.userAgent ?? 'image-promoter';
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
    const response = await this.send(this.manifestRequest('GET', repository, reference));
    const length = Number(response.headers.get('content-length') ?? '0');
    if (length > MAX_MANIFEST_BYTES) {
      await response.body?.cancel();
      throw this.invalid(repository, reference, `manifest is ${length} bytes, over ${MAX_MANIFEST_BYTES}`);
    }
    const bytes = Buffer.from(await response.arrayBuffer());
    const details = this.details(repository, response.status);
    const expected = isDigest(reference) ? reference : response.headers.get('docker-content-digest');
    const algorithm = expected?.startsWith('sha512:') ? 'sha512' : 'sha256';
    const digest = computeDigest(bytes, algorithm);
    if (expected !== null && isDigest(expected) && digest !== expected) {
      throw new DigestMismatchError(
        `manifest ${describe(this.registry, repository, reference)} hashes to ${digest}, not ${expected}; ` +
          'the registry served other bytes than it announced — retry, or check the registry',
        details,
      );
    }
    const mediaType = manifestMediaType(bytes, response.headers.get('content-type'));
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
    const digest = response.headers.get('docker-content-digest');
    if (digest === null || !isDigest(digest)) {
      // Some registries omit the header on HEAD: fall back to reading the manifest.
      const manifest = await this.getManifest(repository, reference);
      return { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.bytes.byteLength };
    }
    return {
      digest,
      mediaType: response.headers.get('content-type')?.split(';')[0]?.trim() ?? '',
      size: Number(response.headers.get('content-length') ?? '-1'),
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
    await response.body?.cancel();
    const stored = response.headers.get('docker-content-digest');
    if (stored !== null && isDigest(stored) && stored !== digest) {
      throw new DigestMismatchError(
        `${describe(this.registry, repository, reference)} was stored as ${stored}, not ${digest}; ` +
          'the registry rewrote the manifest — it cannot hold a byte-identical copy',
        this.details(repository, response.status),
      );
    }
    return { digest, subjectIndexed: response.headers.get('oci-subject') !== null };
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
   * else streamed from `open()` the way crane does it, against ECR too: POST, one streamed PATCH,
   * a closing PUT `?digest=` (ECR answers the PATCH with 201 rather than 202; both are fine). A
   * registry that refuses the PATCH (405, 400...) gets the monolithic form instead, POST then one
   * PUT carrying the bytes, for this blob and every later one.
   */
  async uploadBlob(
    repository: string,
    descriptor: Descriptor,
    open: () => Promise<Readable>,
    mountFrom?: string,
  ): Promise<BlobUploadResult> {
    const what = `blob upload ${describe(this.registry, repository, descriptor.digest)}`;
    const query = mountFrom === undefined ? '' : `?mount=${descriptor.digest}&from=${mountFrom}`;
    const started = await this.send({
      method: 'POST',
      url: `/v2/${repository}/blobs/uploads/${query}`,
      repository,
      scopes:
        mountFrom === undefined ? [pushScope(repository)] : [pushScope(repository), pullScope(mountFrom)],
      what,
    });
    await started.body?.cancel();
    if (mountFrom !== undefined && started.status === 201) return 'mounted';
    const location = this.uploadLocation(started, repository);
    const monolithic = descriptor.size >= 0 && this.auth.monolithicUploads === true;
    try {
      await this.streamUpload(repository, descriptor, location, open, monolithic ? 'PUT' : 'PATCH', what);
    } catch (e: unknown) {
      const refusedPatch =
        !monolithic &&
        descriptor.size >= 0 &&
        e instanceof RegistryRequestError &&
        e.status !== undefined &&
        [400, 405, 415, 416, 501].includes(e.status);
      if (!refusedPatch) throw e;
      this.auth.monolithicUploads = true;
      return this.uploadBlob(repository, descriptor, open);
    }
    return 'uploaded';
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
    let streamed: Response;
    // What broke the source stream, if anything: that, not the aborted request, is the failure.
    let sourceError: unknown;
    try {
      const body = await open();
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
      await this.cancelUpload(location, repository);
      throw sourceError ?? promoterCause(e) ?? e;
    }
    await streamed.body?.cancel();
    if (method === 'PUT') return;

    const closed = await this.send({
      method: 'PUT',
      url: finish(this.uploadLocation(streamed, repository, location)),
      repository,
      scopes: [pushScope(repository)],
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array(0),
      what,
      replayable: false,
    });
    await closed.body?.cancel();
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
      });
      const contentType = response.headers.get('content-type')?.split(';')[0]?.trim();
      if (response.status !== 200 || contentType !== MEDIA_TYPES.ociIndex) {
        await response.body?.cancel();
        if (page === 0) return undefined;
        break;
      }
      const bytes = Buffer.from(await response.arrayBuffer());
      try {
        referrers.push(...parseManifest(bytes, contentType).manifests);
      } catch (e: unknown) {
        throw this.invalid(repository, `referrers/${digest}`, describeFormat(e), e);
      }
      url = nextLink(response.headers.get('link'), this.endpoint);
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
        await sleep(this.backoff(attempt, e), undefined, this.signal ? { signal: this.signal } : {});
      }
    }
  }

  /** The fetch `signal` for a request: its time limit, and this view's abort signal. */
  private abortWhen(timeoutMs: number | null): { signal?: AbortSignal } {
    const signals = [
      ...(timeoutMs === null ? [] : [AbortSignal.timeout(timeoutMs)]),
      ...(this.signal === undefined ? [] : [this.signal]),
    ];
    if (signals.length === 0) return {};
    return { signal: signals.length === 1 ? signals[0]! : AbortSignal.any(signals) };
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
      const response = await this.send({
        method: 'DELETE',
        url: location,
        repository,
        scopes: [pushScope(repository)],
        what: 'cancel upload',
        accept: [404, 405],
        replayable: false,
      });
      await response.body?.cancel();
    } catch {
      // Best effort: registries expire abandoned uploads on their own.
    }
  }

  private uploadLocation(response: Response, repository: string, previous?: string): string {
    const location = response.headers.get('location');
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
  private async send(request: Request): Promise<Response> {
    const replayable = request.replayable ?? true;
    if (!replayable) return this.sendOnce(request);
    return this.retry(() => this.sendOnce(request));
  }

  private async sendOnce(request: Request): Promise<Response> {
    let response = await this.fetchAuthorized(request, false);
    if (response.status === 401 && (request.replayable ?? true)) {
      // Token expired, or the registry wants another scheme than the ping said: learn it again.
      const challenge = parseChallenge(response.headers.get('www-authenticate'));
      await response.body?.cancel();
      this.auth.challenge = Promise.resolve(challenge);
      this.auth.tokens.clear();
      response = await this.fetchAuthorized(request, true);
    }
    const accepted = request.accept ?? [];
    if (response.ok || accepted.includes(response.status)) return response;
    throw await this.toError(request, response);
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

  private async fetchAuthorized(request: Request, fresh: boolean): Promise<Response> {
    const headers = await this.requestHeaders(request, fresh);
    const url = this.absolute(request);
    const timeoutMs = request.timeoutMs === undefined ? this.requestTimeoutMs : request.timeoutMs;
    try {
      if (request.body instanceof Readable) {
        return await streamRequest(url, request.method, headers, request.body, timeoutMs, this.signal);
      }
      return await fetch(url, {
        method: request.method,
        headers,
        redirect: 'follow',
        ...this.abortWhen(timeoutMs),
        ...(request.body === undefined ? {} : { body: request.body }),
      });
    } catch (e: unknown) {
      throw this.unreachable(request, e);
    }
  }

  /**
   * A GET whose body is streamed over node:http (fetch's web streams cost several times the CPU
   * per byte): authenticated, retried until the answer's headers are in, redirects followed
   * (ECR sends blob reads to S3; credentials are dropped when the origin changes).
   */
  private openStream(request: Request): Promise<IncomingMessage> {
    return this.retry(async () => {
      let message = await this.getFollowing(request, false);
      if (message.statusCode === 401) {
        const challenge = parseChallenge(headerValue(message.headers, 'www-authenticate'));
        message.resume();
        this.auth.challenge = Promise.resolve(challenge);
        this.auth.tokens.clear();
        message = await this.getFollowing(request, true);
      }
      const status = message.statusCode ?? 502;
      if (status >= 200 && status < 300) return message;
      throw await this.toError(request, await toFetchResponse(message));
    });
  }

  private async getFollowing(request: Request, fresh: boolean): Promise<IncomingMessage> {
    const headers = await this.requestHeaders(request, fresh);
    let url = new URL(this.absolute(request));
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      let message: IncomingMessage;
      try {
        message = await streamGet(url, headers, this.signal);
      } catch (e: unknown) {
        throw this.unreachable(request, e);
      }
      const status = message.statusCode ?? 0;
      const location = headerValue(message.headers, 'location');
      if (status < 300 || status >= 400 || location === null) return message;
      message.resume();
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
      let answer: Response;
      try {
        answer = await fetch(url, {
          headers: { 'user-agent': this.userAgent },
          ...this.abortWhen(this.requestTimeoutMs),
        });
      } catch (e: unknown) {
        this.signal?.throwIfAborted();
        throw new RegistryUnavailableError(
          `cannot reach ${this.registry} at ${url} (${networkReason(e)}); check the endpoint or retry later`,
          { registry: this.registry },
          { cause: e },
        );
      }
      if (answer.status >= 500 || answer.status === 429) {
        throw await this.toError({ what: `ping ${url}`, repository: '' }, answer);
      }
      return answer;
    });
    await response.body?.cancel();
    if (response.status !== 401) return { scheme: 'none' };
    return parseChallenge(response.headers.get('www-authenticate'));
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
      let answer: Response;
      try {
        answer = await fetch(url, { headers, ...this.abortWhen(this.requestTimeoutMs) });
      } catch (e: unknown) {
        this.signal?.throwIfAborted();
        throw new RegistryUnavailableError(
          `cannot reach the token service of ${this.registry} (${networkReason(e)}); retry later`,
          this.details(repository),
          { cause: e },
        );
      }
      if (!answer.ok) {
        throw await this.toError({ what: `token for ${scopes.join(' ')}`, repository }, answer);
      }
      return answer;
    });
    const body = (await response.json()) as { token?: unknown; access_token?: unknown };
    const token = typeof body.token === 'string' ? body.token : body.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new UnauthorizedError(
        `the token service of ${this.registry} answered without a token; check the credentials`,
        this.details(repository, response.status),
      );
    }
    return token;
  }

  private async toError(
    request: Pick<Request, 'what' | 'repository' | 'notFound'>,
    response: Response,
  ): Promise<RegistryError> {
    const text = await response.text().catch(() => '');
    const { code, message } = parseErrorBody(text);
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

// Keep-alive pools for streamed uploads (fetch keeps its own for everything else).
const httpAgent = new HttpAgent({ keepAlive: true });
const httpsAgent = new HttpsAgent({ keepAlive: true });

/**
 * A request with a streamed body over node:http, answered as a fetch Response. Not fetch: Node
 * 20's fetch reads a streamed request body as fast as the source gives it, whatever the socket
 * takes, so a blob from a fast source piles up in memory (measured: a 256 MiB layer raised RSS by
 * ~270 MiB). pipeline() holds to the socket's pace. Errors of the body stream reject as they are.
 */
async function streamRequest(
  url: string,
  method: string,
  headers: Readonly<Record<string, string>>,
  body: Readable,
  timeoutMs: number | null,
  signal: AbortSignal | undefined,
): Promise<Response> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const send = secure ? httpsRequest : httpRequest;
  const request = send(target, {
    method,
    headers:
      headers['content-length'] === undefined ? { ...headers, 'transfer-encoding': 'chunked' } : headers,
    agent: secure ? httpsAgent : httpAgent,
    // An idle-socket limit, not a total one: a large blob may take long, a silent socket may not.
    timeout: timeoutMs ?? STREAM_IDLE_TIMEOUT_MS,
    ...(signal === undefined ? {} : { signal }),
  });
  const answered = new Promise<IncomingMessage>((resolve, reject) => {
    request.once('response', resolve);
    request.once('error', reject);
    request.once('timeout', () => request.destroy(new Error('timed out')));
  });
  const [sent, response] = await Promise.allSettled([pipeline(body, request), answered]);
  // What is reported: a failure of the body stream (the source), else the registry's error answer
  // (it may answer before it read everything), else the connection's failure.
  const early = response.status === 'fulfilled' && (response.value.statusCode ?? 0) >= 400;
  if (sent.status === 'rejected' && (sent.reason instanceof PromoterError || !early)) {
    if (response.status === 'fulfilled') response.value.resume();
    throw sent.reason;
  }
  if (response.status === 'rejected') throw response.reason;
  return toFetchResponse(response.value);
}

/** A GET over node:http; resolves when the answer's headers are in. */
function streamGet(
  url: URL,
  headers: Readonly<Record<string, string>>,
  signal: AbortSignal | undefined,
): Promise<IncomingMessage> {
  const secure = url.protocol === 'https:';
  const send = secure ? httpsRequest : httpRequest;
  return new Promise<IncomingMessage>((resolve, reject) => {
    const request = send(url, {
      method: 'GET',
      headers,
      agent: secure ? httpsAgent : httpAgent,
      timeout: STREAM_IDLE_TIMEOUT_MS,
      ...(signal === undefined ? {} : { signal }),
    });
    request.once('response', resolve);
    request.once('error', reject);
    request.once('timeout', () => request.destroy(new Error('timed out')));
    request.end();
  });
}

/** A small answer of node:http as a fetch Response (its body read whole). */
async function toFetchResponse(message: IncomingMessage): Promise<Response> {
  const chunks: Buffer[] = [];
  for await (const chunk of message) chunks.push(chunk as Buffer);
  const headers = new Headers();
  for (const [name, value] of Object.entries(message.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  const status = message.statusCode ?? 502;
  const nullBody = status === 204 || status === 205 || status === 304;
  return new Response(nullBody ? null : Buffer.concat(chunks), { status, headers });
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | null {
  const value = headers[name];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}

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

function retryAfter(response: Response): number | undefined {
  const value = response.headers.get('retry-after');
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
