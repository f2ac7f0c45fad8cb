// Prune: which manifests of an environment's destination registry may go. The registry keeps what
// the overlay deploys at the branch head, the last N versions it deployed before (the rollback
// window), every digest any configured environment deploys, and everything those need (children
// of a kept index, referrers and signatures of a kept manifest); every other manifest of the
// allowlisted repositories is removed, with its own referrers and signatures. Pure: the registry
// content, the overlay's references at each commit and the other environments' digests come in as
// values; the plan (what to keep and why, what to remove, in a safe order, and why) goes out.
// Never decides from a tag name alone what a digest is: tags are resolved against the inventory.
import type { ImageRef } from './image-ref';

/** The prune defaults and bounds (config `prune`). */
export const DEFAULT_PRUNE_KEEP = 5;
/** Commits of the branch's first-parent history read for the rollback window: a few months of a
 * busy overlays repository. Each costs one overlay resolution (and through GitHub one Git Trees
 * call plus the blobs that changed), so the walk is bounded however old the repository is. */
export const DEFAULT_PRUNE_HISTORY_COMMITS = 200;

/** One manifest stored in a repository, as the registry lists it. */
export interface StoredManifest {
  readonly digest: string;
  /** Tags pointing at it (none: an untagged manifest). */
  readonly tags: readonly string[];
  readonly mediaType: string;
  /** The manifests an index lists (none for an image). */
  readonly children: readonly string[];
  /** The OCI 1.1 `subject` digest: this manifest is a referrer (signature, SBOM...) of that one. */
  readonly subject?: string;
}

/** Everything found in one repository of the destination registry. */
export interface RepositoryContent {
  readonly repository: string;
  readonly manifests: readonly StoredManifest[];
}

/** A digest another environment (or this one's other references) deploys. */
export interface ProtectedDigest {
  readonly digest: string;
  /** Who deploys it: `deployed by staging`. */
  readonly reason: string;
}

export interface PruneInput {
  readonly environment: string;
  /** The destination registry host. */
  readonly registry: string;
  /** The allowlisted repositories of the destination registry and what they hold. */
  readonly repositories: readonly RepositoryContent[];
  /** The managed destination references the overlay deploys at the head. */
  readonly head: readonly ImageRef[];
  /** The managed destination references at earlier commits of the first-parent history, newest
   * first, one entry per commit scanned. */
  readonly history: readonly (readonly ImageRef[])[];
  /** Versions kept per repository besides what the head deploys (the rollback window). */
  readonly keep: number;
  readonly protectedDigests: readonly ProtectedDigest[];
}

export interface PruneDecision {
  readonly repository: string;
  readonly digest: string;
  readonly tags: readonly string[];
  readonly mediaType: string;
  readonly reason: string;
}

export interface PrunePlan {
  readonly environment: string;
  readonly registry: string;
  readonly keep: number;
  /** Sorted by repository, then digest. */
  readonly kept: readonly PruneDecision[];
  /** In deletion order: a manifest comes after every manifest that refers to it (its referrers,
   * the index listing it), so a registry refusing to delete what something still references
   * (ECR: ImageReferencedByManifestList) never sees such an order, and a run cut short leaves
   * nothing unreachable that the next run could not find again from a tag. */
  readonly removals: readonly PruneDecision[];
}

/** `sha256-<hex>` with an optional `.sig`/`.att`/`.sbom` suffix: the tag schemes (OCI 1.1 referrers
 * tag fallback, cosign) that attach a manifest to the digest its name spells. */
const ATTACHED_TAG = /^(sha256)-([a-f0-9]{64})(?:\.[a-z]+)?$/;

/** The digest a referrers-scheme or cosign tag names, or undefined for any other tag. */
export function attachedTagSubject(tag: string): string | undefined {
  const match = ATTACHED_TAG.exec(tag);
  return match === null ? undefined : `${match[1]!}:${match[2]!}`;
}

/** The versions an overlay deployed, newest first, per repository: those at the head, and the
 * `keep` distinct references before them (a reference is its tag and digest as the overlay wrote
 * it). Pure. */
export function rollbackWindow(
  head: readonly ImageRef[],
  history: readonly (readonly ImageRef[])[],
  keep: number,
): {
  readonly head: ReadonlyMap<string, readonly ImageRef[]>;
  readonly window: ReadonlyMap<string, readonly ImageRef[]>;
} {
  const headByRepository = groupByRepository(head);
  const seen = new Set(head.map(versionKey));
  const window = new Map<string, ImageRef[]>();
  for (const refs of history) {
    for (const ref of refs) {
      const key = versionKey(ref);
      if (seen.has(key)) continue;
      const versions = window.get(ref.repository) ?? [];
      if (versions.length >= keep) continue;
      seen.add(key);
      versions.push(ref);
      window.set(ref.repository, versions);
    }
  }
  return { head: headByRepository, window };
}

/** Whether the history already read fills every repository's window: reading more commits cannot
 * change the plan. */
