// The copy engine against two real CNCF registries (basic auth, user AWS), images built and pushed
// by skopeo, and every result read back by skopeo: an independent client is the judge of
// byte-identity. Fault cases use the registry's own storage (corrupted blob) and closed ports.
// The whole suite runs twice: straight to the registries, and with the engine talking to each
// through an ECR model (test/support/ecr-model.ts: ECR's quotas, 201 PATCHes, no blob mounting,
// presigned blob reads). Set-up and read-back always go straight to the registries (they are not
// under test): a test names images by the registry's host, and only the engine's clients are
// pointed at the model, as the worker's registryEndpoints point an ECR host at an endpoint.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../lambdas/adapters/registry-client';
import { copyImage, type CopyEvent, type CopyResult } from '../../lambdas/copy/copy-image';
import {
  BlobUnknownError,
  DigestMismatchError,
  ManifestUnknownError,
  PromoterError,
  RegistryRequestError,
  RegistryUnavailableError,
  TagConflictError,
  UnauthorizedError,
} from '../../lambdas/core/errors';
import { parseImageRef } from '../../lambdas/core/image-ref';
import {
  addImage,
  addIndex,
  exists,
  ImageLayout,
  inspectRaw,
  MEDIA,
  pushLayout,
  pushRandomImage,
  sha256,
  type Descriptor,
} from '../support/images';
import { startEcrModel, type EcrModel } from '../support/ecr-model';
import { startFaultProxy } from '../support/fault-proxy';
import { freePort } from '../support/processes';
import { pushLayoutBlobsRaw, putManifestRaw } from '../support/raw-push';
import { startRegistry, type RegistryServer } from '../support/registry-server';

const FAST_RETRY = { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 };

/** Where the engine reaches each registry: the registry itself, or the ECR model in front of it. */
const endpoints = new Map<RegistryServer, string>();
const endpointOf = (server: RegistryServer): string => endpoints.get(server) ?? server.url;

function clientFor(server: RegistryServer, password = server.password): RegistryClient {
  return new RegistryClient({
    registry: server.host,
    endpoint: endpointOf(server),
    credentials: { username: server.username, password },
    retry: FAST_RETRY,
  });
}

async function copy(
  source: string,
  destination: string,
  src: RegistryServer,
  dst: RegistryServer,
  extra: { overwrite?: boolean; referrers?: boolean; events?: CopyEvent[] } = {},
): Promise<CopyResult> {
  return copyImage({
    source: parseImageRef(source),
    destination: parseImageRef(destination),
    sourceRegistry: clientFor(src),
    destinationRegistry: clientFor(dst),
    ...(extra.overwrite === undefined ? {} : { overwrite: extra.overwrite }),
    ...(extra.referrers === undefined ? {} : { referrers: extra.referrers }),
    onEvent: (event) => extra.events?.push(event),
  });
}

interface BuiltTree {
  readonly digest: string;
  readonly children: readonly string[];
}

/** Like pushRandomImage, but Docker-format images go up over plain HTTP (skopeo 1.9 pushes only
 * OCI media types from an OCI layout). */
async function pushImage(
  target: string,
  server: RegistryServer,
  spec: Parameters<typeof pushRandomImage>[2] = {},
): Promise<Awaited<ReturnType<typeof pushRandomImage>>> {
  if (spec.format !== 'docker') return pushRandomImage(target, server, spec);
  const ref = parseImageRef(target);
  const layout = await ImageLayout.create();
  try {
    const manifest = await addImage(layout, { layers: [1024, 2048], ...spec });
    await pushLayoutBlobsRaw(server, ref.repository, layout.dir);
    await putManifestRaw(server, ref.repository, ref.tag!, manifest.bytes, manifest.descriptor.mediaType);
    return { reference: target, digest: manifest.descriptor.digest, manifest };
  } finally {
    await layout.remove();
  }
}

