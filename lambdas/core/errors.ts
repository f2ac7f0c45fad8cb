// The one error tree of image-promoter. Every error a caller may see is a PromoterError, and every
// PromoterError answers the only question callers ask: retry, or give up? (`retryable`).
// Messages are one line a user can act on: what failed, where, and what to do.
// Pure: no I/O, no AWS SDK, no clock.

export interface PromoterErrorOptions {
  readonly cause?: unknown;
}

export abstract class PromoterError extends Error {
  /** Stable machine-readable code, e.g. `TAG_CONFLICT`. */
  abstract readonly code: string;
  /** True when the same operation may succeed if tried again later. */
  abstract readonly retryable: boolean;

  constructor(message: string, options: PromoterErrorOptions = {}) {
    super(oneLine(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}

/** Collapses whitespace so every message fits one log line or one commit status description. */
export function oneLine(message: string): string {
  return message.replace(/\s+/g, ' ').trim();
}

// ---------------------------------------------------------------------------------------------
// User input: configuration, references, overlays, jobs. Never retryable: the input must change.

export class InvalidReferenceError extends PromoterError {
  readonly code = 'INVALID_REFERENCE';
  readonly retryable = false;
  constructor(
    readonly reference: string,
    readonly reason: string,
  ) {
    super(`invalid image reference "${reference}": ${reason}`);
  }
}

export class ConfigError extends PromoterError {
  readonly code = 'INVALID_CONFIG';
  readonly retryable = false;
  constructor(
    /** Dotted key path, e.g. `environments[0].source.registry`, or '' for the whole document. */
    readonly keyPath: string,
    readonly reason: string,
    readonly file?: string,
    /** 1-based line in `file`, when known. */
    readonly line?: number,
  ) {
    super(
      `${file ?? 'config'}${line === undefined ? '' : `:${line}`}${keyPath ? `: ${keyPath}` : ''}: ${reason}`,
    );
  }
}

/** A docker credential helper (`docker-credential-<name>`) the Docker config names failed or is missing. */
export class CredentialHelperError extends PromoterError {
  readonly code = 'CREDENTIAL_HELPER';
  constructor(
    readonly helper: string,
    readonly server: string,
    reason: string,
    /** A timeout may pass; a missing helper or a bad answer will not. */
    readonly retryable: boolean = false,
  ) {
    super(`${helper} (credentials for ${server}) ${reason}`);
  }
}

export class OverlayError extends PromoterError {
  readonly code = 'INVALID_OVERLAY';
  readonly retryable = false;
  constructor(
    /** Repository-relative path of the offending file. */
    readonly file: string,
    readonly reason: string,
    /** 1-based line, when known. */
    readonly line?: number,
  ) {
    super(`${file}${line === undefined ? '' : `:${line}`}: ${reason}`);
  }
}

/** Planning a push reached one of its limits (config `planning`, or the deadline): the overlay, or
 * the push, is too large to plan. Never retryable as is: the overlay or the limit must change. */
export class PlanningLimitError extends PromoterError {
  readonly code = 'PLANNING_LIMIT';
  readonly retryable = false;
  constructor(
    /** Repository-relative path of the file being read when the limit was reached. */
    readonly file: string,
    /** The limit's name as configured, e.g. `planning.maxFiles`. */
    readonly limit: string,
    readonly reason: string,
  ) {
    super(`${file}: ${limit} reached: ${reason}`);
  }
}

/** Planning a push did not end before the webhook's deadline (config `webhook.deadlineSeconds`, or
 * what the Lambda has left): it was stopped there, so the answer stays within GitHub's wait. The
 * pusher's problem as much as GitHub's (an overlay too large to read in time), and a redelivery
 * would meet the same deadline: never retryable, a `failure` status says so. */
export class PlanningDeadlineError extends PromoterError {
  readonly code = 'PLANNING_DEADLINE';
  readonly retryable = false;
  constructor(
    /** The deadline, in milliseconds from the start of the delivery. */
    readonly deadlineMs: number,
    /** What set it, e.g. `webhook.deadlineSeconds`. */
    readonly limit: string,
  ) {
    super(
      `planning stopped after ${formatSeconds(deadlineMs)} s (${limit}): GitHub was slow or the overlay ` +
        'is too large; redeliver, or make it smaller',
    );
  }
}

/** 7000 -> "7", 500 -> "0.5", 1250 -> "1.3": seconds with at most one decimal. */
function formatSeconds(ms: number): string {
  return String(Math.round(Math.max(0, ms) / 100) / 10);
}

export class JobValidationError extends PromoterError {
  readonly code = 'INVALID_JOB';
  readonly retryable = false;
  constructor(
    readonly reason: string,
    options: PromoterErrorOptions = {},
  ) {
    super(`invalid promotion job: ${reason}`, options);
  }
}

export class UsageError extends PromoterError {
  readonly code = 'USAGE';
  readonly retryable = false;
}

// ---------------------------------------------------------------------------------------------
// Registries (OCI distribution API).

export interface RegistryErrorDetails {
  /** Registry host, e.g. `111111111111.dkr.ecr.us-east-1.amazonaws.com`. */
  readonly registry: string;
  /** Repository path, when the failure concerns one. */
  readonly repository?: string;
  /** HTTP status, when there was a response. */
  readonly status?: number;
  /** OCI error code from the response body (`MANIFEST_UNKNOWN`, `DENIED`...), when given. */
  readonly registryCode?: string;
}

export abstract class RegistryError extends PromoterError {
  readonly registry: string;
  readonly repository: string | undefined;
  readonly status: number | undefined;
  readonly registryCode: string | undefined;

  constructor(message: string, details: RegistryErrorDetails, options: PromoterErrorOptions = {}) {
    super(message, options);
    this.registry = details.registry;
    this.repository = details.repository;
    this.status = details.status;
    this.registryCode = details.registryCode;
  }
}

/** 401 after presenting credentials, or no credentials where some are needed. */
export class UnauthorizedError extends RegistryError {
  readonly code = 'UNAUTHORIZED';
  readonly retryable = false;
}

/** 403: authenticated, but not allowed (IAM policy, repository policy). */
export class DeniedError extends RegistryError {
  readonly code = 'DENIED';
  readonly retryable = false;
}

/** The manifest, tag, digest or repository does not exist. */
export class ManifestUnknownError extends RegistryError {
  readonly code = 'MANIFEST_UNKNOWN';
  readonly retryable = false;
}

/** A blob the manifest names does not exist in the source. */
export class BlobUnknownError extends RegistryError {
  readonly code = 'BLOB_UNKNOWN';
  readonly retryable = false;
}

/** The registry served a manifest that is not valid JSON of a known manifest type. */
export class ManifestInvalidError extends RegistryError {
  readonly code = 'MANIFEST_INVALID';
  readonly retryable = false;
}

/** The destination tag exists and points at another digest (and overwrite is off). */
export class TagConflictError extends RegistryError {
  readonly code = 'TAG_CONFLICT';
  readonly retryable = false;
  constructor(
    readonly destination: string,
    readonly existingDigest: string,
    readonly wantedDigest: string,
    details: RegistryErrorDetails,
  ) {
    super(
      `tag conflict: ${destination} already points at ${existingDigest}, not ${wantedDigest}; ` +
        `tags are immutable here — promote a new tag, or pass --overwrite`,
      details,
    );
  }
}

/** The registry refused the request as malformed or unsupported (4xx other than the above). */
export class RegistryRequestError extends RegistryError {
  readonly code = 'REGISTRY_REQUEST_REJECTED';
  readonly retryable = false;
}

/** Bytes received do not match the digest or size they were announced with. */
export class DigestMismatchError extends RegistryError {
  readonly code = 'DIGEST_MISMATCH';
  // A corrupted transfer usually succeeds when repeated; a registry that keeps serving wrong bytes
  // exhausts the retries and ends in the DLQ, which is what we want.
  readonly retryable = true;
}

/** 429: rate limited. `retryAfterMs` comes from `Retry-After` when the registry sent one. */
export class RateLimitedError extends RegistryError {
  readonly code = 'RATE_LIMITED';
  readonly retryable = true;
  constructor(
    message: string,
    details: RegistryErrorDetails,
    readonly retryAfterMs: number | undefined,
    options: PromoterErrorOptions = {},
  ) {
    super(message, details, options);
  }
}

/** 5xx, connection reset, timeout: the registry may answer next time. */
export class RegistryUnavailableError extends RegistryError {
  readonly code = 'REGISTRY_UNAVAILABLE';
  readonly retryable = true;
}

/** A blob of unknown size (Docker schema 1 names no sizes) went past the configured maximum
 * (`copy.maxBlobBytes`). The same registry will send the same bytes: not retryable. */
export class BlobTooLargeError extends RegistryError {
  readonly code = 'BLOB_TOO_LARGE';
  readonly retryable = false;
}

/** A copy did not finish before its deadline (the Lambda's remaining time, the CLI's --timeout).
 * Retryable: the next attempt starts with the time it has and finds the blobs already copied. */
export class DeadlineExceededError extends PromoterError {
  readonly code = 'DEADLINE_EXCEEDED';
  readonly retryable = true;
}

// ---------------------------------------------------------------------------------------------
// Other outside systems: AWS (STS, ECR control plane, SQS, Secrets Manager, DynamoDB), GitHub, git.

export class AwsServiceError extends PromoterError {
  readonly code: string;
  readonly retryable: boolean;
  /** retryable, throttled (retryable, back off more) or permanent. */
  readonly kind: AwsErrorKind;
  constructor(
    message: string,
    readonly service: string,
    retryable: boolean,
    options: PromoterErrorOptions & { readonly awsCode?: string; readonly kind?: AwsErrorKind } = {},
  ) {
    super(message, options);
    this.code = `AWS_${(options.awsCode ?? 'ERROR').toUpperCase()}`;
    this.retryable = retryable;
    this.kind = options.kind ?? (retryable ? 'retryable' : 'permanent');
  }
}

export class GitHubError extends PromoterError {
  readonly code = 'GITHUB';
  readonly retryable: boolean;
  constructor(
    message: string,
    readonly status: number | undefined,
    /** `retryable` overrides the status rule, e.g. for a 403 that is a rate limit. */
    options: PromoterErrorOptions & { readonly retryable?: boolean } = {},
  ) {
    super(message, options);
    this.retryable = options.retryable ?? (status === undefined || status === 429 || status >= 500);
  }
}

export class GitError extends PromoterError {
  readonly code = 'GIT';
  readonly retryable = false;
}

// ---------------------------------------------------------------------------------------------

/** Retry or give up? Anything that is not a PromoterError is a surprise: retried, so it ends in
 * the DLQ with its stack rather than being acknowledged and lost. */
export function isRetryable(error: unknown): boolean {
  return error instanceof PromoterError ? error.retryable : true;
}

/** The one line to show a user for any thrown value. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return oneLine(error.message) || error.name;
  return oneLine(String(error));
}

// ---------------------------------------------------------------------------------------------
// AWS SDK errors, classified once for every AWS adapter.

/** What a failed AWS call means for the caller: try again (`throttled` after backing off more),
 * or give up until something changes (`permanent`: permissions, a missing resource, bad input). */
export type AwsErrorKind = 'retryable' | 'throttled' | 'permanent';

export interface AwsFailure {
  readonly kind: AwsErrorKind;
  /** The service's error code (the SDK error's name, e.g. `AccessDeniedException`), or `Error`. */
  readonly code: string;
  readonly status: number | undefined;
  readonly message: string;
}

/** Throttling by any of its names: STS/ECR `Throttling(Exception)`, SQS `RequestThrottled` and
 * `OverLimit`, DynamoDB `ProvisionedThroughputExceededException` and `RequestLimitExceeded`,
 * Secrets Manager `LimitExceededException` (AWS SDK for JavaScript v3 service error shapes). */
const THROTTLED =
  /Throttl|TooManyRequests|OverLimit|ProvisionedThroughputExceeded|RequestLimitExceeded|SlowDown/i;
/** Client-side (4xx) errors that pass with time: a request signed with a clock off (RequestExpired),
 * an identity provider not answering (STS IDPCommunicationError). */
const TRANSIENT_CLIENT = /RequestExpired|IDPCommunication/i;

/** Reads an AWS SDK v3 error (`name`, `$fault`, `$metadata.httpStatusCode`) without importing the
 * SDK: server faults, 5xx, network errors (no HTTP status) and throttling are worth retrying;
 * any other client fault or 4xx is permanent. */
export function classifyAwsError(e: unknown): AwsFailure {
  const code = e instanceof Error ? e.name : 'Error';
  const message = e instanceof Error ? e.message : String(e);
  const sdk = typeof e === 'object' && e !== null ? (e as { $fault?: unknown; $metadata?: unknown }) : {};
  const metadata = typeof sdk.$metadata === 'object' && sdk.$metadata !== null ? sdk.$metadata : {};
  const rawStatus = (metadata as { httpStatusCode?: unknown }).httpStatusCode;
  const status = typeof rawStatus === 'number' ? rawStatus : undefined;
  const clientFault = sdk.$fault === 'client' || (status !== undefined && status >= 400 && status < 500);
  const kind: AwsErrorKind =
    status === 429 || THROTTLED.test(code)
      ? 'throttled'
      : clientFault && sdk.$fault !== 'server' && !TRANSIENT_CLIENT.test(code)
        ? 'permanent'
        : 'retryable';
  return { kind, code, status, message };
}

/** The AwsServiceError of a failed call: "<what> failed (<code>: <message>); <what next>".
 * `permanentHint` says what to change when retrying cannot help. */
export function toAwsServiceError(
  e: unknown,
  service: string,
  what: string,
  permanentHint?: string,
): AwsServiceError {
  if (e instanceof AwsServiceError) return e;
  const failure = classifyAwsError(e);
  // "try again later" holds for every caller: a Lambda's message comes back, a CLI user reruns.
  const next =
    failure.kind === 'permanent'
      ? (permanentHint ?? 'retrying will not help')
      : failure.kind === 'throttled'
        ? 'throttled, try again later'
        : 'try again later';
  return new AwsServiceError(
    `${what} failed (${failure.code}: ${failure.message}); ${next}`,
    service,
    failure.kind !== 'permanent',
    { awsCode: failure.code, cause: e, kind: failure.kind },
  );
}
