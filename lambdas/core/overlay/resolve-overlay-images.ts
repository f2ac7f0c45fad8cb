// The set of images an overlay deploys at a revision, exactly as `kustomize build` (v5.5) would
// render them, computed in memory from the files of the repository (no kustomize binary). Pure
// core: reads only through the FileSource, each file at most once per call; no fs, no network,
// no environment, no clock. What is not reproduced (remote resources, Helm charts, plugins,
// replacements on images, vars) is reported as a warning naming the file — never silently skipped.
import type { PlanningLimits } from '../config';
import { DEFAULT_PLANNING_LIMITS } from '../planning-limits';
import { OverlayError } from '../errors';
import type { FileSource } from '../file-source';
import { buildKustomization, createDirectoryBuilds } from './build-kustomization';
import type { BuildContext } from './build-kustomization';
import { collectImages } from './image-fields';
import { OverlayFiles } from './overlay-files';
import { normalizeRepoPath } from './repo-path';

export interface OverlayImages {
  /** Every image reference the rendered overlay contains, exactly as kustomize would render it, sorted, unique. */
  readonly images: readonly string[];
  /** One line each, naming the file: remote resources, helmCharts, generators, replacements touching images...
   * Sorted by file and line. */
  readonly warnings: readonly string[];
}

export interface ResolveOptions {
  /** Files, bytes and resources one resolution may use (config `planning`; defaults otherwise). */
  readonly limits?: Pick<PlanningLimits, 'maxFiles' | 'maxBytes' | 'maxFileBytes' | 'maxResources'>;
  /** The deadline: once aborted, the resolution stops at its next read or kustomization and throws
   * the signal's reason. */
  readonly signal?: AbortSignal;
}

/** Throws OverlayError (file, reason, line) for malformed YAML, a path leaving the repo, a resource
 * cycle, a missing kustomization or resource; PlanningLimitError (file, limit) when the overlay
 * needs more than its limits. */
/** Warnings listed per resolution; the rest are counted in one last line. */
export const MAX_WARNINGS = 100;

export async function resolveOverlayImages(
  source: FileSource,
  revision: string,
  overlayPath: string,
  options: ResolveOptions = {},
): Promise<OverlayImages> {
  const limits = options.limits ?? DEFAULT_PLANNING_LIMITS;
  const directory = normalizeRepoPath(overlayPath);
  if (directory === undefined) throw new OverlayError(overlayPath, 'overlay path leaves the repository root');
  const files = new OverlayFiles(source, revision, limits, options.signal);
  if ((await files.kindOf(directory)) !== 'directory') {
    throw new OverlayError(directory === '' ? '.' : directory, 'overlay directory not found');
  }
  const context: BuildContext = {
    files,
    warnings: [],
    varsFiles: [],
    builds: createDirectoryBuilds(),
    resources: { count: 0, limit: limits.maxResources },
  };
  const resources = await buildKustomization(context, directory);

  const found = new Set<string>();
  for (const resource of resources) collectImages(resource.object, found);
  const images = [...found].sort();

  const warnings = [...context.warnings];
  const withVars = images.filter((image) => image.includes('$('));
  for (const file of context.varsFiles) {
    if (withVars.length > 0) {
      warnings.push(`${file}: vars are not substituted: ${withVars.join(', ')} listed as written`);
    }
  }
  // Bases are read concurrently, so the order warnings arrive in varies: sort them (file, then line).
  const sorted = [...new Set(warnings)].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  // A kustomization of 100,000 unknown keys made 100,000 warnings, each a log line of the webhook.
  if (sorted.length > MAX_WARNINGS) {
    const more = sorted.length - MAX_WARNINGS;
    return { images, warnings: [...sorted.slice(0, MAX_WARNINGS), `... and ${more} more warnings`] };
  }
  return { images, warnings: sorted };
}