/** Pushes an index of one image per platform (OCI index or Docker list). */
async function pushMultiPlatform(
  target: string,
  server: RegistryServer,
  format: 'oci' | 'docker',
): Promise<BuiltTree> {
  const layout = await ImageLayout.create();
  try {
    const platforms = [
      { architecture: 'amd64', os: 'linux' },
      { architecture: 'arm64', os: 'linux' },
      { architecture: 's390x', os: 'linux' },
    ];
    const images: Descriptor[] = [];
    for (const platform of platforms) {
      images.push((await addImage(layout, { layers: [1500, 700], format, platform })).descriptor);
    }
    const index = await addIndex(layout, images, format);
    if (format === 'oci') {
      layout.tag(index.descriptor, 'multi');
      await pushLayout(layout, 'multi', target, server);
    } else {
      const ref = parseImageRef(target);
      await pushLayoutBlobsRaw(server, ref.repository, layout.dir);
      for (const image of images) {
        const bytes = await readFile(join(layout.dir, 'blobs', 'sha256', image.digest.slice(7)));
        await putManifestRaw(server, ref.repository, image.digest, bytes, image.mediaType);
      }
      await putManifestRaw(server, ref.repository, ref.tag!, index.bytes, index.descriptor.mediaType);
    }
    return { digest: index.descriptor.digest, children: images.map((d) => d.digest) };
  } finally {
    await layout.remove();
  }
}

const TARGETS = [
  { name: 'docker-registry', ecr: false },
  { name: 'through ECR models', ecr: true },
] as const;

