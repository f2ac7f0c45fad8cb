// The promotion job: the versioned message the webhook puts on SQS and the worker takes off it.
// One job per (commit, environment). Validated on both sides; the worker never trusts a body it has
// not parsed through `parsePromotionJob`. Pure.
import * as z from 'zod';
import { JobValidationError } from './errors';
import { parseImageRef } from './image-ref';

export const JOB_VERSION = 1;

const imageRefString = z.string().refine((value) => {
  try {
    parseImageRef(value);
    return true;
  } catch {
    return false;
  }
}, 'must be a valid image reference');

const promotionSchema = z
  .object({
    source: imageRefString,
    destination: imageRefString,
  })
  .strict();

const jobSchema = z
  .object({
    version: z.literal(JOB_VERSION),
    deliveryId: z.string().min(1).max(128),
    repository: z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'must be owner/name'),
    ref: z.string().min(1).max(256),
    commit: z.string().regex(/^[0-9a-f]{40}$/, 'must be a 40-character commit SHA'),
    environment: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/),
    pusher: z.string().max(256),
    pushedAt: z.iso.datetime({ offset: true }),
    promotions: z.array(promotionSchema).min(1).max(500),
  })
  .strict();

export type PromotionJob = Readonly<z.output<typeof jobSchema>> & {
  readonly promotions: readonly Readonly<z.output<typeof promotionSchema>>[];
};
export type Promotion = PromotionJob['promotions'][number];

/** Validates an SQS message body into a job; JobValidationError (permanent) with the first reason. */
export function parsePromotionJob(body: string): PromotionJob {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (e: unknown) {
    throw new JobValidationError('body is not JSON', { cause: e });
  }
  return validatePromotionJob(value);
}

export function validatePromotionJob(value: unknown): PromotionJob {
  const result = jobSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    throw new JobValidationError(`${where}${issue.message}`);
  }
  return result.data;
}

/** The message body for a job (validated first, so a bad job never leaves the webhook). */
export function serializePromotionJob(job: PromotionJob): string {
  return JSON.stringify(validatePromotionJob(job));
}
