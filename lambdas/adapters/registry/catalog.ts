// Listing and deleting over the registry transport, for prune: the catalog (GET /v2/_catalog), a
// repository's tags (GET /v2/<name>/tags/list) and DELETE /v2/<name>/manifests/<digest>. Both lists
// follow `Link: rel=next` pages (OCI distribution spec, "Listing Tags": `n` and `last`, the Link
// header naming the next page) up to a bound. A registry that does not allow deletes answers 405
// (OCI distribution spec, "Deleting Manifests": "registries MAY ... respond 405 Method Not
// Allowed"; CNCF distribution needs `storage.delete.enabled: true`): that is an error saying so,
// never retried. Never deletes by tag: removing a manifest by digest is the only delete here.
import { RegistryRequestError } from '../../core/errors';
import { describeRef, pullScope } from './exchange';
import type { RegistryTransport } from './transport';

/** Pages read at most per list (1,000 names each): 100,000 repositories or tags. A registry that
 * links on forever is not followed forever. */
const MAX_LIST_PAGES = 100;
const PAGE_SIZE = 1000;

/** Every repository the catalog lists (all pages), or undefined when the registry has no catalog
 * API (404/405: ECR has none, it lists repositories through its own API). */
export async function listRepositories(transport: RegistryTransport): Promise<readonly string[] | undefined> {
  const names: string[] = [];
  let url: string | undefined = `/v2/_catalog?n=${PAGE_SIZE}`;
  for (let page = 0; url !== undefined && page < MAX_LIST_PAGES; page++) {
    const response = await transport.send({
      method: 'GET',
      url,
      repository: '',
      scopes: ['registry:catalog:*'],
      what: `catalog of ${transport.registry}`,
      accept: [404, 405],
    });
    if (response.status !== 200) return page === 0 ? undefined : names;
    names.push(...stringList(response.text(), 'repositories'));
    url = nextLink(response.header('link'), transport.context.endpoint);
  }
  return names;
}

/** Every tag of `repository` (all pages); none when the repository does not exist. */
export async function listTags(transport: RegistryTransport, repository: string): Promise<readonly string[]> {
  const tags: string[] = [];
  let url: string | undefined = `/v2/${repository}/tags/list?n=${PAGE_SIZE}`;
  for (let page = 0; url !== undefined && page < MAX_LIST_PAGES; page++) {
    const response = await transport.send({
      method: 'GET',
      url,
      repository,
      scopes: [pullScope(repository)],
      what: `tags of ${transport.registry}/${repository}`,
      accept: [404],
    });
    if (response.status === 404) return tags;
    tags.push(...stringList(response.text(), 'tags'));
    url = nextLink(response.header('link'), transport.context.endpoint);
  }
  return tags;
}

/** Deletes the manifest `digest` (and with it every tag pointing at it). 'absent' when the registry
 * no longer has it (deleted by someone else, or by an earlier attempt of this one). */
export async function deleteManifest(
  transport: RegistryTransport,
  repository: string,
  digest: string,
): Promise<'deleted' | 'absent'> {
  const what = `delete of ${describeRef(transport.registry, repository, digest)}`;
  const response = await transport.send({
    method: 'DELETE',
    url: `/v2/${repository}/manifests/${digest}`,
    repository,
    scopes: [`repository:${repository}:delete`],
    what,
    accept: [404, 405],
  });
  if (response.status === 404) return 'absent';
  if (response.status === 405) {
    throw new RegistryRequestError(
      `${what}: ${transport.registry} answered 405: the registry does not allow deletes ` +
        '(CNCF distribution: storage.delete.enabled: true)',
      transport.details(repository, 405),
    );
  }
  return 'deleted';
}

function stringList(text: string, key: 'repositories' | 'tags'): readonly string[] {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return [];
  }
  const list = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[key] : undefined;
  // A repository without tags answers `"tags": null` (CNCF distribution).
  return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
}

function nextLink(header: string | null, endpoint: string): string | undefined {
  const match = header === null ? null : /<([^>]+)>\s*;\s*rel="?next"?/.exec(header);
  if (match === null) return undefined;
  const url = new URL(match[1]!, `${endpoint}/`);
  return url.origin === new URL(endpoint).origin ? `${url.pathname}${url.search}` : url.toString();
}
