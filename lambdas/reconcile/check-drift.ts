// Drift of every selected environment at one commit: the overlay read through a FileSource (local
// git or GitHub), both registries asked through the worker's own registry access (the same
// credentials, role and endpoints a promotion uses) with one manifest HEAD per image and side.
// Shared by `image-promoter verify` and the scheduled reconcile. Wiring only: the classification
// is core/drift. Never writes to a registry.
import type { Config, EnvironmentConfig } from '../core/config';
import {
  checkEnvironmentDrift,
  observeDrift,
  type EnvironmentDrift,
  type ImageDrift,
  type ManifestLookup,
} from '../core/drift';
import { PromoterError } from '../core/errors';
import type { FileSource } from '../core/file-source';
import { resolveOverlayImages } from '../core/overlay/resolve-overlay-images';
import type { PlannedPromotion } from '../core/plan';
import type { RegistryApi } from '../copy/copy-image';
import type { RegistryAccess } from '../worker/registry-access';

export type EnvironmentDriftResult =
  | { readonly kind: 'checked'; readonly drift: EnvironmentDrift; readonly lookups: number }
  | {
      readonly kind: 'failed';
      readonly environment: string;
      readonly overlay: string;
      readonly error: PromoterError;
    };

export interface CheckDriftOptions {
  readonly config: Config;
  /** Which environments (default: all of the config, in its order). */
  readonly environments?: readonly EnvironmentConfig[];
  readonly files: FileSource;
  /** The commit SHA whose overlays are checked. */
  readonly commit: string;
  readonly registries: RegistryAccess;
}

/** Every environment is checked even when another fails: a PromoterError (broken overlay, registry
 * refusing the credentials) becomes that environment's `failed` result; anything else is thrown. */
export async function checkDrift(options: CheckDriftOptions): Promise<readonly EnvironmentDriftResult[]> {
  const environments = options.environments ?? options.config.environments;
  return Promise.all(
    environments.map(async (env): Promise<EnvironmentDriftResult> => {
      try {
        const images = await resolveOverlayImages(options.files, options.commit, env.overlay);
        const registries = options.registries.openEnvironment(env, options.commit);
        const source = countingLookup(registries.source);
        const destination = countingLookup(registries.destination);
        const drift = await checkEnvironmentDrift(env, options.commit, images, source, destination);
        return { kind: 'checked', drift, lookups: source.count() + destination.count() };
      } catch (e: unknown) {
        if (e instanceof PromoterError) {
          return { kind: 'failed', environment: env.name, overlay: env.overlay, error: e };
        }
        throw e;
      }
    }),
  );
}

/** A manifest HEAD per question (a registry's answer for a missing manifest is undefined, not an
 * error), counted for the figures `verify` reports. */
function countingLookup(registry: RegistryApi): ManifestLookup & { count(): number } {
  let calls = 0;
  return {
    digestOf: async (repository, reference) => {
      calls++;
      return (await registry.headManifest(repository, reference))?.digest;
    },
    count: () => calls,
  };
}

/** The registries' answer for promotions already planned (`plan --check-registries`): one HEAD per
 * image and side, as `verify` does. Registry failures are thrown. */
export async function checkPromotions(
  env: EnvironmentConfig,
  commit: string,
  promotions: readonly PlannedPromotion[],
  registries: RegistryAccess,
): Promise<readonly ImageDrift[]> {
  if (promotions.length === 0) return [];
  const opened = registries.openEnvironment(env, commit);
  return observeDrift(promotions, countingLookup(opened.source), countingLookup(opened.destination));
}
