// What a verified GitHub webhook delivery asks of us: reply to a ping, ignore (with the reason) what
// is not a push to a configured branch of the configured repository, plan the push between
// `before` and `after`, or plan a pull request into a configured branch (pull-request-event.ts). Pure: callers verify the signature first and pass the clock's time in; this
// module never sees a secret and never decides anything from unverified bytes.
import { en } from 'zod/locales';
import * as z from 'zod/mini';
import { isBranchConfigured, type Config } from './config';
import { oneLine } from './errors';
import { NULL_SHA } from './file-source';
import { classifyPullRequest, type PullRequestToPlan } from './pull-request-event';
import type { PushToPlan } from './push-to-plan';

/** GitHub caps webhook payloads at 25 MB and drops larger ones; anything bigger is not GitHub. */
export const MAX_WEBHOOK_PAYLOAD_BYTES = 25 * 1024 * 1024;

const SHA = /^[0-9a-f]{40}$/;

export type { PushToPlan } from './push-to-plan';

export type DeliveryDecision =
  | { readonly kind: 'ping' }
  | { readonly kind: 'ignore'; readonly reason: string }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'plan'; readonly push: PushToPlan }
  | { readonly kind: 'plan-pull-request'; readonly pullRequest: PullRequestToPlan };

// zod/mini sets no locale: reasons zod phrases itself are in its English, as before.
const englishMessages = en().localeError;

const pushSchema = z.object({
  ref: z.string().check(z.minLength(1), z.maxLength(1024)),
  before: z.string().check(z.regex(SHA, 'must be a 40-character commit SHA')),
  after: z.string().check(z.regex(SHA, 'must be a 40-character commit SHA')),
  deleted: z.optional(z.boolean()),
  repository: z.object({
    full_name: z.string().check(z.minLength(1)),
    // Push payloads carry epoch seconds here; other events an ISO string.
    pushed_at: z.optional(z.union([z.number(), z.string(), z.null()])),
  }),
  pusher: z.optional(z.object({ name: z.optional(z.string().check(z.maxLength(256))) })),
  sender: z.optional(z.object({ login: z.optional(z.string().check(z.maxLength(256))) })),
  head_commit: z.optional(z.nullable(z.object({ timestamp: z.optional(z.string()) }))),
});

/** Decides what to do with a delivery whose signature was verified. `payload` is the parsed body. */
export function classifyDelivery(
  event: string,
  payload: unknown,
  config: Config,
  now: Date,
): DeliveryDecision {
  if (event === 'ping') return { kind: 'ping' };
  if (event === 'pull_request') return classifyPullRequest(payload, config, now);
  if (event !== 'push') {
    return { kind: 'ignore', reason: `event "${event}" is not handled (only push and pull_request)` };
  }
  const parsed = pushSchema.safeParse(payload, { error: englishMessages });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return { kind: 'invalid', reason: oneLine(`not a push payload: ${where}${issue.message}`) };
  }
  const push = parsed.data;
  const repository = push.repository.full_name;
  if (repository.toLowerCase() !== config.github.repository.toLowerCase()) {
    return { kind: 'ignore', reason: `push to ${repository}, not ${config.github.repository}` };
  }
  if (push.ref.startsWith('refs/tags/')) return { kind: 'ignore', reason: `tag push (${push.ref})` };
  if (!push.ref.startsWith('refs/heads/')) return { kind: 'ignore', reason: `not a branch (${push.ref})` };
  const branch = push.ref.slice('refs/heads/'.length);
  if (push.deleted === true || push.after === NULL_SHA) {
    return { kind: 'ignore', reason: `branch ${branch} was deleted` };
  }
  if (!isBranchConfigured(config, branch)) {
    return {
      kind: 'ignore',
      reason: `branch ${branch} is not configured (github.branches: ${config.github.branches.join(', ')})`,
    };
  }
  return {
    kind: 'plan',
    push: {
      repository: config.github.repository,
      ref: push.ref,
      branch,
      before: push.before,
      after: push.after,
      pusher: push.pusher?.name ?? push.sender?.login ?? 'unknown',
      pushedAt: pushedAt(push.repository.pushed_at, push.head_commit?.timestamp, now),
    },
  };
}

function pushedAt(repositoryPushedAt: unknown, headTimestamp: string | undefined, now: Date): string {
  if (typeof repositoryPushedAt === 'number' && Number.isFinite(repositoryPushedAt)) {
    return new Date(repositoryPushedAt * 1000).toISOString();
  }
  if (headTimestamp !== undefined && !Number.isNaN(Date.parse(headTimestamp))) {
    return new Date(Date.parse(headTimestamp)).toISOString();
  }
  return now.toISOString();
}

/** The JSON text of a delivery body: GitHub sends `application/json`, or a form with `payload=`
 * when the webhook's content type is `application/x-www-form-urlencoded`. */
export function extractPayloadText(body: string, contentType: string | undefined): string {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') return new URLSearchParams(body).get('payload') ?? '';
  return body;
}