for (const target of TARGETS)
  describe(`copyImage (${target.name})`, () => {
    let src: RegistryServer;
    let dst: RegistryServer;
    let models: EcrModel[] = [];
    before(async () => {
      [src, dst] = await Promise.all([
        startRegistry({ password: '111111111111-auth-token' }),
        startRegistry({ password: '222222222222-auth-token' }),
      ]);
      if (target.ecr) {
        models = await Promise.all([
          startEcrModel({ upstream: src, accountId: '111111111111' }),
          startEcrModel({ upstream: dst, accountId: '222222222222' }),
        ]);
        endpoints.set(src, models[0]!.url);
        endpoints.set(dst, models[1]!.url);
      }
    });
    after(async () => {
      await Promise.all([...models.map((m) => m.stop()), src?.stop(), dst?.stop()]);
    });

    const single: readonly {
      readonly name: string;
      readonly spec: Parameters<typeof pushRandomImage>[2];
      readonly blobs: number;
    }[] = [
      { name: 'OCI image, two layers', spec: { layers: [4096, 300_000] }, blobs: 3 },
      {
        name: 'Docker v2 image, pretty-printed manifest',
        spec: { format: 'docker', pretty: true },
        blobs: 3,
      },
      { name: 'zero-layer image', spec: { layers: [] }, blobs: 1 },
      {
        name: 'OCI artifact (Helm-chart-like config media type)',
        spec: { artifactType: 'application/vnd.cncf.helm.config.v1+json', layers: [900] },
        blobs: 2,
      },
    ];
    for (const [i, { name, spec, blobs }] of single.entries()) {
      it(`copies a ${name} byte for byte`, async () => {
        // Prepare
        const repo = `single/app${i}`;
        const pushed = await pushImage(`${src.host}/${repo}:1.0`, src, spec);

        // Act
        const result = await copy(`${src.host}/${repo}:1.0`, `${dst.host}/${repo}:1.0`, src, dst);

        // Assess
        const raw = await inspectRaw(`${dst.host}/${repo}:1.0`, dst);
        assert.equal(raw.toString(), pushed.manifest.bytes);
        assert.equal(sha256(raw), pushed.digest);
        assert.equal(result.digest, pushed.digest);
        assert.equal(result.destination.digest, pushed.digest);
        assert.equal(result.destination.tag, '1.0');
        assert.equal(result.alreadyPresent, false);
        assert.deepEqual(result.blobs, {
          copied: blobs,
          mounted: 0,
          skipped: 0,
          bytes: [pushed.manifest.config, ...pushed.manifest.layers].reduce((n, d) => n + d.size, 0),
        });
        assert.deepEqual(result.manifests, { copied: 1, skipped: 0 });
      });
    }

    for (const format of ['oci', 'docker'] as const) {
      it(`copies every platform of a ${format} multi-platform index`, async () => {
        // Prepare
        const repo = `multi/${format}`;
        const tree = await pushMultiPlatform(`${src.host}/${repo}:2.0`, src, format);

        // Act
        const result = await copy(`${src.host}/${repo}:2.0`, `${dst.host}/${repo}:2.0`, src, dst);

        // Assess
        assert.equal(sha256(await inspectRaw(`${dst.host}/${repo}:2.0`, dst)), tree.digest);
        for (const child of tree.children) {
          const raw = await inspectRaw(`${dst.host}/${repo}@${child}`, dst);
          assert.equal(sha256(raw), child);
        }
        assert.equal(result.digest, tree.digest);
        assert.deepEqual(result.manifests, { copied: 4, skipped: 0 });
        assert.equal(result.blobs.copied, 9);
      });
    }

    it('copies to a different repository path and a different tag', async () => {
      // Prepare
      const pushed = await pushRandomImage(`${src.host}/team/svc:build-7`, src);

      // Act
      const result = await copy(`${src.host}/team/svc:build-7`, `${dst.host}/prod/team/svc:v7`, src, dst);

      // Assess
      assert.equal(sha256(await inspectRaw(`${dst.host}/prod/team/svc:v7`, dst)), pushed.digest);
      assert.equal(result.destination.repository, 'prod/team/svc');
      assert.equal(result.destination.tag, 'v7');
    });

    it('copies a digest-pinned source under the source tag when the destination names none', async () => {
      // Prepare
      const pushed = await pushRandomImage(`${src.host}/pinned/app:3.1`, src);

      // Act
      const result = await copy(
        `${src.host}/pinned/app:3.1@${pushed.digest}`,
        `${dst.host}/pinned/app`,
        src,
        dst,
      );

      // Assess
      assert.equal(sha256(await inspectRaw(`${dst.host}/pinned/app:3.1`, dst)), pushed.digest);
      assert.equal(result.destination.tag, '3.1');
    });

    it('is idempotent: a second copy writes nothing and reports alreadyPresent', async () => {
      // Prepare
      const tree = await pushMultiPlatform(`${src.host}/again/app:1`, src, 'oci');
      await copy(`${src.host}/again/app:1`, `${dst.host}/again/app:1`, src, dst);
      const events: CopyEvent[] = [];

      // Act
      const result = await copy(`${src.host}/again/app:1`, `${dst.host}/again/app:1`, src, dst, { events });

      // Assess
      assert.equal(result.alreadyPresent, true);
      assert.equal(result.digest, tree.digest);
      assert.deepEqual(result.blobs, { copied: 0, mounted: 0, skipped: 0, bytes: 0 });
      assert.deepEqual(result.manifests, { copied: 0, skipped: 1 });
      assert.ok(events.every((event) => event.type !== 'progress' && event.action === 'skipped'));
    });

    it('reports the bytes of every blob in flight as progress events, ending at its size', async () => {
      // Prepare: a layer of 3 MiB (several progress steps) and a small one.
      const pushed = await pushRandomImage(`${src.host}/progress/app:1`, src, { layers: [3 << 20, 1000] });
      const events: CopyEvent[] = [];

      // Act
      const result = await copy(`${src.host}/progress/app:1`, `${dst.host}/progress/app:1`, src, dst, {
        events,
      });

      // Assess
      const progress = new Map<string, number[]>();
      for (const event of events) {
        if (event.type === 'progress')
          progress.set(event.digest, [...(progress.get(event.digest) ?? []), event.bytes]);
      }
      const { config, layers } = pushed.manifest;
      for (const blob of [config, ...layers]) {
        const seen = progress.get(blob.digest) ?? [];
        assert.equal(seen.at(-1), blob.size, `last progress of ${blob.digest}`);
        assert.deepEqual(
          seen,
          [...seen].sort((a, b) => a - b),
          'progress only grows',
        );
      }
      assert.ok(
        (progress.get(layers[0]!.digest) ?? []).length >= 3,
        'the 3 MiB layer reported along the way',
      );
      assert.equal(result.blobs.bytes, config.size + layers[0]!.size + layers[1]!.size);
    });

    it('skips blobs the destination already holds (a new tag sharing layers)', async () => {
      // Prepare: the same image under a second source tag, copied to a second destination tag.
      const pushed = await pushRandomImage(`${src.host}/shared/app:a`, src);
      await copy(`${src.host}/shared/app:a`, `${dst.host}/shared/app:a`, src, dst);

      // Act
      const result = await copy(`${src.host}/shared/app:a`, `${dst.host}/shared/app:b`, src, dst);

      // Assess
      assert.equal(sha256(await inspectRaw(`${dst.host}/shared/app:b`, dst)), pushed.digest);
      assert.equal(result.alreadyPresent, false);
      assert.equal(result.blobs.copied, 0);
      assert.equal(result.blobs.skipped, 3);
    });

    it(
      target.ecr
        ? 'uploads blobs across repositories of the same registry when ECR does not mount (BLOB_MOUNTING off)'
        : 'mounts blobs across repositories of the same registry instead of streaming them',
      async () => {
        // Prepare
        const pushed = await pushRandomImage(`${src.host}/mount/from:1`, src);

        // Act
        const result = await copy(`${src.host}/mount/from:1`, `${src.host}/mount/to:1`, src, src);

        // Assess
        assert.equal(sha256(await inspectRaw(`${src.host}/mount/to:1`, src)), pushed.digest);
        assert.deepEqual([result.blobs.mounted, result.blobs.copied], target.ecr ? [0, 3] : [3, 0]);
      },
    );

    it('refuses to move a destination tag that points at another digest, unless told to', async () => {
      // Prepare
      const first = await pushRandomImage(`${src.host}/conflict/app:1.0`, src);
      await copy(`${src.host}/conflict/app:1.0`, `${dst.host}/conflict/app:1.0`, src, dst);
      const second = await pushRandomImage(`${src.host}/conflict/app:1.0`, src);

      // Act
      const refused = copy(`${src.host}/conflict/app:1.0`, `${dst.host}/conflict/app:1.0`, src, dst);

      // Assess
      await assert.rejects(refused, (e: unknown) => {
        assert.ok(e instanceof TagConflictError);
        assert.equal(e.retryable, false);
        assert.equal(e.existingDigest, first.digest);
        assert.equal(e.wantedDigest, second.digest);
        assert.match(e.message, /--overwrite/);
        return true;
      });
      assert.equal(sha256(await inspectRaw(`${dst.host}/conflict/app:1.0`, dst)), first.digest);

      // Act: with overwrite
      const moved = await copy(`${src.host}/conflict/app:1.0`, `${dst.host}/conflict/app:1.0`, src, dst, {
        overwrite: true,
      });

      // Assess
      assert.equal(moved.digest, second.digest);
      assert.equal(sha256(await inspectRaw(`${dst.host}/conflict/app:1.0`, dst)), second.digest);
    });

    it('copies referrers: the sha256-<hex> fallback index, its artifacts, and cosign tags', async () => {
      // Prepare: an image, an SBOM artifact whose subject is the image, the OCI 1.1 fallback tag
      // listing it, and a cosign-style signature under `sha256-<hex>.sig`.
      const repo = 'signed/app';
      const image = await pushRandomImage(`${src.host}/${repo}:1.0`, src);
      const subject: Descriptor = {
        mediaType: MEDIA.ociManifest,
        digest: image.digest,
        size: Buffer.byteLength(image.manifest.bytes),
      };
      const fallbackTag = image.digest.replace(':', '-');
      const layout = await ImageLayout.create();
      let sbomDigest: string;
      let sigDigest: string;
      let indexDigest: string;
      try {
        const sbom = await addImage(layout, {
          artifactType: 'application/spdx+json',
          layers: [512],
          subject,
        });
        sbomDigest = sbom.descriptor.digest;
        const { platform: _platform, ...sbomDescriptor } = sbom.descriptor;
        const index = await addIndex(layout, [{ ...sbomDescriptor, artifactType: 'application/spdx+json' }]);
        indexDigest = index.descriptor.digest;
        const sig = await addImage(layout, {
          artifactType: 'application/vnd.dev.cosign.simplesigning.v1+json',
          layers: [256],
        });
        sigDigest = sig.descriptor.digest;
        await pushLayoutBlobsRaw(src, repo, layout.dir);
        await putManifestRaw(src, repo, sbomDigest, sbom.bytes, MEDIA.ociManifest);
        await putManifestRaw(src, repo, fallbackTag, index.bytes, MEDIA.ociIndex);
        await putManifestRaw(src, repo, `${fallbackTag}.sig`, sig.bytes, MEDIA.ociManifest);
      } finally {
        await layout.remove();
      }

      // Act
      const result = await copy(`${src.host}/${repo}:1.0`, `${dst.host}/${repo}:1.0`, src, dst);

      // Assess
      assert.equal(sha256(await inspectRaw(`${dst.host}/${repo}@${sbomDigest}`, dst)), sbomDigest);
      assert.equal(sha256(await inspectRaw(`${dst.host}/${repo}:${fallbackTag}`, dst)), indexDigest);
      assert.equal(sha256(await inspectRaw(`${dst.host}/${repo}:${fallbackTag}.sig`, dst)), sigDigest);
      assert.equal(result.referrers, 2);

      // Act: with referrers off, into another repository
      const bare = await copy(`${src.host}/${repo}:1.0`, `${dst.host}/bare/app:1.0`, src, dst, {
        referrers: false,
      });

      // Assess
      assert.equal(bare.referrers, 0);
      assert.equal(await exists(`${dst.host}/bare/app:${fallbackTag}.sig`, dst), false);
    });

    it('takes a refused manifest PUT as done when the tag already holds exactly those bytes', async () => {
      // Prepare: the destination stores the tag but answers 400, as an immutable-tag registry answers
      // the retry of a PUT whose first answer was lost.
      const pushed = await pushRandomImage(`${src.host}/immutable/app:1`, src);
      const proxy = await startFaultProxy({ upstream: endpointOf(dst) });
      proxy.setRules([
        {
          name: 'refused',
          methods: ['PUT'],
          path: /\/manifests\/1$/,
          action: { kind: 'status', status: 400, forward: true },
        },
      ]);
      try {
        // Act
        const result = await copyImage({
          source: parseImageRef(`${src.host}/immutable/app:1`),
          destination: parseImageRef(`${proxy.host}/immutable/app:1`),
          sourceRegistry: clientFor(src),
          destinationRegistry: new RegistryClient({
            registry: proxy.host,
            credentials: dst,
            retry: FAST_RETRY,
          }),
        });

        // Assess
        assert.equal(proxy.stats('refused').injected, 1);
        assert.equal(result.digest, pushed.digest);
        assert.equal(sha256(await inspectRaw(`${dst.host}/immutable/app:1`, dst)), pushed.digest);
      } finally {
        await proxy.stop();
      }
    });

    it('does not take a refused manifest PUT as done when the tag holds something else', async () => {
      // Prepare: the registry refuses the PUT without storing it (nothing under the tag).
      await pushRandomImage(`${src.host}/refused/app:1`, src);
      const proxy = await startFaultProxy({ upstream: endpointOf(dst) });
      proxy.setRules([
        {
          name: 'refused',
          methods: ['PUT'],
          path: /\/manifests\/1$/,
          action: { kind: 'status', status: 400 },
        },
      ]);
      try {
        // Act
        const copying = copyImage({
          source: parseImageRef(`${src.host}/refused/app:1`),
          destination: parseImageRef(`${proxy.host}/refused/app:1`),
          sourceRegistry: clientFor(src),
          destinationRegistry: new RegistryClient({
            registry: proxy.host,
            credentials: dst,
            retry: FAST_RETRY,
          }),
        });

        // Assess
        await assert.rejects(copying, (e: unknown) => e instanceof RegistryRequestError && e.status === 400);
      } finally {
        await proxy.stop();
      }
    });

    it('stops when the caller aborts, and writes no tag', async () => {
      // Prepare: a copy whose caller gives up (e.g. the Lambda ran out of time) once the first blob is done.
      await pushRandomImage(`${src.host}/aborted/app:1`, src, { layers: [200_000, 300_000, 400_000] });
      const controller = new AbortController();
      const reason = new Error('out of time');

      // Act
      const copying = copyImage({
        source: parseImageRef(`${src.host}/aborted/app:1`),
        destination: parseImageRef(`${dst.host}/aborted/app:1`),
        sourceRegistry: clientFor(src),
        destinationRegistry: clientFor(dst),
        blobJobs: 1,
        signal: controller.signal,
        onEvent: (event) => {
          if (event.type === 'blob') controller.abort(reason);
        },
      });

      // Assess
      await assert.rejects(copying, (e: unknown) => e === reason);
      assert.equal(await exists(`${dst.host}/aborted/app:1`, dst), false);
    });

    it('fails with a retryable DigestMismatchError when the source serves corrupted blob bytes', async () => {
      // Prepare: corrupt one layer in the source registry's own storage.
      const pushed = await pushRandomImage(`${src.host}/corrupt/app:1`, src, { layers: [5000] });
      const layer = pushed.manifest.layers[0]!;
      const hex = layer.digest.slice('sha256:'.length);
      const blobFile = join(
        src.rootDirectory,
        'docker/registry/v2/blobs/sha256',
        hex.slice(0, 2),
        hex,
        'data',
      );
      await writeFile(blobFile, Buffer.alloc(layer.size, 7));

      // Act
      const copying = copy(`${src.host}/corrupt/app:1`, `${dst.host}/corrupt/app:1`, src, dst);

      // Assess
      await assert.rejects(copying, (e: unknown) => {
        assert.ok(e instanceof DigestMismatchError, String(e));
        assert.equal(e.retryable, true);
        assert.equal(e.registry, src.host);
        return true;
      });
      assert.equal(await exists(`${dst.host}/corrupt/app:1`, dst), false);
    });

    it('fails with BlobUnknownError when the source lacks a blob its manifest names', async () => {
      // Prepare: delete a layer from the source registry's storage.
      const pushed = await pushRandomImage(`${src.host}/missing-blob/app:1`, src, { layers: [3000] });
      const layer = pushed.manifest.layers[0]!;
      const hex = layer.digest.slice('sha256:'.length);
      const { rm } = await import('node:fs/promises');
      await rm(join(src.rootDirectory, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex), {
        recursive: true,
      });

      // Act
      const copying = copy(`${src.host}/missing-blob/app:1`, `${dst.host}/missing-blob/app:1`, src, dst);

      // Assess
      await assert.rejects(copying, (e: unknown) => e instanceof BlobUnknownError && !e.retryable);
    });

    const failures: readonly {
      readonly name: string;
      readonly act: () => Promise<CopyResult>;
      readonly expect: (e: unknown) => boolean;
    }[] = [
      {
        name: 'a missing source tag is ManifestUnknownError (permanent)',
        act: () => copy(`${src.host}/nothing/here:1`, `${dst.host}/nothing/here:1`, src, dst),
        expect: (e) => e instanceof ManifestUnknownError && !e.retryable && e.registry === src.host,
      },
      {
        name: 'a wrong source password is UnauthorizedError (permanent)',
        act: async () => {
          await pushRandomImage(`${src.host}/auth/app:1`, src);
          return copyImage({
            source: parseImageRef(`${src.host}/auth/app:1`),
            destination: parseImageRef(`${dst.host}/auth/app:1`),
            sourceRegistry: clientFor(src, 'wrong'),
            destinationRegistry: clientFor(dst),
          });
        },
        expect: (e) => e instanceof UnauthorizedError && !e.retryable && e.status === 401,
      },
      {
        name: 'an unreachable destination is RegistryUnavailableError (retryable)',
        act: async () => {
          await pushRandomImage(`${src.host}/down/app:1`, src);
          const port = await freePort();
          return copyImage({
            source: parseImageRef(`${src.host}/down/app:1`),
            destination: parseImageRef(`127.0.0.1:${port}/down/app:1`),
            sourceRegistry: clientFor(src),
            destinationRegistry: new RegistryClient({ registry: `127.0.0.1:${port}`, retry: FAST_RETRY }),
          });
        },
        expect: (e) => e instanceof RegistryUnavailableError && e.retryable && /ECONNREFUSED/.test(e.message),
      },
    ];
    for (const { name, act, expect } of failures) {
      it(name, async () => {
        await assert.rejects(act(), (e: unknown) => {
          assert.ok(e instanceof PromoterError, String(e));
          assert.doesNotMatch(e.message, /\n/);
          return expect(e);
        });
      });
    }
  });
