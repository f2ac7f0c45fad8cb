// Test images built on the fly: random layers in an OCI image layout on disk, pushed to a real
// registry with skopeo (an independent client), and read back with `skopeo inspect --raw`.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireProgram } from './processes';

const run = promisify(execFile);

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: { readonly architecture: string; readonly os: string; readonly variant?: string };
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** An OCI image manifest with a random config and layer, whose blobs need not exist: for
 * registries that keep manifests only (moto's ECR). `subject`: the digest of an image it refers to. */
export function blobLessManifest(subject?: string): string {
  const blob = (mediaType: string): Descriptor => ({
    mediaType,
    digest: sha256(randomBytes(16).toString('hex')),
    size: 16,
  });
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: blob(MEDIA.ociConfig),
    layers: [blob(MEDIA.ociLayer)],
    ...(subject === undefined
      ? {}
      : { subject: { mediaType: MEDIA.ociManifest, digest: subject, size: 100 } }),
  });
}

/** An OCI image layout being assembled in a temporary directory. */
export class ImageLayout {
  private readonly refs: { descriptor: Descriptor; name: string }[] = [];

  private constructor(readonly dir: string) {}

  static async create(): Promise<ImageLayout> {
    const dir = await mkdtemp(join(tmpdir(), 'ip-image-'));
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    return new ImageLayout(dir);
  }

  async addBlob(bytes: Uint8Array | string, mediaType: string): Promise<Descriptor> {
    const digest = sha256(bytes);
    await writeFile(join(this.dir, 'blobs', 'sha256', digest.slice(7)), bytes);
    return { mediaType, digest, size: Buffer.byteLength(bytes) };
  }

  /** A random blob of `size` bytes, streamed to disk in 1 MiB chunks (works for GBs). */
  async addRandomBlob(size: number, mediaType: string): Promise<Descriptor> {
    const tmp = join(this.dir, `tmp-${randomBytes(6).toString('hex')}`);
    const hash = createHash('sha256');
    const out = createWriteStream(tmp);
    const chunk = randomBytes(Math.min(size, 1 << 20));
    let written = 0;
    while (written < size) {
      // Vary each chunk cheaply so layers never dedupe by accident.
      const piece = chunk.subarray(0, Math.min(chunk.length, size - written));
      piece.writeUInt32LE((written / chunk.length) >>> 0, 0);
      if (piece.length >= 8) piece.writeUInt32LE(Math.floor(Math.random() * 2 ** 32), 4);
      hash.update(piece);
      if (!out.write(piece)) await new Promise<void>((r) => out.once('drain', () => r()));
      written += piece.length;
    }
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
    const digest = `sha256:${hash.digest('hex')}`;
    const { rename } = await import('node:fs/promises');
    await rename(tmp, join(this.dir, 'blobs', 'sha256', digest.slice(7)));
    return { mediaType, digest, size };
  }

  /** Marks `descriptor` as the layout's entry point under `name` (what `oci:DIR:name` copies). */
  tag(descriptor: Descriptor, name: string): void {
    this.refs.push({ descriptor, name });
  }

