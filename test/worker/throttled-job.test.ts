// One job of ten multi-arch signed images promoted into an ECR model whose PutImage quota is low
// (test/support/ecr-model.ts: a token bucket, 429 TOOMANYREQUESTS "Rate exceeded" past it, no
// Retry-After, as ECR answers). The job must complete, and its copies must slow down together
// rather than each retrying on its own: the bound is on the model's count of 429s, never on time.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addImage, addIndex, ImageLayout, inspectRaw, MEDIA, sha256 } from '../support/images';
import { pushLayoutBlobsRaw, putManifestRaw } from '../support/raw-push';
import { DST, SRC, sqsEvent, startWorld, type World } from './world';

/** Manifest PUTs per second the destination takes: well under what ten images ask for at once. */
const PUT_IMAGE_QUOTA = 5;
const IMAGES = 10;
/** 429s the job may meet: a quarter of its 40 manifests. */
const MAX_THROTTLED = 10;

describe('worker: a job of ten multi-arch signed images under a low PutImage quota', () => {
  let world: World;
  before(async () => {
    // The world's retry policy: 2 tries per request, 10-20 ms apart.
    world = await startWorld({ ecr: { destination: { quotas: { PutImage: PUT_IMAGE_QUOTA } } } });
  });
  after(async () => {
    await world?.stop();
  });

  /** A two-platform OCI index and a cosign signature under `sha256-<hex>.sig`, pushed as bytes. */
  const pushSigned = async (
    repository: string,
    tag: string,
  ): Promise<{ index: string; signature: string }> => {
    const layout = await ImageLayout.create();
    try {
      const platforms = [];
      for (const architecture of ['amd64', 'arm64']) {
        platforms.push(await addImage(layout, { layers: [512], platform: { architecture, os: 'linux' } }));
      }
      const index = await addIndex(
        layout,
        platforms.map((p) => p.descriptor),
      );
      const signature = await addImage(layout, {
        artifactType: 'application/vnd.dev.cosign.simplesigning.v1+json',
        layers: [256],
      });
      await pushLayoutBlobsRaw(world.source, repository, layout.dir);
      for (const platform of platforms) {
        await putManifestRaw(
          world.source,
          repository,
          platform.descriptor.digest,
          platform.bytes,
          MEDIA.ociManifest,
        );
      }
      await putManifestRaw(world.source, repository, tag, index.bytes, MEDIA.ociIndex);
      const signatureTag = `${index.descriptor.digest.replace(':', '-')}.sig`;
      await putManifestRaw(world.source, repository, signatureTag, signature.bytes, MEDIA.ociManifest);
      return { index: index.descriptor.digest, signature: signature.descriptor.digest };
    } finally {
      await layout.remove();
    }
  };

  it('completes, with the copies pausing together: 429s stay bounded', async (t) => {
    // Prepare
    const images = [];
    for (let i = 0; i < IMAGES; i++)
      images.push({ repository: `shop/svc-${i}`, ...(await pushSigned(`shop/svc-${i}`, '1.0')) });
    const commit = await world.newCommit();
    const job = world.job(
      commit,
      images.map(({ repository }) => ({
        source: `${SRC}/${repository}:1.0`,
        destination: `${DST}/${repository}:1.0`,
      })),
    );
    const model = world.ecr!.destination;
    world.clearOutput();
    // Act
    const started = Date.now();
    const response = await world.worker().handleEvent(sqsEvent([{ body: JSON.stringify(job) }]));
    const ms = Date.now() - started;
    // Assess
    const puts = model.calls('PutImage');
    const throttled = model.throttled('PutImage');
    t.diagnostic(`PutImage: ${puts} calls, ${throttled} answered 429; job ${ms} ms`);
    assert.deepEqual(response.batchItemFailures, [], 'done on the first attempt, with 2 tries per request');
    assert.equal(world.github.statuses(commit)[0]?.state, 'success');
    for (const { repository, index, signature } of images) {
      const at = `${world.destination.host}/${repository}`;
      assert.equal(sha256(await inspectRaw(`${at}:1.0`, world.destination)), index);
      assert.equal(
        sha256(await inspectRaw(`${at}:${index.replace(':', '-')}.sig`, world.destination)),
        signature,
      );
    }
    assert.ok(puts - throttled >= IMAGES * 4, `${puts - throttled} manifests stored`);
    // At most the PutImages in flight when the first 429 came back (4 copies at once, each putting
    // its platform manifests together) and one per later cut of the pace. The engine before shared
    // lanes: 20 of 60 answered 429 with the default retry policy, and with this one the job failed
    // (25 of 37, each request retried on its own 10-20 ms after its 429).
    assert.ok(throttled <= MAX_THROTTLED, `${throttled} of ${puts} PutImages answered 429`);
  });
});
