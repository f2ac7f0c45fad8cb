// The sample image the demo and the end-to-end tests promote: an OCI index of linux/amd64 and
// linux/arm64 images with small random layers, plus a cosign-style signature (an OCI manifest whose
// layer is the simple-signing payload, tagged `sha256-<index hex>.sig`), pushed with skopeo, an
// independent client. Demo and test tooling only: it never touches anything but the given registry.
import { randomBytes } from 'node:crypto';
import type { RegistryServer } from '../test/support/registry-server';
import { addImage, addIndex, ImageLayout, MEDIA, pushLayout, type Descriptor } from '../test/support/images';

export interface SampleImage {
  /** `repository:tag` inside the registry. */
  readonly repositoryAndTag: string;
  readonly indexDigest: string;
  readonly platformDigests: readonly string[];
  /** `sha256-<hex>.sig`. */
  readonly signatureTag: string;
  readonly signatureDigest: string;
}

const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';

/** Builds and pushes the sample image as `repository:tag` to `registry` (at its loopback host). */
export async function pushSampleImage(
  registry: RegistryServer,
  repository: string,
  tag: string,
  options: { readonly layerBytes?: number } = {},
): Promise<SampleImage> {
  const layout = await ImageLayout.create();
  try {
    const size = options.layerBytes ?? 64 * 1024;
    const amd = await addImage(layout, { layers: [size], platform: { architecture: 'amd64', os: 'linux' } });
    const arm = await addImage(layout, { layers: [size], platform: { architecture: 'arm64', os: 'linux' } });
    const index = await addIndex(layout, [amd.descriptor, arm.descriptor]);
    const signature = await addSignature(layout, `${registry.host}/${repository}`, index.descriptor);
    const signatureTag = `${index.descriptor.digest.replace(':', '-')}.sig`;
    layout.tag(index.descriptor, 'image');
    layout.tag(signature, 'signature');
    await pushLayout(layout, 'image', `${registry.host}/${repository}:${tag}`, registry);
    await pushLayout(layout, 'signature', `${registry.host}/${repository}:${signatureTag}`, registry);
    return {
      repositoryAndTag: `${repository}:${tag}`,
      indexDigest: index.descriptor.digest,
      platformDigests: [amd.descriptor.digest, arm.descriptor.digest],
      signatureTag,
      signatureDigest: signature.digest,
    };
  } finally {
    await layout.remove();
  }
}

/** A cosign signature manifest for `subject` (what `cosign sign` pushes: the simple-signing payload
 * as the only layer, the signature in its annotation). The signature bytes are random: nothing here
 * verifies them, the promotion only has to carry them over unchanged. */
async function addSignature(layout: ImageLayout, identity: string, subject: Descriptor): Promise<Descriptor> {
  const payload = JSON.stringify({
    critical: {
      identity: { 'docker-reference': identity },
      image: { 'docker-manifest-digest': subject.digest },
      type: 'cosign container image signature',
    },
    optional: null,
  });
  const layer = await layout.addBlob(payload, SIMPLE_SIGNING);
  const config = await layout.addBlob(
    JSON.stringify({
      architecture: '',
      os: '',
      config: {},
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
    }),
    MEDIA.ociConfig,
  );
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config,
    layers: [
      {
        ...layer,
        annotations: { 'dev.cosignproject.cosign/signature': randomBytes(64).toString('base64') },
      },
    ],
  });
  return layout.addBlob(manifest, MEDIA.ociManifest);
}
