// One prune of one environment's destination registry: read what the overlay deploys at the head
// and along the branch's first-parent history (bounded: config prune.historyCommits, stopping as
// soon as every repository's rollback window is full), what every other environment deploys, and
// what the allowlisted repositories hold; plan with core/prune; then, only with `apply`, delete in
// the plan's order, stopping at the first failure. One audit line per removal, dry run or not.
// Fails closed: an environment whose overlay cannot be read, or a registry that cannot be asked,
// stops the prune before anything is deleted. Wiring only: the decisions are core/prune's.
import { isRepositoryAllowed, type Config, type EnvironmentConfig } from '../core/config';
import { managedImages } from '../core/drift';
import { ConfigError, describeError, OverlayError, PromoterError } from '../core/errors';
import type { CommitHistory, FileSource } from '../core/file-source';
import { formatImageRef, parseImageRef, type ImageRef } from '../core/image-ref';
import { createLimiter } from '../core/limiter';
import { resolveOverlayImages } from '../core/overlay/resolve-overlay-images';
import {
  isWindowFull,
  planPrune,
  type ProtectedDigest,
  type PruneDecision,
  type PrunePlan,
  type PruneRegistry,
  type RepositoryContent,
} from '../core/prune';
import { createEcrImages } from '../adapters/ecr-images';
import { RegistryClient, type CredentialProvider } from '../adapters/registry-client';
import { createRegistryInventory } from '../adapters/registry-inventory';
import { parseEcrRegistry } from '../core/image-ref';
import type { RegistryAccess } from '../worker/registry-access';
import type { RegistryApi } from '../copy/copy-image';

export const PRUNE_RESULTS = {
  wouldDelete: 'would delete',
  deleted: 'deleted',
  absent: 'already absent',
  failed: 'failed',
  notAttempted: 'not attempted',
} as const;
export type PruneResultState = (typeof PRUNE_RESULTS)[keyof typeof PRUNE_RESULTS];

/** The audit line of one removal (dry run included): who, where, what, why, what happened. */
export interface PruneAuditLine {
  readonly audit: 'prune';
  readonly environment: string;
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
  readonly tags: readonly string[];
  readonly reason: string;
  readonly result: PruneResultState;
  readonly revision: string;
  readonly requestedBy: string;
  readonly error?: string;
}

export interface PruneOptions {
  readonly config: Config;
  readonly environment: EnvironmentConfig;
  readonly files: FileSource;
  readonly history: CommitHistory;
  /** The head commit SHA. */
  readonly commit: string;
  /** The other environments' registries, to learn the digests their tags name (none in the
   * scheduled Lambda, whose role reaches only its own registry: then a tag another environment
   * deploys elsewhere protects the same path and tag here). */
  readonly registries?: RegistryAccess;
  /** The environment's destination registry, as prune reads and deletes there. */
  readonly destination: PruneRegistry;
  readonly keep: number;
  readonly apply: boolean;
  readonly requestedBy: string;
  readonly audit: (line: PruneAuditLine) => void;
}

export interface PruneOutcome {
  readonly plan: PrunePlan;
  readonly revision: string;
  readonly commitsScanned: number;
  readonly warnings: readonly string[];
  readonly audit: readonly PruneAuditLine[];
  /** True when every removal was done (or, dry, none is needed). */
  readonly clean: boolean;
}

/** How prune reaches an environment's destination: ECR's own API for an ECR host (it lists untagged
 * images; deletes with BatchDeleteImage), the registry API elsewhere (with `credentials`). */
export function openPruneRegistry(
  config: Config,
  env: EnvironmentConfig,
  credentials: CredentialProvider,
): PruneRegistry {
  const registry = env.destination.registry;
  if (parseEcrRegistry(registry) !== undefined && config.registryEndpoints[registry] === undefined) {
    return createEcrImages(registry);
  }
  const endpoint = config.registryEndpoints[registry];
  return createRegistryInventory(
    new RegistryClient({
      registry,
      ...(endpoint === undefined ? {} : { endpoint }),
      credentials,
      userAgent: 'image-promoter-prune',
    }),
  );
}

/** Repositories read at once. */
const REPOSITORY_CONCURRENCY = 4;

