// The worker end to end on real parts (see world.ts): SQS-shaped events in, images in the
// destination registry (checked with skopeo, an independent client), statuses on the commit
// (recorded by the GitHub test server), logs and EMF metrics out.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CreateRepositoryCommand, DescribeRepositoriesCommand, ECRClient } from '@aws-sdk/client-ecr';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { createSqsPoller } from '../../lambdas/adapters/sqs-poller';
import { createAssumeRoleCredentialProvider } from '../../lambdas/adapters/sts-credentials';
import { runLocalWorker } from '../../lambdas/worker/local-runner';
import {
  addImage,
  addIndex,
  ImageLayout,
  inspectRaw,
  pushLayout,
  pushRandomImage,
  sha256,
} from '../support/images';
import {
  DST,
  ENVIRONMENT,
  MAX_RECEIVE_COUNT,
  ROLE_ARN,
  SRC,
  sqsEvent,
  startWorld,
  type World,
} from './world';

const CONTEXT = `image-promotion/${ENVIRONMENT}`;

describe('worker end to end', () => {
  let world: World;
  before(async () => {
    world = await startWorld();
  });
  after(async () => {
    await world?.stop();
  });

  /** Pushes a random single-platform image to the source registry; returns its digest. */
  const pushSource = async (
    repositoryAndTag: string,
    layers: readonly number[] = [2048, 4096],
  ): Promise<string> =>
    (await pushRandomImage(`${world.source.host}/${repositoryAndTag}`, world.source, { layers })).digest;

  /** Pushes a two-platform OCI index to the source registry; returns the index and child digests. */
  const pushSourceIndex = async (
    repositoryAndTag: string,
  ): Promise<{ index: string; children: string[] }> => {
    const layout = await ImageLayout.create();
    try {
      const amd = await addImage(layout, {
        layers: [1024],
        platform: { architecture: 'amd64', os: 'linux' },
      });
      const arm = await addImage(layout, {
        layers: [1024],
        platform: { architecture: 'arm64', os: 'linux' },
      });
      const index = await addIndex(layout, [amd.descriptor, arm.descriptor]);
      layout.tag(index.descriptor, 'image');
      await pushLayout(layout, 'image', `${world.source.host}/${repositoryAndTag}`, world.source);
      return { index: index.descriptor.digest, children: [amd.descriptor.digest, arm.descriptor.digest] };
    } finally {
      await layout.remove();
    }
  };

  const destinationDigest = async (reference: string): Promise<string> =>
    sha256(await inspectRaw(`${world.destination.host}/${reference}`, world.destination));

  const destinationExists = async (reference: string): Promise<boolean> =>
    destinationDigest(reference).then(
      () => true,
      () => false,
    );

  const statusesOf = (commit: string): { state: string; description: string | null; context: string }[] =>
    world.github
      .statuses(commit)
      .map((s) => ({ state: s.state, description: s.description, context: s.context }));

  it('promotes several images, an index with all its platforms included, and reports success', async () => {
    // Prepare
    const api = await pushSource('shop/api:1.0');
    const web = await pushSourceIndex('shop/web:2.0');
    const commit = await world.newCommit();
    const job = world.job(commit, [
      { source: `${SRC}/shop/api:1.0@${api}`, destination: `${DST}/shop/api:1.0` },
      { source: `${SRC}/shop/web:2.0`, destination: `${DST}/shop/web:2.0` },
    ]);
    world.clearOutput();
    // Act
    const response = await world.worker().handleEvent(sqsEvent([{ body: JSON.stringify(job) }]));
    // Assess
    assert.deepEqual(response.batchItemFailures, []);
    const statuses = world.github.statuses(commit);
    assert.equal(statuses.length, 1);
    assert.equal(statuses[0]?.state, 'success');
    assert.equal(statuses[0]?.context, CONTEXT);
    assert.match(statuses[0]?.description ?? '', /^2 images promoted, \d+(\.\d)? kB, \d+ (ms|s)$/);
    assert.equal(statuses[0]?.target_url, 'https://dashboard.example.com/promotions');
    assert.equal(await destinationDigest('shop/api:1.0'), api);
    assert.equal(await destinationDigest('shop/web:2.0'), web.index);
    for (const child of web.children) assert.equal(await destinationDigest(`shop/web@${child}`), child);

    const audit = world.logs().filter((l) => l['audit'] === true);
    assert.deepEqual(
      audit
        .map((l) => [l['message'], l['source'], l['destination'], l['digest'], l['pusher'], l['commit']])
        .sort(),
      [
        [
          'image promoted',
          `${SRC}/shop/api:1.0@${api}`,
          `${DST}/shop/api:1.0@${api}`,
          api,
          'octocat',
          commit,
        ],
        [
          'image promoted',
          `${SRC}/shop/web:2.0`,
          `${DST}/shop/web:2.0@${web.index}`,
          web.index,
          'octocat',
          commit,
        ],
      ].sort(),
    );
    for (const line of world.logs().filter((l) => String(l['message']).startsWith('promotion'))) {
      assert.equal(line['deliveryId'], job.deliveryId);
      assert.equal(line['commit'], commit);
      assert.equal(line['environment'], ENVIRONMENT);
    }
    assert.ok(audit.every((l) => typeof l['image'] === 'string'));
    assert.ok(!JSON.stringify(world.logs()).includes(world.source.password), 'no token in the logs');

    const [emf, ...more] = world.metrics();
    assert.equal(more.length, 0);
    assert.equal(emf?.['Environment'], ENVIRONMENT);
    assert.equal(emf?.['ImagesPromoted'], 2);
    assert.equal(emf?.['ImagesAlreadyPresent'], 0);
    assert.equal(emf?.['PromotionFailures'], 0);
    assert.equal(emf?.['BlobsCopied'], 3 + 4); // api: config + 2 layers; web: 2 configs + 2 layers
    assert.ok((emf?.['BytesCopied'] as number) > 2048 + 4096 + 1024 + 1024);
    assert.ok((emf?.['PushToPromotedLatency'] as number) >= 5000);
    assert.equal(typeof emf?.['PromotionDuration'], 'number');
  });
});
