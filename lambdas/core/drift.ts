// Drift: whether each destination registry holds what its environment's overlay deploys. For every
// managed image of an overlay (destination registry, allowlisted, pinned: exactly what a push of the
// whole overlay would plan) the source and destination registries are asked for the digest behind
// the reference, and the pair is classified: in place, missing, digest differs, missing at the
// source. Used by `verify`, `plan --check-registries` and the scheduled reconcile. Reads registries
// only through the ManifestLookup port (adapters implement it with a manifest HEAD); never writes,
// never builds reference strings by hand.
import type { EnvironmentConfig } from './config';
import { formatImageRef, withDigest, type ImageRef } from './image-ref';
import { JOB_VERSION, validatePromotionJob, type PromotionJob } from './job';
import { MAX_PROMOTIONS_PER_JOB } from './jobs-from-plan';
import { createLimiter } from './limiter';
import type { OverlayImages } from './overlay/resolve-overlay-images';
import { planEnvironment, type PlannedPromotion, type SkippedImage } from './plan';

export const DRIFT_STATES = {
  /** The destination holds the reference with the source's digest (or the pinned digest). */
  inPlace: 'in-place',
  /** The destination lacks it; the source has it: a copy fixes it. */
  missing: 'missing',
  /** The destination tag points at another digest than the source's: a copy would be refused. */
  digestDiffers: 'digest-differs',
  /** Neither registry has it: nothing to copy from. */
  missingAtSource: 'missing-at-source',
} as const;

export type DriftState = (typeof DRIFT_STATES)[keyof typeof DRIFT_STATES];

/** The digest each side serves for the reference (undefined: not there). */
export interface ImageObservation {
  readonly source: string | undefined;
  readonly destination: string | undefined;
}

export interface ImageDrift {
  readonly source: ImageRef;
  readonly destination: ImageRef;
  readonly state: DriftState;
  /** What the destination should hold: the pinned digest, else the source's. */
  readonly expectedDigest: string | undefined;
  readonly destinationDigest: string | undefined;
}

export interface EnvironmentDrift {
  readonly environment: string;
  readonly overlay: string;
  readonly revision: string;
  /** Sorted by destination reference. */
  readonly images: readonly ImageDrift[];
  /** Images of the overlay this environment does not manage (external registry, not allowlisted...). */
  readonly skipped: readonly SkippedImage[];
  readonly warnings: readonly string[];
}

/** Answers "which digest does this registry serve for this reference" (a manifest HEAD). */
export interface ManifestLookup {
  /** The digest behind `reference` (a tag or a digest) in `repository`, or undefined when absent. */
  digestOf(repository: string, reference: string): Promise<string | undefined>;
}

/** Registry lookups in flight at once per environment: a HEAD is cheap, but ECR throttles bursts. */
export const DRIFT_LOOKUP_CONCURRENCY = 8;

/** The images the environment manages at this revision, each as the copy it would take. Pure. */
export function managedImages(
  env: EnvironmentConfig,
  images: OverlayImages,
): {
  readonly promotions: readonly PlannedPromotion[];
  readonly skipped: readonly SkippedImage[];
  readonly warnings: readonly string[];
} {
  // A plan from "nothing deployed" to the overlay is exactly every managed image.
  const plan = planEnvironment(env, undefined, images);
  return { promotions: plan.promotions, skipped: plan.skipped, warnings: plan.warnings };
}

/** Pure: the state of one image from what both registries serve. A pinned digest is what counts;
 * for a tag, the source's digest is. A destination that holds a tag the source lost is in place:
 * it serves what the overlay names, and there is nothing to compare it with. */
export function classifyDrift(reference: ImageRef, observed: ImageObservation): DriftState {
  const expected = reference.digest ?? observed.source;
  if (observed.destination === undefined) {
    return observed.source === undefined ? DRIFT_STATES.missingAtSource : DRIFT_STATES.missing;
  }
  if (expected === undefined || observed.destination === expected) return DRIFT_STATES.inPlace;
  return DRIFT_STATES.digestDiffers;
}

/** What to ask each side for: the source by its pinned digest (what will be copied), the
 * destination by its tag when there is one (what a pull of the overlay's reference gets). */
export function lookupReferences(promotion: PlannedPromotion): {
  readonly source: string;
  readonly destination: string;
} {
  const { source, destination } = promotion;
  return {
    source: source.digest ?? source.tag ?? 'latest',
    destination: destination.tag ?? destination.digest ?? 'latest',
  };
}

/** Observes and classifies every promotion through the two lookups, a few at a time. */
export async function observeDrift(
  promotions: readonly PlannedPromotion[],
  source: ManifestLookup,
  destination: ManifestLookup,
  concurrency: number = DRIFT_LOOKUP_CONCURRENCY,
): Promise<readonly ImageDrift[]> {
  const limit = createLimiter(concurrency);
  return Promise.all(
    promotions.map(async (promotion): Promise<ImageDrift> => {
      const refs = lookupReferences(promotion);
      const [sourceDigest, destinationDigest] = await Promise.all([
        limit(() => source.digestOf(promotion.source.repository, refs.source)),
        limit(() => destination.digestOf(promotion.destination.repository, refs.destination)),
      ]);
      const observed = { source: sourceDigest, destination: destinationDigest };
      return {
        source: promotion.source,
        destination: promotion.destination,
        state: classifyDrift(promotion.destination, observed),
        expectedDigest: promotion.destination.digest ?? sourceDigest,
        destinationDigest,
      };
    }),
  );
}

