// The promotion job: the versioned message the webhook puts on SQS and the worker takes off it.
// One job per (commit, environment). Validated on both sides; the worker never trusts a body it has
// not parsed through `parsePromotionJob`. Pure.
import { en } from 'zod/locales';
import * as z from 'zod/mini';
import { JobValidationError } from './errors';
import { parseImageRef } from './image-ref';

export const JOB_VERSION = 1;

// zod/mini sets no locale: reasons zod phrases itself are in its English, as before.
const englishMessages = en().localeError;

const imageRefString = z.string().check(
  z.refine((value) => {
    try {
      parseImageRef(value);
      return true;
    } catch {
      return false;
    }
  }, 'must be a valid image reference'),
);

const promotionSchema = z.strictObject({
  source: imageRefString,
  destination: imageRefString,
});

const jobSchema = z.strictObject({
  version: z.literal(JOB_VERSION),
  deliveryId: z.string().check(z.minLength(1), z.maxLength(128)),
  repository: z.string().check(z.regex(/^[\w.-]+\/[\w.-]+$/, 'must be owner/name')),
  ref: z.string().check(z.minLength(1), z.maxLength(256)),
  commit: z.string().check(z.regex(/^[0-9a-f]{40}$/, 'must be a 40-character commit SHA')),
  environment: z.string().check(z.regex(/^[a-z0-9][a-z0-9-]{0,31}$/)),
  pusher: z.string().check(z.maxLength(256)),
  pushedAt: z.iso.datetime({ offset: true }),
  promotions: z.array(promotionSchema).check(z.minLength(1), z.maxLength(500)),
});

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
  const result = jobSchema.safeParse(value, { error: englishMessages });
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
