// Commit statuses: the one place a user sees what image-promoter did with their push. Context
// `image-promotion/<environment>`; descriptions are one line of at most 140 characters (GitHub's
// limit). Pure: the GitHub adapter implements CommitStatusReporter.
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
}

export interface CommitStatusReporter {
  report(status: CommitStatus): Promise<void>;
}

export function statusContext(environment: string): string {
  return `image-promotion/${environment}`;
}

/** One line, at most 140 characters, cut with an ellipsis when longer. */
export function statusDescription(text: string): string {
  const line = oneLine(text);
  return line.length <= MAX_STATUS_DESCRIPTION ? line : `${line.slice(0, MAX_STATUS_DESCRIPTION - 1)}…`;
}