/** Resolves the environment's managed images and observes each. */
export async function checkEnvironmentDrift(
  env: EnvironmentConfig,
  revision: string,
  images: OverlayImages,
  source: ManifestLookup,
  destination: ManifestLookup,
): Promise<EnvironmentDrift> {
  const managed = managedImages(env, images);
  return {
    environment: env.name,
    overlay: env.overlay,
    revision,
    images: await observeDrift(managed.promotions, source, destination),
    skipped: managed.skipped,
    warnings: managed.warnings,
  };
}

/** Every image not in place (what makes `verify` exit 1). */
export function driftedImages(drift: EnvironmentDrift): readonly ImageDrift[] {
  return drift.images.filter((image) => image.state !== DRIFT_STATES.inPlace);
}

/** Counts per state, every state present (for tables and metrics). */
export function countDrift(images: readonly ImageDrift[]): Readonly<Record<DriftState, number>> {
  const counts: Record<DriftState, number> = {
    'in-place': 0,
    missing: 0,
    'digest-differs': 0,
    'missing-at-source': 0,
  };
  for (const image of images) counts[image.state]++;
  return counts;
}

/** One line naming what is wrong and what to do, for tables and logs. */
export function describeDrift(image: ImageDrift): string {
  switch (image.state) {
    case DRIFT_STATES.inPlace:
      return image.destinationDigest ?? '';
    case DRIFT_STATES.missing:
      return `not in the destination; ${formatImageRef(image.source)} has ${image.expectedDigest ?? '?'}`;
    case DRIFT_STATES.digestDiffers:
      return `destination has ${image.destinationDigest ?? '?'}, source ${image.expectedDigest ?? '?'}`;
    case DRIFT_STATES.missingAtSource:
      return `neither registry has it; push ${formatImageRef(image.source)} first`;
  }
}

/** How a plan names each state of an image it would promote (`plan --check-registries`). */
export const PLAN_CHECK_ACTIONS: Readonly<Record<DriftState, string>> = {
  'in-place': 'already present',
  missing: 'would copy',
  'digest-differs': 'conflict',
  'missing-at-source': 'missing at source',
};

/** The plan's detail for a checked promotion: what the registries said, one line. */
export function describePlanCheck(image: ImageDrift): string {
  switch (image.state) {
    case DRIFT_STATES.inPlace:
      return `destination has ${image.destinationDigest ?? '?'}`;
    case DRIFT_STATES.missing:
      return `from ${formatImageRef(image.source)} (${image.expectedDigest ?? '?'})`;
    case DRIFT_STATES.digestDiffers:
      return (
        `destination tag points at another digest (${image.destinationDigest ?? '?'}, source ` +
        `${image.expectedDigest ?? '?'}): the copy will be refused unless copy.overwrite`
      );
    case DRIFT_STATES.missingAtSource:
      return `${formatImageRef(image.source)} does not exist: the promotion will fail`;
  }
}

/** Who asked for a reconcile and at which commit: the job fields a push would have filled. */
export interface ReconcileIdentity {
  /** Unique per run and environment chunk is appended: `reconcile-...`. */
  readonly runId: string;
  readonly repository: string;
  readonly ref: string;
  readonly commit: string;
  /** Who the audit lines name: `scheduled reconcile`, `verify --fix by alice`. */
  readonly requestedBy: string;
  /** ISO time of the run. */
  readonly requestedAt: string;
}

/** The prefix of every reconcile job's deliveryId: how logs, statuses and history tell a reconcile
 * from a push. */
export const RECONCILE_DELIVERY_PREFIX = 'reconcile-';

/** Pure: the promotion jobs that copy what is missing (only `missing`: a conflicting tag is never
 * moved by a reconcile, and what the source lacks cannot be copied), at most MAX_PROMOTIONS_PER_JOB
 * per job. */
export function reconcileJobs(drift: EnvironmentDrift, identity: ReconcileIdentity): readonly PromotionJob[] {
  const missing = drift.images.filter((image) => image.state === DRIFT_STATES.missing);
  const jobs: PromotionJob[] = [];
  for (let start = 0; start < missing.length; start += MAX_PROMOTIONS_PER_JOB) {
    const part = missing.slice(start, start + MAX_PROMOTIONS_PER_JOB);
    jobs.push(
      validatePromotionJob({
        version: JOB_VERSION,
        deliveryId: `${RECONCILE_DELIVERY_PREFIX}${identity.runId}-${drift.environment}-${start / MAX_PROMOTIONS_PER_JOB}`,
        repository: identity.repository,
        ref: identity.ref,
        commit: identity.commit,
        environment: drift.environment,
        pusher: identity.requestedBy,
        pushedAt: identity.requestedAt,
        promotions: part.map((image) => ({
          // Pinned to the digest observed at the source: the job copies exactly what was checked.
          source: formatImageRef(
            image.expectedDigest === undefined
              ? image.source
              : withDigest(image.source, image.expectedDigest),
          ),
          destination: formatImageRef(image.destination),
        })),
      }),
    );
  }
  return jobs;
}
