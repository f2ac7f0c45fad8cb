// What a promotion attempt means for the commit: the decision (success, failure, retry, give up) and
// the one-line description a user reads on the commit status (<= 140 characters), plus the target URL
// of that status. Pure: no I/O, no clock, no process.env — callers pass durations, attempts and
// environment values in. Must never put anything secret into a description.
import { statusDescription } from './commit-status';
import { describeError, isRetryable } from './errors';
import { type ImageRef, parseImageRef } from './image-ref';

/** One image the attempt promoted (or found already there). */
export interface ImageSuccess {
  /** The destination reference, as in the job. */
  readonly image: string;
  readonly bytesCopied: number;
  readonly alreadyPresent: boolean;
}

/** One image (or, without `image`, the whole job) that failed. */
export interface ImageFailure {
  /** The source reference, as in the job; undefined when the job failed before any image. */
  readonly image?: string;
  readonly error: unknown;
}

export interface PromotionAttempt {
  /** Images in the job. */
  readonly total: number;
  readonly successes: readonly ImageSuccess[];
  /** In job order: the first one is the one a user is shown. */
  readonly failures: readonly ImageFailure[];
  /** 1-based: SQS ApproximateReceiveCount. */
  readonly attempt: number;
  /** The queue's maxReceiveCount: the attempt after this one goes to the dead-letter queue. */
  readonly maxAttempts: number;
  readonly durationMs: number;
}

/**
 * - `success`: every image is at the destination -> status success, message acknowledged.
 * - `failure`: a permanent error (retrying cannot help) -> status failure, message acknowledged.
 * - `retry`: only transient errors and attempts left -> no status, message returned to the queue.
 * - `give-up`: only transient errors on the last attempt -> status error, message returned so SQS
 *   moves it to the dead-letter queue.
 */
export type PromotionDecision =
  | { readonly kind: 'success'; readonly state: 'success'; readonly description: string }
  | { readonly kind: 'failure'; readonly state: 'failure'; readonly description: string }
  | { readonly kind: 'retry'; readonly reason: string }
  | { readonly kind: 'give-up'; readonly state: 'error'; readonly description: string };

export function decidePromotionOutcome(attempt: PromotionAttempt): PromotionDecision {
  if (attempt.failures.length === 0) {
    return {
      kind: 'success',
      state: 'success',
      description: summarizePromotion(attempt.successes, attempt.durationMs),
    };
  }
  const permanent = attempt.failures.find((f) => !isRetryable(f.error));
  if (permanent !== undefined) {
    return { kind: 'failure', state: 'failure', description: describeFailures(attempt, permanent) };
  }
  const first = attempt.failures[0]!;
  if (attempt.attempt >= attempt.maxAttempts) {
    return {
      kind: 'give-up',
      state: 'error',
      description: statusDescription(
        `gave up after ${attempt.attempt} ${plural(attempt.attempt, 'attempt')}: ${describeImageFailure(first)}`,
      ),
    };
  }
  return { kind: 'retry', reason: describeFailures(attempt, first) };
}

/** "3 images promoted, 1.2 GB, 14 s" / "2 images already present" / "1 image promoted, 1 already
 * present, 48 MB, 3 s". */
export function summarizePromotion(successes: readonly ImageSuccess[], durationMs: number): string {
  const copied = successes.filter((s) => !s.alreadyPresent).length;
  const present = successes.length - copied;
  const bytes = successes.reduce((sum, s) => sum + s.bytesCopied, 0);
  const parts: string[] = [];
  if (copied > 0) parts.push(`${copied} ${plural(copied, 'image')} promoted`);
  if (present > 0) {
    parts.push(
      copied > 0 ? `${present} already present` : `${present} ${plural(present, 'image')} already present`,
    );
  }
  if (parts.length === 0) parts.push('nothing to promote');
  if (copied > 0) parts.push(formatBytes(bytes), formatDuration(durationMs));
  return statusDescription(parts.join(', '));
}

/** The description of a failed attempt: the first failure, with how many images failed when several. */
export function describeFailures(attempt: PromotionAttempt, shown: ImageFailure): string {
  const prefix =
    attempt.total > 1 && shown.image !== undefined
      ? `${attempt.failures.length} of ${attempt.total} images failed: `
      : '';
  return statusDescription(`${prefix}${describeImageFailure(shown)}`);
}

/** The error in one line, naming the image (repository:tag, without the long registry host) unless
 * the error message already names its repository; shortened for a 140-character status. */
export function describeImageFailure(failure: ImageFailure): string {
  const message = shortenForStatus(describeError(failure.error));
  if (failure.image === undefined) return message;
  const ref = tryParse(failure.image);
  if (ref === undefined) return `${failure.image}: ${message}`;
  if (message.includes(ref.repository)) return message;
  const short = `${ref.repository}${ref.tag === undefined ? '' : `:${ref.tag}`}`;
  return `${short}: ${message}`;
}

const ECR_HOST_IN_TEXT =
  /\b(\d{12})\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.(?:amazonaws\.com(?:\.cn)?|on\.aws)(\/)?/g;
const DIGEST_IN_TEXT = /\b(sha256:[a-f0-9]{12})[a-f0-9]{52}\b/g;

/** What a commit status has room for: `<account>.dkr.ecr.<region>.amazonaws.com/shop/api:1.0` ->
 * `shop/api:1.0`, a bare ECR host -> `ECR <account>`, digests cut to 12 hex digits. The logs keep
 * the full message. */
export function shortenForStatus(message: string): string {
  return message
    .replace(ECR_HOST_IN_TEXT, (_match, account: string, slash: string | undefined) =>
      slash === undefined ? `ECR ${account}` : '',
    )
    .replace(DIGEST_IN_TEXT, '$1');
}

/** Decimal units as on the AWS console: 999 B, 1.5 kB, 48 MB, 1.2 GB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'] as const;
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  const digits = unit === 0 || value >= 10 ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** 850 ms, 14 s, 2 min 5 s. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  const rest = seconds % 60;
  return rest === 0 ? `${minutes} min` : `${minutes} min ${rest} s`;
}

/** The CloudWatch console URL of a log group (and stream), in the console's own `$25` escaping. */
export function buildLogsUrl(region: string, logGroup: string, logStream?: string): string {
  const escape = (value: string): string => encodeURIComponent(value).replace(/%/g, '$25');
  const stream = logStream === undefined || logStream === '' ? '' : `/log-events/${escape(logStream)}`;
  return (
    `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}` +
    `#logsV2:log-groups/log-group/${escape(logGroup)}${stream}`
  );
}

/** The target URL of a status: the dashboard when configured, else the function's logs, else none. */
export function selectTargetUrl(options: {
  readonly dashboardUrl?: string;
  readonly region?: string;
  readonly logGroup?: string;
  readonly logStream?: string;
}): string | undefined {
  if (options.dashboardUrl !== undefined) return options.dashboardUrl;
  if (options.region && options.logGroup) {
    return buildLogsUrl(options.region, options.logGroup, options.logStream);
  }
  return undefined;
}

/** `image-promoter-<first 12 of sha>`: the STS session name, so CloudTrail names the commit. */
export function sessionNameForCommit(commit: string): string {
  return `image-promoter-${commit.slice(0, 12)}`;
}

function plural(count: number, word: string): string {
  return count === 1 ? word : `${word}s`;
}

function tryParse(reference: string): ImageRef | undefined {
  try {
    return parseImageRef(reference);
  } catch {
    return undefined;
  }
}
