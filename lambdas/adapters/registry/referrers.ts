// The OCI 1.1 referrers API over the registry transport: every page of a subject's referrers. A
// `Link: rel=next` on another origin is followed like any other URL the registry names — through
// the transport, so without the registry's credentials (auth.ts).
import {
  MAX_MANIFEST_BYTES,
  MEDIA_TYPES,
  ManifestFormatError,
  parseManifest,
  type Descriptor,
} from '../../core/manifest';
import { describeRef, pullScope } from './exchange';
import { invalidManifest } from './manifests';
import type { RegistryTransport } from './transport';

/** Pages read at most: a registry that links on forever is not followed forever. */
const MAX_REFERRER_PAGES = 100;

/**
 * Referrers of `digest` from the OCI 1.1 referrers API (all pages), or undefined when the
 * registry does not offer the API (then the caller falls back to the `sha256-<hex>` tag).
 */
export async function listReferrers(
  transport: RegistryTransport,
  repository: string,
  digest: string,
): Promise<readonly Descriptor[] | undefined> {
  const referrers: Descriptor[] = [];
  let url: string | undefined = `/v2/${repository}/referrers/${digest}`;
  for (let page = 0; url !== undefined && page < MAX_REFERRER_PAGES; page++) {
    const response = await transport.send({
      method: 'GET',
      url,
      repository,
      scopes: [pullScope(repository)],
      headers: { accept: MEDIA_TYPES.ociIndex },
      what: `referrers of ${describeRef(transport.registry, repository, digest)}`,
      accept: [400, 404, 405, 501],
      answerLimit: MAX_MANIFEST_BYTES,
    });
    const contentType = response.header('content-type')?.split(';')[0]?.trim();
    if (response.status !== 200 || contentType !== MEDIA_TYPES.ociIndex) {
      if (page === 0) return undefined;
      break;
    }
    try {
      referrers.push(...parseManifest(response.body, contentType).manifests);
    } catch (e: unknown) {
      const reason = e instanceof ManifestFormatError ? e.reason : String(e);
      throw invalidManifest(transport, repository, `referrers/${digest}`, reason, e);
    }
    url = nextLink(response.header('link'), transport.context.endpoint);
  }
  return referrers;
}

function nextLink(header: string | null, endpoint: string): string | undefined {
  const match = header === null ? null : /<([^>]+)>\s*;\s*rel="?next"?/.exec(header);
  if (match === null) return undefined;
  const url = new URL(match[1]!, `${endpoint}/`);
  return url.origin === new URL(endpoint).origin ? `${url.pathname}${url.search}` : url.toString();
}