export async function runPrune(options: PruneOptions): Promise<PruneOutcome> {
  const { config, environment: env, files, commit } = options;
  if (env.repositories === undefined) {
    // Without an allowlist every repository of the registry would count as this environment's.
    throw new ConfigError(
      `environments.${env.name}.repositories`,
      'prune needs an allowlist: without one it would treat every repository of the registry as its own',
    );
  }
  const limits = config.planning;
  const warnings: string[] = [];
  const managedAt = async (revision: string): Promise<readonly ImageRef[]> => {
    const images = await resolveOverlayImages(files, revision, env.overlay, { limits });
    return managedImages(env, images).promotions.map((p) => p.destination);
  };
  const head = await managedAt(commit);

  const listed = await options.destination.listRepositories();
  if (listed === undefined) {
    warnings.push(
      `${env.destination.registry} lists no repositories (no catalog API): only those the overlay deploys are pruned`,
    );
  }
  const repositoryNames = [...new Set([...(listed ?? []), ...head.map((r) => r.repository)])]
    .filter((name) => isRepositoryAllowed(env, name))
    .sort();
  const limit = createLimiter(REPOSITORY_CONCURRENCY);
  const repositories: RepositoryContent[] = await Promise.all(
    repositoryNames.map((name) => limit(() => options.destination.readRepository(name))),
  );

  // The rollback window: the branch's history, newest first, until every repository's is full.
  const history: (readonly ImageRef[])[] = [];
  const commits = await options.history.firstParents(commit, config.prune.historyCommits);
  let commitsScanned = 0;
  for (const earlier of commits) {
    if (isWindowFull(repositoryNames, head, history, options.keep)) break;
    commitsScanned++;
    try {
      history.push(await managedAt(earlier));
    } catch (e: unknown) {
      // The overlay did not exist yet, or was broken then: that commit deployed nothing we can read.
      if (!(e instanceof OverlayError)) throw e;
      warnings.push(`${earlier.slice(0, 12)}: overlay not readable (${describeError(e)})`);
      history.push([]);
    }
  }

  const protectedDigests = await digestsOfOtherEnvironments(options, repositories);
  const plan = planPrune({
    environment: env.name,
    registry: env.destination.registry,
    repositories,
    head,
    history,
    keep: options.keep,
    protectedDigests,
  });

  const audit: PruneAuditLine[] = [];
  let failed = false;
  for (const removal of plan.removals) {
    const line = (result: PruneResultState, error?: string): PruneAuditLine => ({
      audit: 'prune',
      environment: env.name,
      registry: env.destination.registry,
      repository: removal.repository,
      digest: removal.digest,
      tags: removal.tags,
      reason: removal.reason,
      result,
      revision: commit,
      requestedBy: options.requestedBy,
      ...(error === undefined ? {} : { error }),
    });
    let entry: PruneAuditLine;
    if (!options.apply) entry = line(PRUNE_RESULTS.wouldDelete);
    else if (failed) entry = line(PRUNE_RESULTS.notAttempted);
    else entry = await deleteOne(options.destination, removal, line);
    if (entry.result === PRUNE_RESULTS.failed) failed = true;
    audit.push(entry);
    options.audit(entry);
  }
  return {
    plan,
    revision: commit,
    commitsScanned,
    warnings,
    audit,
    clean: options.apply ? !failed : plan.removals.length === 0,
  };
}

async function deleteOne(
  destination: PruneRegistry,
  removal: PruneDecision,
  line: (result: PruneResultState, error?: string) => PruneAuditLine,
): Promise<PruneAuditLine> {
  try {
    const result = await destination.deleteManifest(removal.repository, removal.digest);
    return line(result === 'deleted' ? PRUNE_RESULTS.deleted : PRUNE_RESULTS.absent);
  } catch (e: unknown) {
    if (!(e instanceof PromoterError)) throw e;
    // What it refers to stays: deleting an index's children after the index failed would break it.
    return line(PRUNE_RESULTS.failed, describeError(e));
  }
}

/** Every digest another configured environment's overlay deploys at the head: pinned digests as
 * written, tags in this registry from the inventory, tags in the other environments' own
 * registries through a manifest HEAD. A tag in a registry no environment names is not resolvable
 * here and cannot be this registry's content by tag anyway. */
async function digestsOfOtherEnvironments(
  options: PruneOptions,
  repositories: readonly RepositoryContent[],
): Promise<readonly ProtectedDigest[]> {
  const { config, environment: env } = options;
  const clients = new Map<string, RegistryApi>();
  for (const other of options.registries === undefined ? [] : config.environments) {
    const opened = options.registries!.openEnvironment(other, options.commit);
    if (!clients.has(other.destination.registry)) clients.set(other.destination.registry, opened.destination);
    if (!clients.has(other.source.registry)) clients.set(other.source.registry, opened.source);
  }
  const byTag = new Map<string, string>();
  for (const content of repositories) {
    for (const manifest of content.manifests) {
      for (const tag of manifest.tags) byTag.set(`${content.repository}:${tag}`, manifest.digest);
    }
  }
  const limit = createLimiter(8);
  const found: ProtectedDigest[] = [];
  for (const other of config.environments) {
    if (other.name === env.name) continue;
    const images = await resolveOverlayImages(options.files, options.commit, other.overlay, {
      limits: config.planning,
    });
    const reason = `deployed by ${other.name}`;
    await Promise.all(
      images.images.map((text) =>
        limit(async () => {
          let ref: ImageRef;
          try {
            ref = parseImageRef(text);
          } catch {
            return;
          }
          if (ref.digest !== undefined) {
            found.push({ digest: ref.digest, reason: `${reason} (${formatImageRef(ref)})` });
            return;
          }
          const tag = ref.tag ?? 'latest';
          if (ref.registry === env.destination.registry) {
            const digest = byTag.get(`${ref.repository}:${tag}`);
            if (digest !== undefined) found.push({ digest, reason: `${reason} (${formatImageRef(ref)})` });
            return;
          }
          // Promotions keep path and tag: the same path and tag here is, in all likelihood, the
          // image the other environment runs. Kept whatever its digest: keeping too much is safe.
          const sameName = byTag.get(`${ref.repository}:${tag}`);
          if (sameName !== undefined) {
            found.push({ digest: sameName, reason: `${reason} (${formatImageRef(ref)}: same path and tag)` });
          }
          const client = clients.get(ref.registry);
          if (client === undefined) return;
          const head = await client.headManifest(ref.repository, tag);
          if (head !== undefined)
            found.push({ digest: head.digest, reason: `${reason} (${formatImageRef(ref)})` });
        }),
      ),
    );
  }
  return found;
}