export function isWindowFull(
  repositories: readonly string[],
  head: readonly ImageRef[],
  history: readonly (readonly ImageRef[])[],
  keep: number,
): boolean {
  const { window } = rollbackWindow(head, history, keep);
  return repositories.every((repository) => (window.get(repository)?.length ?? 0) >= keep);
}

/** Pure: the plan. */
export function planPrune(input: PruneInput): PrunePlan {
  const registryHead = input.head.filter((ref) => ref.registry === input.registry);
  const registryHistory = input.history.map((refs) => refs.filter((ref) => ref.registry === input.registry));
  const { head, window } = rollbackWindow(registryHead, registryHistory, input.keep);
  const everSeen = new Set(registryHistory.flat().map(versionKey));
  const protectedReasons = new Map<string, string>();
  for (const p of input.protectedDigests) {
    if (!protectedReasons.has(p.digest)) protectedReasons.set(p.digest, p.reason);
  }

  const kept: PruneDecision[] = [];
  const removals: PruneDecision[] = [];
  for (const content of [...input.repositories].sort((a, b) => compare(a.repository, b.repository))) {
    const repo = indexRepository(content);
    const keptReasons = new Map<string, string>();
    const queue: string[] = [];
    const keepDigest = (digest: string | undefined, reason: string): void => {
      if (digest === undefined || !repo.byDigest.has(digest) || keptReasons.has(digest)) return;
      keptReasons.set(digest, reason);
      queue.push(digest);
    };

    for (const ref of head.get(content.repository) ?? []) {
      keepDigest(repo.resolve(ref), `deployed at the head (${describeVersion(ref)})`);
    }
    (window.get(content.repository) ?? []).forEach((ref, i) => {
      keepDigest(
        repo.resolve(ref),
        `rollback window: ${ordinal(i + 1)} previous version (${describeVersion(ref)})`,
      );
    });
    for (const digest of repo.byDigest.keys()) {
      const reason = protectedReasons.get(digest);
      if (reason !== undefined) keepDigest(digest, reason);
    }
    // What a kept manifest needs stays: the children of a kept index, its referrers and signatures
    // (and theirs, and their children).
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const manifest = repo.byDigest.get(next)!;
      for (const child of manifest.children) keepDigest(child, `listed by kept index ${short(next)}`);
      for (const referrer of repo.referrersOf.get(next) ?? []) {
        keepDigest(referrer, `referrer or signature of kept ${short(next)}`);
      }
    }

    for (const manifest of repo.byDigest.values()) {
      const reason = keptReasons.get(manifest.digest);
      const decision = (why: string): PruneDecision => ({
        repository: content.repository,
        digest: manifest.digest,
        tags: [...manifest.tags].sort(),
        mediaType: manifest.mediaType,
        reason: why,
      });
      if (reason !== undefined) kept.push(decision(reason));
      else {
        const windowFull = (window.get(content.repository)?.length ?? 0) >= input.keep;
        removals.push(
          decision(removalReason(repo, manifest, content.repository, everSeen, windowFull, input.keep)),
        );
      }
    }
  }
  kept.sort(byLocation);
  return {
    environment: input.environment,
    registry: input.registry,
    keep: input.keep,
    kept,
    removals: orderRemovals(removals, input.repositories),
  };
}

interface IndexedRepository {
  readonly byDigest: ReadonlyMap<string, StoredManifest>;
  /** Subject digest -> the manifests attached to it (by `subject` or by a tag scheme). */
  readonly referrersOf: ReadonlyMap<string, readonly string[]>;
  /** Digest -> the manifests that refer to it (an index listing it, a referrer naming it). */
  readonly referencedBy: ReadonlyMap<string, readonly string[]>;
  resolve(ref: ImageRef): string | undefined;
}

function indexRepository(content: RepositoryContent): IndexedRepository {
  const byDigest = new Map<string, StoredManifest>();
  const byTag = new Map<string, string>();
  for (const manifest of content.manifests) {
    byDigest.set(manifest.digest, manifest);
    for (const tag of manifest.tags) byTag.set(tag, manifest.digest);
  }
  const referrersOf = new Map<string, string[]>();
  const referencedBy = new Map<string, string[]>();
  const add = (map: Map<string, string[]>, key: string, value: string): void => {
    const list = map.get(key) ?? [];
    if (!list.includes(value)) list.push(value);
    map.set(key, list);
  };
  for (const manifest of byDigest.values()) {
    const subjects = [
      ...(manifest.subject === undefined ? [] : [manifest.subject]),
      ...manifest.tags.flatMap((tag) => attachedTagSubject(tag) ?? []),
    ];
    for (const subject of subjects) {
      if (subject === manifest.digest) continue;
      add(referrersOf, subject, manifest.digest);
      add(referencedBy, subject, manifest.digest);
    }
    for (const child of manifest.children) add(referencedBy, child, manifest.digest);
  }
  return {
    byDigest,
    referrersOf,
    referencedBy,
    // A tag means what the destination's tag points at now; a pinned digest means itself.
    resolve: (ref) => ref.digest ?? (ref.tag === undefined ? undefined : byTag.get(ref.tag)),
  };
}

