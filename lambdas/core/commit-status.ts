// Commit statuses: the one place a user sees what image-promoter did with their push. Context
// `image-promotion/<environment>`; descriptions are one line of at most 140 characters (GitHub's
// limit). Pure: the GitHub adapter implements CommitStatusReporter (a commit status with a token, a
// check run with a GitHub App: the same name either way, so branch protection requires either).
import { oneLine } from './errors';

export const STATUS_STATES = ['pending', 'success', 'failure', 'error'] as const;
export type CommitState = (typeof STATUS_STATES)[number];

export const MAX_STATUS_DESCRIPTION = 140;

export interface CommitStatus {
  /** `owner/name`. */
  readonly repository: string;
  readonly commit: string;
  readonly environment: string;
  readonly state: CommitState;
  readonly description: string;
  readonly targetUrl?: string;
  /** The job this status is about (its deliveryId): a check run carries it as `external_id`, so the
   * worker finds the run the webhook queued for exactly this job. Absent: no job (nothing to copy,
   * planning failed). */
  readonly jobId?: string;
  /** What happened to each image of the job (final states from the worker): a check run shows them
   * as a table; a commit status has room for the one-line description only. */
  readonly images?: readonly ImageReport[];
}

/** `to copy`: the webhook's pending status, before the worker began. */
export const IMAGE_RESULTS = ['promoted', 'already present', 'to copy', 'failed'] as const;
export type ImageResult = (typeof IMAGE_RESULTS)[number];

/** One image of a job, as the worker saw it. */
export interface ImageReport {
  /** Source and destination references, as in the job. */
  readonly source: string;
  readonly destination: string;
  /** The digest now at the destination (absent when the copy failed before knowing it). */
  readonly digest?: string;
  /** Blob bytes moved by this attempt (0 when everything was already there). */
  readonly bytes?: number;
  readonly result: ImageResult;
  /** One line, for a failed image. */
  readonly reason?: string;
}

/** The worker began a job: what a check run shows while it is `in_progress`. */
export interface JobStart {
  readonly repository: string;
  readonly commit: string;
  readonly environment: string;
  readonly jobId: string;
  readonly description: string;
  readonly targetUrl?: string;
}

export interface CommitStatusReporter {
  report(status: CommitStatus): Promise<void>;
  /** The worker began the job. Check runs move to `in_progress`; commit statuses have no such state
   * (the webhook's `pending` already says it), so a status reporter leaves this out. */
  start?(job: JobStart): Promise<void>;
}

export function statusContext(environment: string): string {
  return `image-promotion/${environment}`;
}

/** One line, at most 140 characters, cut with an ellipsis when longer. */
export function statusDescription(text: string): string {
  const line = oneLine(text);
  return line.length <= MAX_STATUS_DESCRIPTION ? line : `${line.slice(0, MAX_STATUS_DESCRIPTION - 1)}…`;
}
