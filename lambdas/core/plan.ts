// Promotion planning: given an environment's overlay images before and after a push, which images to
// copy from the source registry to the destination registry, and why every other image is left alone.
// Pure in planEnvironment (no I/O); planPush reads both revisions only through a FileSource. Never
// builds or splits reference strings: every reference goes through parseImageRef / withRegistry.
import { isRepositoryAllowed, type Config, type EnvironmentConfig } from './config';
import { InvalidReferenceError, OverlayError, PlanningLimitError, PromoterError } from './errors';
import { NULL_SHA, type FileSource } from './file-source';
import { formatImageRef, parseImageRef, withRegistry, type ImageRef } from './image-ref';
import { answersMatch, recordAnswers } from './plan-replay';
import {
  resolveOverlayImages,
  type OverlayImages,
  type ResolveOptions,
} from './overlay/resolve-overlay-images';

export interface PlannedPromotion {
  readonly source: ImageRef;
  readonly destination: ImageRef;
}

export interface SkippedImage {
  /** The reference as the overlay writes it. */
  readonly image: string;
  readonly reason: string;
}

export interface EnvironmentPlan {
  readonly environment: string;
  readonly overlay: string;
  /** Sorted by destination reference. */
  readonly promotions: readonly PlannedPromotion[];
  /** Managed images (destination registry, allowlisted) already deployed before the push; sorted. */
  readonly unchanged: readonly string[];
  /** External registry, not allowlisted, unpinned, invalid... with reasons; sorted by image. */
  readonly skipped: readonly SkippedImage[];
  /** From the resolver at `after` (remote resources, generators...) and the planner itself. */
  readonly warnings: readonly string[];
}

export type EnvironmentPlanResult =
  | { readonly kind: 'planned'; readonly plan: EnvironmentPlan }
  | {
      readonly kind: 'failed';
      readonly environment: string;
      readonly overlay: string;
      readonly error: PromoterError;
    };

/** Pure: what to promote for one environment given the overlay's images before (undefined: none, e.g.
 * a created branch or a new overlay) and after (undefined: the overlay was deleted -> promotes nothing). */
export function planEnvironment(
  env: EnvironmentConfig,
  before: OverlayImages | undefined,
  after: OverlayImages | undefined,
): EnvironmentPlan {
  const promotions: PlannedPromotion[] = [];
  const unchanged: string[] = [];
  const skipped: SkippedImage[] = [];
  const deployedBefore = new Set(
    (before?.images ?? []).flatMap((image) => {
      const ref = tryParseImageRef(image);
      return ref instanceof InvalidReferenceError ? [] : [comparableKey(ref)];
    }),
  );

  const seen = new Set<string>();
  for (const image of after?.images ?? []) {
    const ref = tryParseImageRef(image);
    if (ref instanceof InvalidReferenceError) {
      if (seen.has(image)) continue;
      seen.add(image);
      skipped.push({ image, reason: `not a valid image reference: ${ref.reason}` });
      continue;
    }
    // `nginx` and `docker.io/library/nginx` are one image: dedupe on the normalized form.
    const key = comparableKey(ref);
    if (seen.has(key)) continue;
    seen.add(key);

    const reason = reasonToSkip(env, ref);
    if (reason !== undefined) skipped.push({ image, reason });
    else if (deployedBefore.has(key)) unchanged.push(image);
    else {
      // Both sides spelt as the config spells the registries: the worker checks jobs against them.
      promotions.push({
        source: withRegistry(ref, env.source.registry),
        destination: withRegistry(ref, env.destination.registry),
      });
    }
  }

  const byKey = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return {
    environment: env.name,
    overlay: env.overlay,
    promotions: promotions
      .map((p) => ({ p, key: formatImageRef(p.destination) }))
      .sort((a, b) => byKey(a.key, b.key))
      .map(({ p }) => p),
    unchanged: unchanged.sort(byKey),
    skipped: skipped.sort((a, b) => byKey(a.image, b.image)),
    // Only the overlay as pushed matters to the user; warnings about the old revision would be noise.
    warnings: (after?.warnings ?? []).filter(unique),
  };
}

/** Why a parsed image of the overlay is not managed by this environment, or undefined when it is. */
function reasonToSkip(env: EnvironmentConfig, ref: ImageRef): string | undefined {
  const registry = ref.registry.toLowerCase();
  if (registry === env.source.registry.toLowerCase()) {
    return (
      `references the source registry ${env.source.registry}; ` +
      `reference ${env.destination.registry} to have it promoted`
    );
  }
  if (registry !== env.destination.registry.toLowerCase()) {
    return `external registry ${ref.registry} (only ${env.destination.registry} is managed)`;
  }
  if (!isRepositoryAllowed(env, ref.repository)) {
    return `repository ${ref.repository} is not in the allowlist (${(env.repositories ?? []).join(', ')})`;
  }
  if (ref.digest === undefined && (ref.tag === undefined || ref.tag === 'latest')) {
    return `${ref.tag === undefined ? 'no tag or digest (implicit :latest)' : 'tag latest'} is not promotable: pin a version tag or a digest`;
  }
  return undefined;
}

