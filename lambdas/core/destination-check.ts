// The webhook's look at the destination registry before it enqueues: for each planned promotion,
// what the destination serves for the reference (one manifest HEAD, through the ManifestLookup
// port of drift.ts) against what the overlay pins. The webhook never asks a source registry (it
// has no role there), so it can decide only what the destination alone tells:
// - the overlay pins a digest (`repo:tag@sha256:…`, kustomize `digest:`), or names the destination
//   by digest: the destination holding it is `already present`; its tag holding another digest is a
//   `conflict` (the worker would refuse it with TagConflictError, unless copy.overwrite);
// - the destination lacks the reference: `would copy`;
// - a tag without a digest that the destination has: `unchecked` — only the source's digest could
//   tell "already present" from "conflict", and the worker compares them before any copy;
// - a lookup that failed, was cut by the deadline or fell past the budget: `unchecked`.
// Pure apart from the port: no clock, no registry client, no process.env.
import { formatImageRef, withDigest } from './image-ref';
import { createLimiter } from './limiter';
import { DRIFT_LOOKUP_CONCURRENCY, lookupReferences, type ManifestLookup } from './drift';
import type { PlannedPromotion } from './plan';

export const DESTINATION_VERDICTS = {
  alreadyPresent: 'already present',
  wouldCopy: 'would copy',
  conflict: 'conflict',
  unchecked: 'unchecked',
} as const;

export type DestinationVerdict = (typeof DESTINATION_VERDICTS)[keyof typeof DESTINATION_VERDICTS];

export interface DestinationCheck {
  readonly promotion: PlannedPromotion;
  readonly verdict: DestinationVerdict;
  /** What the destination serves for the reference (undefined: absent, or not asked). */
  readonly destinationDigest?: string;
  /** Why it is unchecked: the lookup's error, the deadline, the budget, or the source's digest
   * being needed. */
  readonly reason?: string;
}

/** Pure: the verdict for one promotion from the digest the destination serves for its reference
 * (lookupReferences: the tag when there is one, else the digest). `overwrite` (copy.overwrite): the
 * worker moves a tag that points elsewhere, so a differing tag is a copy, not a conflict. */
export function classifyDestination(
  promotion: PlannedPromotion,
  observed: string | undefined,
  overwrite: boolean,
): DestinationCheck {
  const pinned = promotion.destination.digest;
  if (observed === undefined) return { promotion, verdict: DESTINATION_VERDICTS.wouldCopy };
  const seen = { promotion, destinationDigest: observed };
  if (pinned === undefined) {
    return {
      ...seen,
      verdict: DESTINATION_VERDICTS.unchecked,
      reason: 'the destination has the tag; only the source can say whether it is the same image',
    };
  }
  if (observed === pinned) return { ...seen, verdict: DESTINATION_VERDICTS.alreadyPresent };
  return { ...seen, verdict: overwrite ? DESTINATION_VERDICTS.wouldCopy : DESTINATION_VERDICTS.conflict };
}

/** How many lookups a delivery may still make (webhook.maxRegistryChecks), shared by all its
 * environments. */
export interface CheckBudget {
  /** True when one more lookup is allowed (and counts it). */
  take(): boolean;
  readonly used: number;
}

export function createCheckBudget(max: number): CheckBudget {
  let used = 0;
  return {
    take: () => (used < max ? (used++, true) : false),
    get used() {
      return used;
    },
  };
}

export interface CheckDestinationsOptions {
  readonly overwrite: boolean;
  readonly budget: CheckBudget;
  readonly concurrency?: number;
  /** Describes a failed lookup in one line (the error tree's describeError). */
  readonly describe: (error: unknown) => string;
}

/** One lookup per promotion, a few at a time, each within the budget. Never throws: a lookup that
 * fails (or is aborted by the delivery's deadline) makes its promotion `unchecked`. */
export async function checkDestinations(
  promotions: readonly PlannedPromotion[],
  destination: ManifestLookup,
  options: CheckDestinationsOptions,
): Promise<readonly DestinationCheck[]> {
  const limit = createLimiter(options.concurrency ?? DRIFT_LOOKUP_CONCURRENCY);
  return Promise.all(
    promotions.map((promotion) =>
      limit(async (): Promise<DestinationCheck> => {
        if (!options.budget.take()) {
          return {
            promotion,
            verdict: DESTINATION_VERDICTS.unchecked,
            reason: 'over the budget of registry checks per delivery (webhook.maxRegistryChecks)',
          };
        }
        try {
          const reference = lookupReferences(promotion).destination;
          const observed = await destination.digestOf(promotion.destination.repository, reference);
          return classifyDestination(promotion, observed, options.overwrite);
        } catch (e: unknown) {
          return { promotion, verdict: DESTINATION_VERDICTS.unchecked, reason: options.describe(e) };
        }
      }),
    ),
  );
}

/** Counts per verdict, every verdict present. */
export function countVerdicts(
  checks: readonly DestinationCheck[],
): Readonly<Record<DestinationVerdict, number>> {
  const counts: Record<DestinationVerdict, number> = {
    'already present': 0,
    'would copy': 0,
    conflict: 0,
    unchecked: 0,
  };
  for (const check of checks) counts[check.verdict]++;
  return counts;
}

/** `2 to copy, 1 already present`: what the job will do (unchecked images go to the worker too,
 * which compares them with the source before copying). */
export function describeCheckCounts(checks: readonly DestinationCheck[]): string {
  const counts = countVerdicts(checks);
  const toCopy = counts['would copy'] + counts.unchecked;
  const parts: string[] = [];
  if (toCopy > 0) parts.push(`${toCopy} to copy`);
  if (counts['already present'] > 0) parts.push(`${counts['already present']} already present`);
  return parts.join(', ');
}

/** The conflict in one line, both digests named (the status of its environment). */
export function describeConflict(check: DestinationCheck): string {
  const destination = check.promotion.destination;
  return (
    `tag conflict: ${formatImageRef(withDigest(destination, undefined))} already points at ` +
    `${check.destinationDigest ?? '?'}, not ${destination.digest ?? '?'}; promote a new tag or set ` +
    'copy.overwrite'
  );
}
