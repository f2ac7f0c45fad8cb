// Manifests over the registry transport: read (exact bytes, verified against the digest asked for
// or announced), HEAD, and put as they are. Never re-serializes a manifest (a digest is computed
// over the exact bytes received).
import { DigestMismatchError, ManifestInvalidError } from '../../core/errors';
import { isDigest } from '../../core/image-ref';
import { MANIFEST_MEDIA_TYPES, MAX_MANIFEST_BYTES, computeDigest, parseManifest } from '../../core/manifest';
import { AnswerTooLargeError, type HttpAnswer } from '../http-exchange';
import { describeRef, pullScope, pushScope, type RegistryRequest } from './exchange';
import type { RegistryTransport } from './transport';

export interface FetchedManifest {
  /** The exact bytes served. */
  readonly bytes: Buffer;
  readonly mediaType: string;
  /** Computed over `bytes`. */
  readonly digest: string;
}

export interface ManifestHead {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
}

export interface PutManifestResult {
  readonly digest: string;
  /** The registry said (`OCI-Subject`) that it indexed the manifest's subject itself. */
  readonly subjectIndexed: boolean;
}

/** The manifest's exact bytes; when `reference` is a digest, verified against it (a mismatch is
 * read again, within the same retry budget). */
export function getManifest(
  transport: RegistryTransport,
  repository: string,
  reference: string,
): Promise<FetchedManifest> {
  return transport.retry(() => readManifest(transport, repository, reference));
}

async function readManifest(
  transport: RegistryTransport,
  repository: string,
  reference: string,
): Promise<FetchedManifest> {
  let response: HttpAnswer;
  try {
    response = await transport.send({
      ...manifestRequest(transport, 'GET', repository, reference),
      answerLimit: MAX_MANIFEST_BYTES,
    });
  } catch (e: unknown) {
    if (!(e instanceof AnswerTooLargeError)) throw e;
    throw invalidManifest(transport, repository, reference, `manifest is over ${MAX_MANIFEST_BYTES} bytes`);
  }
  const bytes = response.body;
  const expected = isDigest(reference) ? reference : response.header('docker-content-digest');
  const algorithm = expected?.startsWith('sha512:') ? 'sha512' : 'sha256';
  const digest = computeDigest(bytes, algorithm);
  if (expected !== null && isDigest(expected) && digest !== expected) {
    throw new DigestMismatchError(
      `manifest ${describeRef(transport.registry, repository, reference)} hashes to ${digest}, not ${expected}; ` +
        'the registry served other bytes than it announced — retry, or check the registry',
      transport.details(repository, response.status),
    );
  }
  const mediaType = manifestMediaType(bytes, response.header('content-type'));
  return { bytes, mediaType, digest };
}

/** A read of a manifest, asking for every manifest type so that no registry converts it. */
function manifestRequest(
  transport: RegistryTransport,
  method: 'GET' | 'HEAD',
  repository: string,
  reference: string,
): RegistryRequest {
  return {
    method,
    url: `/v2/${repository}/manifests/${reference}`,
    repository,
    scopes: [pullScope(repository)],
    headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
    what: `manifest ${describeRef(transport.registry, repository, reference)}`,
    api: 'BatchGetImage',
    notFound: 'manifest',
  };
}

/** Digest, media type and size of a manifest, or undefined when there is none. */
export async function headManifest(
  transport: RegistryTransport,
  repository: string,
  reference: string,
): Promise<ManifestHead | undefined> {
  const response = await transport.send({
    ...manifestRequest(transport, 'HEAD', repository, reference),
    accept: [404],
  });
  if (response.status === 404) return undefined;
  const digest = response.header('docker-content-digest');
  if (digest === null || !isDigest(digest)) {
    // Some registries omit the header on HEAD: fall back to reading the manifest.
    const manifest = await getManifest(transport, repository, reference);
    return { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.bytes.byteLength };
  }
  return {
    digest,
    mediaType: response.header('content-type')?.split(';')[0]?.trim() ?? '',
    size: Number(response.header('content-length') ?? '-1'),
  };
}

/** Stores `bytes` as they are under `reference` (tag or digest); checks the digest the registry
 * computed equals ours. */
export async function putManifest(
  transport: RegistryTransport,
  repository: string,
  reference: string,
  bytes: Uint8Array,
  mediaType: string,
): Promise<PutManifestResult> {
  const algorithm = isDigest(reference) && reference.startsWith('sha512:') ? 'sha512' : 'sha256';
  const digest = computeDigest(bytes, algorithm);
  const where = describeRef(transport.registry, repository, reference);
  const response = await transport.send({
    method: 'PUT',
    url: `/v2/${repository}/manifests/${reference}`,
    repository,
    scopes: [pushScope(repository)],
    headers: { 'content-type': mediaType },
    body: bytes,
    what: `manifest ${where}`,
    api: 'PutImage',
    notFound: 'manifest',
  });
  const stored = response.header('docker-content-digest');
  if (stored !== null && isDigest(stored) && stored !== digest) {
    throw new DigestMismatchError(
      `${where} was stored as ${stored}, not ${digest}; ` +
        'the registry rewrote the manifest — it cannot hold a byte-identical copy',
      transport.details(repository, response.status),
    );
  }
  return { digest, subjectIndexed: response.header('oci-subject') !== null };
}

export function invalidManifest(
  transport: RegistryTransport,
  repository: string,
  reference: string,
  reason: string,
  cause?: unknown,
): ManifestInvalidError {
  return new ManifestInvalidError(
    `manifest ${describeRef(transport.registry, repository, reference)} is not usable: ${reason}`,
    transport.details(repository),
    cause === undefined ? {} : { cause },
  );
}

/** The media type of manifest bytes: the body's `mediaType`, else the Content-Type header. */
function manifestMediaType(bytes: Buffer, contentType: string | null): string {
  const header = contentType?.split(';')[0]?.trim();
  try {
    const body = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown };
    if (typeof body.mediaType === 'string' && body.mediaType !== '') return body.mediaType;
    return parseManifest(bytes, header).mediaType;
  } catch {
    return header ?? 'application/octet-stream';
  }
}
