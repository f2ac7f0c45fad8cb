// What prune sees of a registry through the OCI distribution API: the catalog, each repository's
// tags, the manifests behind them, their children and their referrers (OCI 1.1 referrers API where
// the registry has it; the `sha256-<hex>` and cosign tags are tags like any other), and DELETE of a
// manifest by digest. Untagged manifests that nothing tagged reaches cannot be listed through this
// API (it has no such listing): only ECR's own API shows those (ecr-images.ts). Read-only except
// deleteManifest.
import { ManifestUnknownError } from '../core/errors';
import { createLimiter } from '../core/limiter';
import { parseManifest } from '../core/manifest';
import {
  MAX_PRUNE_MANIFESTS_PER_REPOSITORY,
  type PruneRegistry,
  type RepositoryContent,
  type StoredManifest,
} from '../core/prune';
import { PlanningLimitError } from '../core/errors';
import type { RegistryClient } from './registry-client';

/** Registry requests in flight at once per repository. */
const INVENTORY_CONCURRENCY = 8;

export function createRegistryInventory(client: RegistryClient): PruneRegistry {
  return {
    registry: client.registry,
    listRepositories: () => client.listRepositories(),
    readRepository: (repository) => readRepository(client, repository),
    deleteManifest: (repository, digest) => client.deleteManifest(repository, digest),
  };
}

async function readRepository(client: RegistryClient, repository: string): Promise<RepositoryContent> {
  const limit = createLimiter(INVENTORY_CONCURRENCY);
  const tags = await client.listTags(repository);
  const tagsByDigest = new Map<string, string[]>();
  await Promise.all(
    tags.map((tag) =>
      limit(async () => {
        const head = await client.headManifest(repository, tag);
        // Deleted between the listing and now: nothing to decide about.
        if (head === undefined) return;
        tagsByDigest.set(head.digest, [...(tagsByDigest.get(head.digest) ?? []), tag]);
      }),
    ),
  );
  const manifests = new Map<string, StoredManifest>();
  const seen = new Set(tagsByDigest.keys());
  let frontier = [...seen];
  while (frontier.length > 0) {
    if (seen.size > MAX_PRUNE_MANIFESTS_PER_REPOSITORY) {
      throw new PlanningLimitError(
        `${client.registry}/${repository}`,
        'prune manifests per repository',
        `more than ${MAX_PRUNE_MANIFESTS_PER_REPOSITORY} manifests; prune it in parts or with the registry's own tools`,
      );
    }
    const found = await Promise.all(
      frontier.map((digest) =>
        limit(() => readManifest(client, repository, digest, tagsByDigest.get(digest) ?? [])),
      ),
    );
    frontier = [];
    for (const entry of found) {
      if (entry === undefined) continue;
      manifests.set(entry.manifest.digest, entry.manifest);
      for (const digest of [...entry.manifest.children, ...entry.referrers]) {
        if (seen.has(digest)) continue;
        seen.add(digest);
        frontier.push(digest);
      }
    }
  }
  return { repository, manifests: [...manifests.values()] };
}

async function readManifest(
  client: RegistryClient,
  repository: string,
  digest: string,
  tags: readonly string[],
): Promise<{ readonly manifest: StoredManifest; readonly referrers: readonly string[] } | undefined> {
  let fetched;
  try {
    fetched = await client.getManifest(repository, digest);
  } catch (e: unknown) {
    // A child an index names but the repository lacks (a partial copy): nothing stored to remove.
    if (e instanceof ManifestUnknownError) return undefined;
    throw e;
  }
  const parsed = parseManifest(fetched.bytes, fetched.mediaType);
  const referrers = (await client.listReferrers(repository, digest)) ?? [];
  return {
    manifest: {
      digest,
      tags,
      mediaType: fetched.mediaType,
      children: parsed.kind === 'index' ? parsed.manifests.map((m) => m.digest) : [],
      ...(parsed.subject === undefined ? {} : { subject: parsed.subject.digest }),
    },
    referrers: referrers.map((r) => r.digest),
  };
}
