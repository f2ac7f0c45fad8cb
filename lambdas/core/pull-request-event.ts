// What a verified `pull_request` delivery asks of us: plan the pull request's change (merge base ->
// head) and report `image-promotion/<env>` on its head commit, so branch protection can require the
// check before the merge and the merge finds every image already in place; or ignore it, saying why.
// Pure: the caller verified the signature; this module decides from the payload and the config only.
// It never decides the merge base itself (the payload does not carry it; the webhook asks GitHub).
import { en } from 'zod/locales';
import * as z from 'zod/mini';
import { isBranchConfigured, type Config, type PullRequestMode } from './config';
import { oneLine } from './errors';
import type { PushToPlan } from './push-to-plan';

/** Actions that change what a pull request would merge. `edited` only when its base branch changed. */
const PLANNED_ACTIONS: ReadonlySet<string> = new Set(['opened', 'synchronize', 'reopened', 'edited']);

const SHA = /^[0-9a-f]{40}$/;

export interface PullRequestToPlan {
  /** `owner/name` as configured. */
  readonly repository: string;
  readonly number: number;
  readonly action: string;
  /** The branch the pull request merges into (one of `github.branches`). */
  readonly baseBranch: string;
  /** The base branch's tip when the event happened (not the merge base). */
  readonly baseSha: string;
  /** The pull request's head commit: statuses and check runs go here. */
  readonly headSha: string;
  readonly headBranch: string;
  /** `promote` copies ahead of the merge; `plan` only reports what the merge would promote. */
  readonly mode: Exclude<PullRequestMode, 'off'>;
  /** Why the mode is `plan` although the config says `promote` (a fork's pull request), if so. */
  readonly planOnlyReason?: string;
  /** Opened from a fork: its author may not write here, so nothing of the destination registries
   * is looked up for it either (its statuses are public; core/destination-check.ts). */
  readonly fromFork?: boolean;
  readonly author: string;
  /** ISO 8601: when the pull request was last updated. */
  readonly updatedAt: string;
}

export type PullRequestDecision =
  | { readonly kind: 'ignore'; readonly reason: string }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'plan-pull-request'; readonly pullRequest: PullRequestToPlan };

const englishMessages = en().localeError;

const sha = z.string().check(z.regex(SHA, 'must be a 40-character commit SHA'));
const branchRef = z.string().check(z.minLength(1), z.maxLength(255));
const login = z.string().check(z.maxLength(256));

// Fields as GitHub's `pull_request` webhook payload documents them (a fork that was deleted leaves
// `head.repo` null).
const pullRequestSchema = z.object({
  action: z.string().check(z.minLength(1), z.maxLength(64)),
  number: z.number().check(z.int(), z.gte(1)),
  pull_request: z.object({
    merged: z.optional(z.nullable(z.boolean())),
    updated_at: z.optional(z.nullable(z.string())),
    user: z.optional(z.nullable(z.object({ login: z.optional(login) }))),
    head: z.object({
      sha,
      ref: branchRef,
      repo: z.nullable(z.object({ full_name: z.string().check(z.minLength(1)) })),
    }),
    base: z.object({
      sha,
      ref: branchRef,
      repo: z.object({ full_name: z.string().check(z.minLength(1)) }),
    }),
  }),
  repository: z.object({ full_name: z.string().check(z.minLength(1)) }),
  sender: z.optional(z.object({ login: z.optional(login) })),
  changes: z.optional(z.object({ base: z.optional(z.unknown()) })),
});

/** Decides what to do with a verified `pull_request` delivery. `now` stands in for a missing date. */
export function classifyPullRequest(payload: unknown, config: Config, now: Date): PullRequestDecision {
  const parsed = pullRequestSchema.safeParse(payload, { error: englishMessages });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return { kind: 'invalid', reason: oneLine(`not a pull_request payload: ${where}${issue.message}`) };
  }
  const event = parsed.data;
  const pr = event.pull_request;
  const repository = event.repository.full_name;
  const number = event.number;
  if (repository.toLowerCase() !== config.github.repository.toLowerCase()) {
    return { kind: 'ignore', reason: `pull request in ${repository}, not ${config.github.repository}` };
  }
  if (config.github.pullRequests === 'off') {
    return { kind: 'ignore', reason: `pull request #${number}: github.pullRequests is off` };
  }
  const baseBranch = pr.base.ref;
  if (!isBranchConfigured(config, baseBranch)) {
    return {
      kind: 'ignore',
      reason: `pull request #${number} into ${baseBranch}, which is not configured (github.branches: ${config.github.branches.join(', ')})`,
    };
  }
  if (event.action === 'closed') {
    return {
      kind: 'ignore',
      reason:
        pr.merged === true
          ? `pull request #${number} merged: the push to ${baseBranch} plans it (its images are already present)`
          : `pull request #${number} closed without merging: images promoted for it stay until \`image-promoter prune\` removes them`,
    };
  }
  if (
    !PLANNED_ACTIONS.has(event.action) ||
    (event.action === 'edited' && event.changes?.base === undefined)
  ) {
    return { kind: 'ignore', reason: `pull request action "${event.action}" changes no commits` };
  }
  // A fork's author may not write to this repository: its pull request must not copy into the
  // environments' registries before anyone with write access merges it.
  const fromFork = pr.head.repo === null || pr.head.repo.full_name.toLowerCase() !== repository.toLowerCase();
  const forkReason = fromFork
    ? 'pull request from a fork: planned only, promoted by the push after the merge'
    : undefined;
  const updated = pr.updated_at ?? undefined;
  return {
    kind: 'plan-pull-request',
    pullRequest: {
      repository: config.github.repository,
      number,
      action: event.action,
      baseBranch,
      baseSha: pr.base.sha,
      headSha: pr.head.sha,
      headBranch: pr.head.ref,
      mode: forkReason === undefined ? config.github.pullRequests : 'plan',
      ...(forkReason === undefined || config.github.pullRequests === 'plan'
        ? {}
        : { planOnlyReason: forkReason }),
      ...(fromFork ? { fromFork: true } : {}),
      author: pr.user?.login ?? event.sender?.login ?? 'unknown',
      updatedAt:
        updated !== undefined && !Number.isNaN(Date.parse(updated))
          ? new Date(Date.parse(updated)).toISOString()
          : now.toISOString(),
    },
  };
}

/** The pull request as the planner and the jobs see a push: `mergeBase` -> head, under the ref its
 * head is reachable as in the base repository (`refs/pull/<n>/head`, forks included). */
export function pullRequestAsPush(pullRequest: PullRequestToPlan, mergeBase: string): PushToPlan {
  return {
    repository: pullRequest.repository,
    ref: `refs/pull/${pullRequest.number}/head`,
    branch: pullRequest.headBranch,
    before: mergeBase,
    after: pullRequest.headSha,
    pusher: pullRequest.author,
    pushedAt: pullRequest.updatedAt,
  };
}
