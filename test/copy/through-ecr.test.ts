// The copy engine between two ECR models (test/support/ecr-model.ts): quotas, 201 PATCHes, no blob
// mounting, presigned blob reads, the 405 for a referrer of an index, and each refusal the engine
// can meet (NAME_UNKNOWN, immutable tags, refused manifest fields, size limits) as one line naming
// ECR's code and message, at both ends of a real copy. Images are pushed straight into the
// registries behind the models (the set-up is not under test) and read back from them with skopeo.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient, Throttle } from '../../lambdas/adapters/registry-client';
import { copyImage, type CopyResult } from '../../lambdas/copy/copy-image';
import { PromoterError, RateLimitedError } from '../../lambdas/core/errors';
import { parseImageRef } from '../../lambdas/core/image-ref';
import { startEcrModel, type EcrModel } from '../support/ecr-model';
import {
  addImage,
  addIndex,
  ImageLayout,
  inspectRaw,
  MEDIA,
  pushLayout,
  pushRandomImage,
  sha256,
  type Descriptor,
} from '../support/images';
import { pushLayoutBlobsRaw, putManifestRaw } from '../support/raw-push';
import { startRegistry, type RegistryServer } from '../support/registry-server';

describe('copyImage through ECR models', () => {
  let srcRegistry: RegistryServer;
  let dstRegistry: RegistryServer;
  let src: EcrModel;
  let dst: EcrModel;
  /** In front of the destination registry too: a tiny manifest limit, a tiny layer limit, and a
   * PutImage quota of 0 (every manifest PUT answered 429 without Retry-After). */
  let smallManifests: EcrModel;
  let smallLayers: EcrModel;
  let noPuts: EcrModel;
  before(async () => {
    [srcRegistry, dstRegistry] = await Promise.all([
      startRegistry({ password: '111111111111-auth-token' }),
      startRegistry({ password: '222222222222-auth-token' }),
    ]);
    [src, dst] = await Promise.all([
      startEcrModel({ upstream: srcRegistry, accountId: '111111111111' }),
      startEcrModel({
        upstream: dstRegistry,
        accountId: '222222222222',
        repositories: ['multi/app', 'signed/app', 'locked/app', 'features/app', 'data/app'],
        immutableRepositories: ['locked/app'],
      }),
    ]);
    [smallManifests, smallLayers, noPuts] = await Promise.all([
      startEcrModel({ upstream: dstRegistry, accountId: '222222222222', maxManifestBytes: 300 }),
      startEcrModel({ upstream: dstRegistry, accountId: '222222222222', maxLayerBytes: 1000 }),
      startEcrModel({ upstream: dstRegistry, accountId: '222222222222', quotas: { PutImage: 0 } }),
    ]);
  });
  after(async () => {
    await Promise.all([
      src?.stop(),
      dst?.stop(),
      smallManifests?.stop(),
      smallLayers?.stop(),
      noPuts?.stop(),
      srcRegistry?.stop(),
      dstRegistry?.stop(),
    ]);
  });

  const client = (model: EcrModel): RegistryClient =>
    new RegistryClient({
      registry: model.host,
      credentials: { username: model.username, password: model.password },
    });

  const copyThrough = (
    to: EcrModel,
    repository: string,
    tag: string,
    toRepository = repository,
    options: { readonly overwrite?: boolean } = {},
  ): Promise<CopyResult> =>
    copyImage({
      source: parseImageRef(`${src.host}/${repository}:${tag}`),
      destination: parseImageRef(`${to.host}/${toRepository}:${tag}`),
      sourceRegistry: client(src),
      destinationRegistry: client(to),
      ...options,
    });
  const copy = (
    repository: string,
    tag: string,
    to = repository,
    options: { readonly overwrite?: boolean } = {},
  ): Promise<CopyResult> => copyThrough(dst, repository, tag, to, options);

  /** A three-platform OCI index pushed into the source's registry; its digest and its platforms'. */
  async function pushIndex(
    repository: string,
    tag: string,
  ): Promise<{ index: Descriptor; images: Descriptor[] }> {
    const layout = await ImageLayout.create();
    try {
      const images: Descriptor[] = [];
      for (const architecture of ['amd64', 'arm64', 's390x']) {
        images.push(
          (await addImage(layout, { layers: [1500, 700], platform: { architecture, os: 'linux' } }))
            .descriptor,
        );
      }
      const index = await addIndex(layout, images);
      layout.tag(index.descriptor, 'multi');
      await pushLayout(layout, 'multi', `${srcRegistry.host}/${repository}:${tag}`, srcRegistry);
      return { index: index.descriptor, images };
    } finally {
      await layout.remove();
    }
  }

  it('copies every platform of an index byte for byte, reading blobs from presigned storage', async () => {
    // Prepare
    const { index } = await pushIndex('multi/app', '1.0');
    const storageReads = src.storage.requests.length;
    // Act
    const result = await copy('multi/app', '1.0');
    // Assess
    assert.equal(result.digest, index.digest);
    assert.equal(sha256(await inspectRaw(`${dstRegistry.host}/multi/app:1.0`, dstRegistry)), index.digest);
    assert.ok(src.storage.requests.length - storageReads >= 9, 'blobs read from storage');
    assert.equal(dst.calls('UploadLayerPart') + dst.calls('CompleteLayerUpload') > 0, true);
  });

  it('reports a referrer ECR refuses (subject is an index) without failing the image', async () => {
    // Prepare: an OCI 1.1 signature whose subject is the index, listed under the fallback tag
    const repository = 'signed/app';
    const { index } = await pushIndex(repository, '1.0');
    const layout = await ImageLayout.create();
    let signature: string;
    try {
      const sig = await addImage(layout, {
        artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        layers: [300],
        subject: index,
      });
      signature = sig.descriptor.digest;
      const { platform: _platform, ...descriptor } = sig.descriptor;
      const listing = await addIndex(layout, [
        { ...descriptor, artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' },
      ]);
      await pushLayoutBlobsRaw(srcRegistry, repository, layout.dir);
      await putManifestRaw(srcRegistry, repository, signature, sig.bytes, MEDIA.ociManifest);
      await putManifestRaw(
        srcRegistry,
        repository,
        index.digest.replace(':', '-'),
        listing.bytes,
        MEDIA.ociIndex,
      );
    } finally {
      await layout.remove();
    }
    // Act
    const result = await copy(repository, '1.0');
    // Assess
    assert.equal(result.digest, index.digest);
    assert.equal(
      sha256(await inspectRaw(`${dstRegistry.host}/${repository}:1.0`, dstRegistry)),
      index.digest,
    );
    assert.deepEqual(
      dst
        .refusals()
        .filter((r) => r.status === 405)
        .map((r) => r.path),
      [`/v2/${repository}/manifests/${signature}`],
    );
    assert.equal(result.refusedReferrers?.length, 1);
    assert.match(result.refusedReferrers?.[0] ?? '', /405.*UNSUPPORTED/);
  });

  /** An index of two platforms pushed as bytes, its child descriptors passed through `edit` first
   * (a field ECR refuses); the index's digest. */
  async function pushEditedIndex(
    repository: string,
    tag: string,
    edit: (descriptor: Descriptor) => Record<string, unknown> = (d) => ({ ...d }),
  ): Promise<string> {
    const layout = await ImageLayout.create();
    try {
      const images: Descriptor[] = [];
      for (const architecture of ['amd64', 'arm64']) {
        const image = await addImage(layout, { layers: [1500], platform: { architecture, os: 'linux' } });
        images.push(image.descriptor);
      }
      const bytes = JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.ociIndex,
        manifests: images.map(edit),
      });
      await pushLayoutBlobsRaw(srcRegistry, repository, layout.dir);
      for (const image of images) {
        const hex = image.digest.slice('sha256:'.length);
        const manifest = await readFile(join(layout.dir, 'blobs', 'sha256', hex));
        await putManifestRaw(srcRegistry, repository, image.digest, manifest, MEDIA.ociManifest);
      }
      await putManifestRaw(srcRegistry, repository, tag, bytes, MEDIA.ociIndex);
      return sha256(bytes);
    } finally {
      await layout.remove();
    }
  }

  // Every refusal of the model the engine can meet, and the one line it fails with: ECR's code and
  // message, as ECR said them (the model's header cites each). A refused referrer is above (reported,
  // not failed); 429s are paced and retried (test/worker/throttled-job.test.ts); the engine never
  // sends a part under 5 MiB before another (last case).
  const refusals: readonly {
    readonly name: string;
    readonly prepare: () => Promise<void>;
    readonly copy: () => Promise<CopyResult>;
    readonly message: RegExp;
  }[] = [
    {
      name: 'a destination repository that does not exist: NAME_UNKNOWN',
      prepare: async () => void (await pushIndex('refused/app', '1.0')),
      copy: () => copy('refused/app', '1.0', 'nowhere/app'),
      message:
        /NAME_UNKNOWN: The repository with name 'nowhere\/app' does not exist in the registry with id '222222222222'/,
    },
    {
      name: 'an immutable tag moved with overwrite: TAG_INVALID',
      prepare: async () => {
        await pushIndex('locked/app', '1.0');
        await copy('locked/app', '1.0');
        await pushIndex('locked/app', '1.0');
      },
      copy: () => copy('locked/app', '1.0', 'locked/app', { overwrite: true }),
      message:
        /TAG_INVALID: The image tag '1\.0' already exists in the 'locked\/app' repository and cannot be overwritten because the tag is immutable\./,
    },
    {
      name: 'platform.features in an index: MANIFEST_INVALID',
      prepare: async () =>
        void (await pushEditedIndex('features/app', '1.0', (d) => ({
          ...d,
          platform: { ...d.platform, features: ['sse4'] },
        }))),
      copy: () => copy('features/app', '1.0'),
      message: /MANIFEST_INVALID: Invalid parameter: platform field 'features' is not supported/,
    },
    {
      name: "a descriptor's data field: MANIFEST_INVALID",
      prepare: async () => void (await pushEditedIndex('data/app', '1.0', (d) => ({ ...d, data: 'e30=' }))),
      copy: () => copy('data/app', '1.0'),
      message: /MANIFEST_INVALID: Invalid parameter: descriptor field 'data' is not supported/,
    },
    {
      name: 'a manifest over the size limit: MANIFEST_INVALID',
      prepare: async () => void (await pushIndex('big-manifest/app', '1.0')),
      copy: () => copyThrough(smallManifests, 'big-manifest/app', '1.0'),
      message: /MANIFEST_INVALID: Manifest size exceeds the limit of 300 bytes/,
    },
    {
      name: 'a layer over the size limit: BLOB_UPLOAD_INVALID',
      prepare: async () => void (await pushIndex('big-layer/app', '1.0')),
      copy: () => copyThrough(smallLayers, 'big-layer/app', '1.0'),
      message: /BLOB_UPLOAD_INVALID: Layer size exceeds the limit of 1000 bytes/,
    },
  ];
  for (const c of refusals) {
    it(`fails in one line naming what ECR said on ${c.name}`, async () => {
      // Prepare
      await c.prepare();
      // Act
      const copied = c.copy();
      // Assess
      await assert.rejects(copied, (e: unknown) => {
        assert.ok(e instanceof PromoterError, String(e));
        assert.equal(e.message.includes('\n'), false, 'one line');
        assert.match(e.message, c.message);
        return true;
      });
    });
  }

  it('fails in one line naming what ECR said once a PUT throttled without Retry-After used its retries', async () => {
    // Prepare: one manifest PUT to make (a single-platform image), into a registry that answers every
    // PutImage 429 TOOMANYREQUESTS; the lane's floor is high and its cap 3, so the retries are spent
    // at once (the defaults, 0.5/s and 10, would take ~20 s).
    await pushRandomImage(`${srcRegistry.host}/throttled/app:1.0`, srcRegistry);
    const calls = noPuts.calls('PutImage');
    // Act
    const copied = copyImage({
      source: parseImageRef(`${src.host}/throttled/app:1.0`),
      destination: parseImageRef(`${noPuts.host}/throttled/app:1.0`),
      sourceRegistry: client(src),
      destinationRegistry: new RegistryClient({
        registry: noPuts.host,
        credentials: { username: noPuts.username, password: noPuts.password },
        throttle: new Throttle({ minRate: 1000, maxThrottledRetries: 3 }),
      }),
    });
    // Assess: the first PUT and 3 retries, each answered 429; then a retryable one-line error
    await assert.rejects(copied, (e: unknown) => {
      assert.ok(e instanceof RateLimitedError, String(e));
      assert.equal(e.retryable, true);
      assert.equal(e.message.includes('\n'), false, 'one line');
      assert.match(e.message, /answered 429 \(TOOMANYREQUESTS: Rate exceeded\); rate limited, retry later/);
      return true;
    });
    assert.equal(noPuts.calls('PutImage') - calls, 1 + 3);
  });

  it('never sends a layer part under 5 MiB before another (LAYER_PART_TOO_SMALL is not met)', async () => {
    // Prepare: every blob through a PATCH (no one-request PUT), and a 6 MiB layer
    const layout = await ImageLayout.create();
    let digest: string;
    try {
      const image = await addImage(layout, { layers: [6 * 1024 * 1024, 3000] });
      digest = image.descriptor.digest;
      layout.tag(image.descriptor, 'parts');
      await pushLayout(layout, 'parts', `${srcRegistry.host}/parts/app:1.0`, srcRegistry);
    } finally {
      await layout.remove();
    }
    const parts = dst.calls('UploadLayerPart');
    // Act
    const result = await copyImage({
      source: parseImageRef(`${src.host}/parts/app:1.0`),
      destination: parseImageRef(`${dst.host}/multi/app:parts`),
      sourceRegistry: client(src),
      destinationRegistry: new RegistryClient({
        registry: dst.host,
        credentials: { username: dst.username, password: dst.password },
        monolithicUploadBytes: 0,
      }),
    });
    // Assess
    assert.equal(result.digest, digest);
    assert.equal(dst.calls('UploadLayerPart') - parts, 3, 'one PATCH per blob');
    assert.deepEqual(
      dst.refusals().filter((r) => r.code === 'LAYER_PART_TOO_SMALL'),
      [],
    );
  });
  it('sends a layer over 8 MiB as POST and one PUT carrying it, no part request', async () => {
    // Prepare: a 9 MiB layer (over the old one-PUT limit, which sent it as POST, PATCH, PUT)
    const layout = await ImageLayout.create();
    let digest: string;
    try {
      const image = await addImage(layout, { layers: [9 * 1024 * 1024] });
      digest = image.descriptor.digest;
      layout.tag(image.descriptor, 'large');
      await pushLayout(layout, 'large', `${srcRegistry.host}/large/app:9m`, srcRegistry);
    } finally {
      await layout.remove();
    }
    const [parts, closes] = [dst.calls('UploadLayerPart'), dst.calls('CompleteLayerUpload')];
    // Act
    const result = await copy('large/app', '9m', 'multi/app');
    // Assess: config and layer each one InitiateLayerUpload and one CompleteLayerUpload
    assert.equal(result.digest, digest);
    assert.equal(dst.calls('UploadLayerPart') - parts, 0, 'no PATCH');
    assert.equal(dst.calls('CompleteLayerUpload') - closes, 2, 'one PUT per blob');
    assert.equal(sha256(await inspectRaw(`${dstRegistry.host}/multi/app:9m`, dstRegistry)), digest);
  });
});