  async writeIndex(): Promise<void> {
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA.ociIndex,
      manifests: this.refs.map(({ descriptor, name }) => ({
        mediaType: descriptor.mediaType,
        digest: descriptor.digest,
        size: descriptor.size,
        annotations: { 'org.opencontainers.image.ref.name': name },
      })),
    };
    await writeFile(join(this.dir, 'index.json'), JSON.stringify(index));
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

export interface ImageSpec {
  /** Layer sizes in bytes. Empty for a zero-layer image. */
  readonly layers?: readonly number[];
  readonly format?: 'oci' | 'docker';
  /** Serialize the manifest with indentation and a trailing newline (not compact JSON). */
  readonly pretty?: boolean;
  readonly platform?: { readonly architecture: string; readonly os: string };
  /** OCI artifact: config media type (e.g. `application/vnd.example.config+json`). */
  readonly artifactType?: string;
  /** OCI 1.1 `subject`: makes this manifest a referrer of that descriptor. */
  readonly subject?: Descriptor;
}

export interface BuiltManifest {
  readonly descriptor: Descriptor;
  readonly bytes: string;
  readonly layers: readonly Descriptor[];
  readonly config: Descriptor;
}

/** Adds config, layers and a manifest for one image to the layout (does not tag it). */
export async function addImage(layout: ImageLayout, spec: ImageSpec = {}): Promise<BuiltManifest> {
  const docker = spec.format === 'docker';
  const platform = spec.platform ?? { architecture: 'amd64', os: 'linux' };
  const configMediaType = spec.artifactType ?? (docker ? MEDIA.dockerConfig : MEDIA.ociConfig);
  const configBody = spec.artifactType
    ? JSON.stringify({ note: randomBytes(8).toString('hex') })
    : JSON.stringify({
        architecture: platform.architecture,
        os: platform.os,
        created: '2026-01-01T00:00:00Z',
        config: { Labels: { nonce: randomBytes(8).toString('hex') } },
        rootfs: { type: 'layers', diff_ids: (spec.layers ?? []).map(() => sha256(randomBytes(8))) },
      });
  const config = await layout.addBlob(configBody, configMediaType);
  const layers: Descriptor[] = [];
  for (const size of spec.layers ?? []) {
    layers.push(await layout.addRandomBlob(size, docker ? MEDIA.dockerLayer : MEDIA.ociLayer));
  }
  const mediaType = docker ? MEDIA.dockerManifest : MEDIA.ociManifest;
  const manifest: Record<string, unknown> = { schemaVersion: 2, mediaType, config, layers };
  if (spec.artifactType) manifest['artifactType'] = spec.artifactType;
  if (spec.subject) manifest['subject'] = spec.subject;
  const bytes = spec.pretty ? `${JSON.stringify(manifest, null, 3)}\n` : JSON.stringify(manifest);
  const descriptor = await layout.addBlob(bytes, mediaType);
  return { descriptor: { ...descriptor, platform }, bytes, layers, config };
}

/** Adds an index (OCI or Docker list) over the given manifests. */
export async function addIndex(
  layout: ImageLayout,
  manifests: readonly Descriptor[],
  format: 'oci' | 'docker' = 'oci',
): Promise<{ descriptor: Descriptor; bytes: string }> {
  const mediaType = format === 'docker' ? MEDIA.dockerList : MEDIA.ociIndex;
  const bytes = JSON.stringify({ schemaVersion: 2, mediaType, manifests });
  return { descriptor: await layout.addBlob(bytes, mediaType), bytes };
}

export interface Creds {
  readonly username: string;
  readonly password: string;
}

function credArgs(prefix: 'src' | 'dest' | '', creds: Creds | undefined): string[] {
  const flag = prefix === '' ? '' : `${prefix}-`;
  return [
    `--${flag}tls-verify=false`,
    ...(creds ? [`--${flag}creds`, `${creds.username}:${creds.password}`] : [`--${flag}no-creds`]),
  ];
}

/** Pushes the layout entry `name` to `docker://target` with skopeo, every manifest and blob as is. */
export async function pushLayout(
  layout: ImageLayout,
  name: string,
  target: string,
  creds?: Creds,
): Promise<void> {
  await layout.writeIndex();
  requireProgram('skopeo');
  await run(
    'skopeo',
    [
      'copy',
      '--all',
      '--preserve-digests',
      '--retry-times',
      '2',
      ...credArgs('dest', creds),
      `oci:${layout.dir}:${name}`,
      `docker://${target}`,
    ],
    { maxBuffer: 16 << 20 },
  );
}

/** The exact manifest bytes the registry serves for `target` (`host/repo:tag` or `@digest`). */
export async function inspectRaw(target: string, creds?: Creds): Promise<Buffer> {
  requireProgram('skopeo');
  const { stdout } = await run('skopeo', ['inspect', '--raw', ...credArgs('', creds), `docker://${target}`], {
    encoding: 'buffer',
    maxBuffer: 16 << 20,
  });
  return stdout;
}

/** Whether skopeo can find `target` at all. */
export async function exists(target: string, creds?: Creds): Promise<boolean> {
  try {
    await inspectRaw(target, creds);
    return true;
  } catch {
    return false;
  }
}

export interface PushedImage {
  readonly reference: string;
  readonly digest: string;
  readonly manifest: BuiltManifest;
}

/** Builds a single image with random layers and pushes it to `target` (`host/repo:tag`). */
export async function pushRandomImage(
  target: string,
  creds: Creds | undefined,
  spec: ImageSpec = {},
): Promise<PushedImage> {
  const layout = await ImageLayout.create();
  try {
    const manifest = await addImage(layout, { layers: [1024, 2048], ...spec });
    layout.tag(manifest.descriptor, 'image');
    await pushLayout(layout, 'image', target, creds);
    return { reference: target, digest: manifest.descriptor.digest, manifest };
  } finally {
    await layout.remove();
  }
}