/** Reads the overlay at both revisions through `source` and plans every environment of `config`.
 * `before` may be NULL_SHA (created branch); `after` NULL_SHA (deleted branch) promotes nothing.
 * Non-retryable errors of one environment (its overlay is invalid or missing) become kind 'failed'
 * for that environment only; retryable errors (the FileSource's outside system failing) are thrown.
 * Each overlay is resolved within `config.planning`; once `options.signal` is aborted (the
 * deadline), every environment not planned yet fails with the signal's reason. */
export async function planPush(
  source: FileSource,
  config: Config,
  before: string,
  after: string,
  options: { readonly signal?: AbortSignal } = {},
): Promise<readonly EnvironmentPlanResult[]> {
  const resolve: ResolveOptions = {
    limits: config.planning,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
  // Every environment is awaited to its end, even when one throws: nothing of this push is still
  // reading when planPush returns or throws (the webhook answers after it).
  const settled = await Promise.allSettled(
    config.environments.map(async (env): Promise<EnvironmentPlanResult> => {
      try {
        return { kind: 'planned', plan: await planEnvironmentPush(source, env, before, after, resolve) };
      } catch (e: unknown) {
        if (e instanceof PromoterError && !e.retryable) {
          return { kind: 'failed', environment: env.name, overlay: env.overlay, error: e };
        }
        throw e;
      }
    }),
  );
  return settled.map((result) => {
    if (result.status === 'rejected') throw result.reason;
    return result.value;
  });
}

async function planEnvironmentPush(
  source: FileSource,
  env: EnvironmentConfig,
  before: string,
  after: string,
  resolve: ResolveOptions,
): Promise<EnvironmentPlan> {
  // What stops planning the push as a whole (the deadline, the delivery's GitHub calls) is not a
  // fault of the revision before it: never read as "could not be read before".
  const stopsThePush = (e: unknown): boolean =>
    resolve.signal?.aborted === true ||
    (e instanceof PlanningLimitError && e.limit === 'planning.maxGitHubCalls');
  const existsAfter = after !== NULL_SHA && (await source.kindOf(after, env.overlay)) !== undefined;
  let existsBefore = false;
  let unreadableBefore: PromoterError | undefined;
  try {
    existsBefore = before !== NULL_SHA && (await source.kindOf(before, env.overlay)) !== undefined;
  } catch (e: unknown) {
    // `before` may be gone (a force push over a collected commit): that must not block `after`.
    if (!(e instanceof PromoterError) || e.retryable || stopsThePush(e)) throw e;
    unreadableBefore = e;
  }
  if (!existsAfter) {
    if (existsBefore || unreadableBefore !== undefined || after === NULL_SHA) {
      return planEnvironment(env, undefined, undefined);
    }
    throw new OverlayError(
      env.overlay,
      `overlay of environment ${env.name} does not exist at ${describeRevision(after)}` +
        `${before === NULL_SHA ? '' : ` nor at ${describeRevision(before)}`}; fix environments[].overlay`,
    );
  }
  const recording = recordAnswers(source, after);
  const afterImages = await resolveOverlayImages(recording, after, env.overlay, resolve);
  if (unreadableBefore !== undefined) {
    return withWarning(
      planEnvironment(env, undefined, afterImages),
      `revision ${describeRevision(before)} could not be read (${unreadableBefore.message}); every managed image is treated as new`,
    );
  }
  if (!existsBefore) return planEnvironment(env, undefined, afterImages);
  // Most pushes leave most overlays alone: same answers at `before` means the same images.
  if (await answersMatch(source, before, await recording.answers())) {
    return planEnvironment(env, afterImages, afterImages);
  }
  let beforeImages: OverlayImages;
  try {
    beforeImages = await resolveOverlayImages(source, before, env.overlay, resolve);
  } catch (e: unknown) {
    // A broken overlay before the push must not block the push that fixes it: plan as if it were new.
    if (!(e instanceof PromoterError) || e.retryable || stopsThePush(e)) throw e;
    return withWarning(
      planEnvironment(env, undefined, afterImages),
      `overlay could not be read at ${describeRevision(before)} (${e.message}); every managed image is treated as new`,
    );
  }
  return planEnvironment(env, beforeImages, afterImages);
}

function withWarning(plan: EnvironmentPlan, warning: string): EnvironmentPlan {
  return { ...plan, warnings: [...plan.warnings, warning] };
}

function describeRevision(revision: string): string {
  return /^[0-9a-f]{40}$/.test(revision) ? revision.slice(0, 12) : revision;
}

function unique<T>(value: T, index: number, all: readonly T[]): boolean {
  return all.indexOf(value) === index;
}

/** Registry hosts are case-insensitive; repository paths, tags and digests are not. */
function comparableKey(ref: ImageRef): string {
  return formatImageRef(withRegistry(ref, ref.registry.toLowerCase()));
}

function tryParseImageRef(image: string): ImageRef | InvalidReferenceError {
  try {
    return parseImageRef(image);
  } catch (e: unknown) {
    if (e instanceof InvalidReferenceError) return e;
    throw e;
  }
}
