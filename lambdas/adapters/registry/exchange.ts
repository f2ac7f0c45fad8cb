// The bottom layer of the registry client (go-containerregistry's transport.go + error.go): one HTTP
// exchange with a registry, and the mapping of every failure — a status, a broken connection — to
// one RegistryError from core/errors. It sends exactly the headers it is given: it never adds
// credentials (auth.ts does, for the registry's own origin only), never retries (retry.ts) and
// never follows a redirect (transport.ts).
import type { Readable } from 'node:stream';
import {
  BlobUnknownError,
  DeniedError,
  ManifestUnknownError,
  PromoterError,
  RateLimitedError,
  RegistryRequestError,
  RegistryUnavailableError,
  UnauthorizedError,
  type RegistryError,
  type RegistryErrorDetails,
} from '../../core/errors';
import { formatImageRef, isDigest } from '../../core/image-ref';
import { DownloadMessage, openDownload } from '../http-download';
import { openExchange, type HttpAnswer, type HttpMessage } from '../http-exchange';
import type { RateLane } from './throttle';

export type RegistryMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

/** One registry operation as the layers above the exchange see it. */
export interface RegistryRequest {
  readonly method: RegistryMethod;
  /** Path under the endpoint (`/v2/...`) or an absolute URL (an upload Location, a `Link`). */
  readonly url: string;
  readonly repository: string;
  /** Token scopes (`repository:name:pull`), only used with Bearer auth. */
  readonly scopes: readonly string[];
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | Readable;
  /** What the failure is about, for the one-line message: `manifest shop/api:1.0`. */
  readonly what: string;
  /** The registry API it counts against, whose pace it keeps (throttle.ts). Default: other. */
  readonly api?: RateLane;
  /** 404 means this kind of thing does not exist. */
  readonly notFound?: 'manifest' | 'blob';
  /** Statuses returned to the caller instead of thrown. */
  readonly accept?: readonly number[];
  /** Whether a failed attempt may be repeated here (false for streamed bodies). */
  readonly replayable?: boolean;
  /** Idle limit of this exchange; null: the streamed-transfer limit. */
  readonly timeoutMs?: number | null;
  /** Longest answer body read (default SMALL_ANSWER_BYTES). */
  readonly answerLimit?: number;
  /** A GET whose large body is read over a connection of its own (http-download.ts). */
  readonly direct?: boolean;
}

/** What every layer knows about the registry it talks to, per client view (see withSignal). */
export interface RegistryContext {
  /** Registry host as in an ImageRef. */
  readonly registry: string;
  /** Base URL, no trailing slash. */
  readonly endpoint: string;
  /** The endpoint's origin: the only one the registry's credentials are ever sent to. */
  readonly origin: string;
  readonly userAgent: string;
  /** Idle limit of a request without a streamed body. */
  readonly requestTimeoutMs: number;
  /** Idle limit of a streamed transfer (a blob read or upload). */
  readonly streamTimeoutMs: number;
  readonly signal: AbortSignal | undefined;
}

/** Longest answer read whole, other than a manifest: error bodies, tokens, referrer lists. */
export const SMALL_ANSWER_BYTES = 1024 * 1024;

/**
 * Sends one request to `url` with exactly `headers`; resolves once the answer's headers are in.
 * A network failure becomes RegistryUnavailableError (retryable), an abort the signal's reason.
 */
export async function exchange(
  context: RegistryContext,
  request: RegistryRequest,
  url: URL,
  headers: Readonly<Record<string, string>>,
): Promise<HttpMessage> {
  const idleTimeoutMs =
    request.timeoutMs === undefined
      ? context.requestTimeoutMs
      : (request.timeoutMs ?? context.streamTimeoutMs);
  const signal = context.signal;
  try {
    if (request.direct === true && request.method === 'GET') {
      return await openDownload(url, {
        headers,
        idleTimeoutMs,
        ...(signal === undefined ? {} : { signal }),
      });
    }
    return await openExchange(url, {
      method: request.method,
      headers,
      ...(request.body === undefined ? {} : { body: request.body }),
      idleTimeoutMs,
      ...(signal === undefined ? {} : { signal }),
    });
  } catch (e: unknown) {
    throw unreachable(context, request, e);
  }
}

/** The error for a request that got no (complete) answer: the abort's reason, a PromoterError
 * that broke a streamed body, else RegistryUnavailableError. */
export function unreachable(
  context: RegistryContext,
  request: Pick<RegistryRequest, 'what' | 'repository'>,
  e: unknown,
): PromoterError {
  context.signal?.throwIfAborted();
  return (
    promoterCause(e) ??
    new RegistryUnavailableError(
      `${request.what}: cannot reach ${context.registry} (${networkReason(e)}); retry later`,
      registryDetails(context.registry, request.repository),
      { cause: e },
    )
  );
}

/** The RegistryError for an answer the caller did not accept. `at`: the origin that answered,
 * when it is not the registry's own (a redirect target). */
export function toError(
  registry: string,
  request: Pick<RegistryRequest, 'what' | 'repository' | 'notFound'>,
  response: HttpAnswer,
  at?: string,
): RegistryError {
  const { code, message } = parseErrorBody(response.text());
  const details: RegistryErrorDetails = {
    ...registryDetails(registry, request.repository, response.status),
    ...(code === undefined ? {} : { registryCode: code }),
  };
  const said = message === undefined ? '' : ` (${code === undefined ? '' : `${code}: `}${message})`;
  const status = response.status;
  const who = at === undefined ? registry : `${at} (reached from ${registry})`;
  const where = `${request.what}: ${who} answered ${status}${said}`;
  if (status === 401) {
    return new UnauthorizedError(
      at === undefined
        ? `${where}; check the registry credentials`
        : `${where}; the registry's credentials are only sent to the registry itself`,
      details,
    );
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

export function registryDetails(registry: string, repository: string, status?: number): RegistryErrorDetails {
  return {
    registry,
    ...(repository === '' ? {} : { repository }),
    ...(status === undefined ? {} : { status }),
  };
}

/** Drops an answer's body: drained on a pooled connection (kept alive), else the connection closed. */
export function discardBody(message: HttpMessage): void {
  if (message instanceof DownloadMessage) message.destroy();
  else message.resume();
}

export function networkReason(e: unknown): string {
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause : e;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code ?? (cause.name === 'TimeoutError' ? 'timed out' : cause.message);
  }
  return String(cause);
}

/** A PromoterError somewhere in the cause chain (a verifying stream that failed mid-upload). */
export function promoterCause(e: unknown): PromoterError | undefined {
  for (let current: unknown = e, depth = 0; current instanceof Error && depth < 5; depth++) {
    if (current instanceof PromoterError) return current;
    current = current.cause;
  }
  return undefined;
}

/** `registry/repository:tag` or `registry/repository@digest`, for messages. */
export function describeRef(registry: string, repository: string, reference: string): string {
  return isDigest(reference)
    ? formatImageRef({ registry, repository, digest: reference })
    : formatImageRef({ registry, repository, tag: reference });
}

export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
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

function retryAfter(response: HttpAnswer): number | undefined {
  const value = response.header('retry-after');
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