function removalReason(
  repo: IndexedRepository,
  manifest: StoredManifest,
  repository: string,
  everSeen: ReadonlySet<string>,
  windowFull: boolean,
  keep: number,
): string {
  const attachedTo = [
    ...(manifest.subject === undefined ? [] : [manifest.subject]),
    ...manifest.tags.flatMap((tag) => attachedTagSubject(tag) ?? []),
  ].find((subject) => repo.byDigest.has(subject));
  if (attachedTo !== undefined) return `referrer or signature of removed ${short(attachedTo)}`;
  const parent = (repo.referencedBy.get(manifest.digest) ?? []).find(
    (p) => repo.byDigest.get(p)?.children.includes(manifest.digest) === true,
  );
  if (parent !== undefined) return `listed only by removed index ${short(parent)}`;
  const deployed = manifest.tags.some(
    (tag) => everSeen.has(`${repository}:${tag}`) || everSeen.has(`${repository}:${tag}@${manifest.digest}`),
  );
  if (deployed || everSeen.has(`${repository}@${manifest.digest}`)) {
    return 'outside the rollback window: deployed before the last versions kept';
  }
  if (manifest.tags.length === 0) return 'untagged and referenced by nothing kept';
  // With the window full the walk stopped there: older history was not read, so whether this tag
  // was deployed long ago or never (an abandoned pull request's) is not known, and does not matter.
  return windowFull
    ? `not deployed at the head nor one of the last ${keep} versions deployed before`
    : 'never deployed by the overlay in the history read (e.g. an abandoned pull request)';
}

/** Removals ordered so that a manifest follows everything (also removed) that refers to it. */
function orderRemovals(
  removals: readonly PruneDecision[],
  repositories: readonly RepositoryContent[],
): readonly PruneDecision[] {
  const indexed = new Map(repositories.map((r) => [r.repository, indexRepository(r)]));
  const removed = new Set(removals.map((r) => `${r.repository}@${r.digest}`));
  const depth = new Map<string, number>();
  const depthOf = (repository: string, digest: string, visiting: Set<string>): number => {
    const key = `${repository}@${digest}`;
    const known = depth.get(key);
    if (known !== undefined) return known;
    if (visiting.has(key)) return 0;
    visiting.add(key);
    let d = 0;
    for (const parent of indexed.get(repository)?.referencedBy.get(digest) ?? []) {
      if (removed.has(`${repository}@${parent}`)) d = Math.max(d, depthOf(repository, parent, visiting) + 1);
    }
    visiting.delete(key);
    depth.set(key, d);
    return d;
  };
  return [...removals]
    .map((r) => ({ r, d: depthOf(r.repository, r.digest, new Set()) }))
    .sort((a, b) => a.d - b.d || byLocation(a.r, b.r))
    .map(({ r }) => r);
}

function groupByRepository(refs: readonly ImageRef[]): ReadonlyMap<string, readonly ImageRef[]> {
  const map = new Map<string, ImageRef[]>();
  for (const ref of refs) map.set(ref.repository, [...(map.get(ref.repository) ?? []), ref]);
  return map;
}

/** A version as the overlay names it: repository, tag and digest (registry left out: one registry). */
function versionKey(ref: ImageRef): string {
  return `${ref.repository}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}

function describeVersion(ref: ImageRef): string {
  return ref.tag ?? short(ref.digest ?? '?');
}

function short(digest: string): string {
  return digest.slice(0, 19);
}

function ordinal(n: number): string {
  return n === 1 ? '1st' : n === 2 ? '2nd' : n === 3 ? '3rd' : `${n}th`;
}

function byLocation(a: PruneDecision, b: PruneDecision): number {
  return compare(a.repository, b.repository) || compare(a.digest, b.digest);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** How prune reads and changes one destination registry: the registry API (catalog, tags, manifests,
 * referrers; DELETE by digest) or, for ECR, ECR's own API (DescribeImages also lists untagged
 * manifests; BatchDeleteImage). */
export interface PruneRegistry {
  readonly registry: string;
  /** Every repository the registry lists; undefined when it cannot list them (no catalog API). */
  listRepositories(): Promise<readonly string[] | undefined>;
  /** Every manifest of the repository the registry can show: tagged ones, the children of indexes,
   * referrers (API and tag schemes), and for ECR the untagged ones too. */
  readRepository(repository: string): Promise<RepositoryContent>;
  /** Deletes one manifest by digest with every tag pointing at it; 'absent' when already gone. */
  deleteManifest(repository: string, digest: string): Promise<'deleted' | 'absent'>;
}

/** Manifests read at most per repository: a repository holding more is refused, not read for hours. */
export const MAX_PRUNE_MANIFESTS_PER_REPOSITORY = 20_000;
