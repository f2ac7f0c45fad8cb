// The copy engine between two ECR models (test/support/ecr-model.ts): quotas, 201 PATCHes, no blob
// mounting, presigned blob reads, NAME_UNKNOWN, immutable tags and the 405 for a referrer of an
// index, at both ends of a real copy. Images are pushed straight into the registries behind the
// models (the set-up is not under test) and read back from them with skopeo.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../lambdas/adapters/registry-client';
import { copyImage, type CopyResult } from '../../lambdas/copy/copy-image';
import { PromoterError } from '../../lambdas/core/errors';
import { parseImageRef } from '../../lambdas/core/image-ref';
import { startEcrModel, type EcrModel } from '../support/ecr-model';
import {
  addImage,
  addIndex,
  ImageLayout,
  inspectRaw,
  MEDIA,
  pushLayout,
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
        repositories: ['multi/app', 'signed/app', 'locked/app'],
        immutableRepositories: ['locked/app'],
      }),
    ]);
  });
  after(async () => {
    await Promise.all([src?.stop(), dst?.stop(), srcRegistry?.stop(), dstRegistry?.stop()]);
  });

  const client = (model: EcrModel): RegistryClient =>
    new RegistryClient({
      registry: model.host,
      credentials: { username: model.username, password: model.password },
    });

  const copy = (repository: string, tag: string, to = repository): Promise<CopyResult> =>
    copyImage({
      source: parseImageRef(`${src.host}/${repository}:${tag}`),
      destination: parseImageRef(`${dst.host}/${to}:${tag}`),
      sourceRegistry: client(src),
      destinationRegistry: client(dst),
    });

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

  const refusals: readonly { readonly name: string; readonly to: string; readonly message: RegExp }[] = [
    {
      name: 'a destination repository that does not exist: NAME_UNKNOWN in one line',
      to: 'nowhere/app',
      message:
        /NAME_UNKNOWN.*The repository with name 'nowhere\/app' does not exist in the registry with id '222222222222'/,
    },
  ];
  for (const c of refusals) {
    it(`fails on ${c.name}`, async () => {
      // Prepare
      await pushIndex('refused/app', '1.0');
      // Act
      const copied = copy('refused/app', '1.0', c.to);
      // Assess
      await assert.rejects(copied, (e: unknown) => {
        assert.ok(e instanceof PromoterError);
        assert.equal(e.message.includes('\n'), false, 'one line');
        assert.match(e.message, c.message);
        return true;
      });
    });
  }
});
