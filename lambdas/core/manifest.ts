// The image model the copy engine walks: manifest media types, descriptors, and what a manifest
// points at (child manifests, blobs, subject). Parsing reads the exact bytes a registry served and
// never re-serializes them: a manifest is copied as those bytes, and its digest is computed over
// them. Pure: no I/O, no clock (hashing is computation).
import { createHash } from 'node:crypto';
import { isDigest } from './image-ref';

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  /** Removed from the final OCI 1.1 spec, but some registries still hold artifacts of this type. */
  ociArtifact: 'application/vnd.oci.artifact.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ociNondistributableLayer: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociNondistributableLayerGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociNondistributableLayerZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
} as const;

/** Every manifest media type the copy engine understands, most preferred first (the Accept header). */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerList,
  MEDIA_TYPES.dockerManifest,
  MEDIA_TYPES.ociArtifact,
  MEDIA_TYPES.dockerSchema1Signed,
  MEDIA_TYPES.dockerSchema1,
];

const INDEX_TYPES: ReadonlySet<string> = new Set([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList]);
const FOREIGN_LAYER_TYPES: ReadonlySet<string> = new Set([
  MEDIA_TYPES.dockerForeignLayer,
  MEDIA_TYPES.ociNondistributableLayer,
  MEDIA_TYPES.ociNondistributableLayerGzip,
  MEDIA_TYPES.ociNondistributableLayerZstd,
]);

/** The OCI spec's advice: registries and clients should handle manifests of at least 4 MiB. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly 'os.version'?: string;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly urls?: readonly string[];
  readonly platform?: Platform;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

export type ManifestKind = 'index' | 'image';

export interface ParsedManifest {
  readonly kind: ManifestKind;
  readonly mediaType: string;
  /** Child manifests (index only), in document order. */
  readonly manifests: readonly Descriptor[];
  /** Blobs the registry must hold before it accepts this manifest (config first, then layers),
   * without foreign / non-distributable layers, which live elsewhere (`urls`) and are never copied. */
  readonly blobs: readonly Descriptor[];
  /** OCI 1.1 `subject`: this manifest is a referrer (signature, SBOM, attestation) of that one. */
  readonly subject?: Descriptor;
  readonly artifactType?: string;
}

/** Why a manifest could not be parsed; the caller adds where it came from. */
export class ManifestFormatError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'ManifestFormatError';
  }
}

