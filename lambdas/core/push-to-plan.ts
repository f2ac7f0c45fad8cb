// A push the webhook plans: what core/push-event.ts and core/pull-request-event.ts both speak of,
// in a module of its own so neither imports the other for it.

export interface PushToPlan {
  /** `owner/name` as configured. */
  readonly repository: string;
  /** Full ref, e.g. `refs/heads/main`. */
  readonly ref: string;
  readonly branch: string;
  /** NULL_SHA when the push created the branch. */
  readonly before: string;
  readonly after: string;
  readonly pusher: string;
  /** ISO 8601 with offset. */
  readonly pushedAt: string;
}