/** `sha256:<hex>` of the exact bytes. */
export function computeDigest(bytes: Uint8Array, algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** Whether `bytes` hash to `digest` (sha256 or sha512). Unsupported algorithms never match. */
export function matchesDigest(bytes: Uint8Array, digest: string): boolean {
  const algorithm = digest.slice(0, digest.indexOf(':'));
  if (algorithm !== 'sha256' && algorithm !== 'sha512') return false;
  return computeDigest(bytes, algorithm) === digest;
}

/** An OCI index or a Docker manifest list. */
export function isIndexMediaType(mediaType: string): boolean {
  return INDEX_TYPES.has(mediaType);
}

/** A foreign (Windows base) or non-distributable layer: referenced, never copied (like crane). */
export function isForeignLayer(descriptor: Descriptor): boolean {
  return FOREIGN_LAYER_TYPES.has(descriptor.mediaType);
}

/**
 * Reads what a manifest points at. `contentType` is the registry's Content-Type header, used only
 * when the body has no `mediaType` (allowed by OCI). Throws ManifestFormatError with the reason.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | undefined): ParsedManifest {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) {
    throw new ManifestFormatError(`manifest is ${bytes.byteLength} bytes, over ${MAX_MANIFEST_BYTES}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    throw new ManifestFormatError('manifest is not JSON');
  }
  if (!isObject(body)) throw new ManifestFormatError('manifest is not a JSON object');
  const declared = typeof body['mediaType'] === 'string' ? body['mediaType'] : undefined;
  const header = contentType?.split(';')[0]?.trim();
  const mediaType = declared ?? guessMediaType(body, header);

  if (body['schemaVersion'] === 1) return parseSchema1(body, mediaType);
  if (body['schemaVersion'] !== 2) throw new ManifestFormatError('unsupported schemaVersion');

  const subject = body['subject'] === undefined ? undefined : readDescriptor(body['subject'], 'subject');
  const artifactType = typeof body['artifactType'] === 'string' ? body['artifactType'] : undefined;
  const extra = {
    ...(subject === undefined ? {} : { subject }),
    ...(artifactType === undefined ? {} : { artifactType }),
  };

  if (isIndexMediaType(mediaType)) {
    const manifests = readDescriptors(body['manifests'], 'manifests');
    return { kind: 'index', mediaType, manifests, blobs: [], ...extra };
  }
  if (mediaType === MEDIA_TYPES.ociArtifact) {
    const blobs = body['blobs'] === undefined ? [] : readDescriptors(body['blobs'], 'blobs');
    return {
      kind: 'image',
      mediaType,
      manifests: [],
      blobs: blobs.filter((b) => !isForeignLayer(b)),
      ...extra,
    };
  }
  if (body['config'] === undefined) throw new ManifestFormatError('image manifest has no config');
  const config = readDescriptor(body['config'], 'config');
  const layers = body['layers'] === undefined ? [] : readDescriptors(body['layers'], 'layers');
  return {
    kind: 'image',
    mediaType,
    manifests: [],
    blobs: [config, ...layers.filter((layer) => !isForeignLayer(layer))],
    ...extra,
  };
}

function guessMediaType(body: Readonly<Record<string, unknown>>, header: string | undefined): string {
  if (header !== undefined && MANIFEST_MEDIA_TYPES.includes(header)) return header;
  if (body['schemaVersion'] === 1) return MEDIA_TYPES.dockerSchema1Signed;
  if (Array.isArray(body['manifests'])) return MEDIA_TYPES.ociIndex;
  if (body['config'] !== undefined) return MEDIA_TYPES.ociManifest;
  throw new ManifestFormatError(`unknown manifest media type${header === undefined ? '' : ` "${header}"`}`);
}

function parseSchema1(body: Readonly<Record<string, unknown>>, mediaType: string): ParsedManifest {
  const fsLayers = body['fsLayers'];
  if (!Array.isArray(fsLayers)) throw new ManifestFormatError('schema 1 manifest has no fsLayers');
  const seen = new Set<string>();
  const blobs: Descriptor[] = [];
  for (const layer of fsLayers) {
    const digest = isObject(layer) ? layer['blobSum'] : undefined;
    if (typeof digest !== 'string' || !isDigest(digest)) {
      throw new ManifestFormatError('schema 1 manifest has an invalid blobSum');
    }
    if (seen.has(digest)) continue;
    seen.add(digest);
    // Schema 1 does not record sizes: -1 means "unknown, take what the registry sends".
    blobs.push({ mediaType: 'application/octet-stream', digest, size: -1 });
  }
  return { kind: 'image', mediaType, manifests: [], blobs };
}

function readDescriptors(value: unknown, field: string): readonly Descriptor[] {
  if (!Array.isArray(value)) throw new ManifestFormatError(`${field} is not an array`);
  return value.map((item, i) => readDescriptor(item, `${field}[${i}]`));
}

function readDescriptor(value: unknown, field: string): Descriptor {
  if (!isObject(value)) throw new ManifestFormatError(`${field} is not a descriptor`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string' || mediaType === '') {
    throw new ManifestFormatError(`${field}.mediaType is missing`);
  }
  if (typeof digest !== 'string' || !isDigest(digest)) {
    throw new ManifestFormatError(`${field}.digest is not a valid digest`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new ManifestFormatError(`${field}.size is not a non-negative integer`);
  }
  // Keep the fields the copy engine reads; the bytes themselves are never rebuilt from this.
  const descriptor: { -readonly [K in keyof Descriptor]: Descriptor[K] } = { mediaType, digest, size };
  if (Array.isArray(value['urls'])) descriptor.urls = value['urls'].filter((u) => typeof u === 'string');
  if (isObject(value['platform'])) descriptor.platform = value['platform'] as unknown as Platform;
  if (typeof value['artifactType'] === 'string') descriptor.artifactType = value['artifactType'];
  if (isObject(value['annotations'])) {
    descriptor.annotations = value['annotations'] as Readonly<Record<string, string>>;
  }
  return descriptor;
}

function isObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Tag of the OCI 1.1 referrers tag schema (`sha256-<hex>`): where registries without the
 * referrers API keep the index of a manifest's referrers. */
export function referrersTag(digest: string): string {
  return digest.replace(':', '-');
}

/** Tags cosign uses for a manifest's signature, attestations and SBOM. */
export function cosignTags(digest: string): readonly string[] {
  const base = referrersTag(digest);
  return [`${base}.sig`, `${base}.att`, `${base}.sbom`];
}

/** An OCI image index listing `manifests` (used to build a referrers response). */
export function buildReferrersIndex(manifests: readonly Descriptor[]): string {
  return JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests });
}

/**
 * Longest blob of unknown size a copy reads (`copy.maxBlobBytes`). Only Docker schema 1 manifests
 * leave blob sizes out; without a bound a registry could stream one without end (tens of GB a
 * minute on loopback). 4 GiB is above the layers of images old enough to be schema 1 (deprecated
 * since Docker 1.10, 2016); an image that really needs more raises it.
 */
export const DEFAULT_MAX_BLOB_BYTES = 4 * 1024 * 1024 * 1024;
