// image-promoter end to end on the local stack (demo/local-stack.ts): real signed push deliveries to
// the `image-promoter webhook` process, jobs on moto's SQS, the worker process copying between two
// real registries, statuses recorded by the GitHub test server. Every case asserts the exact
// statuses on its commit, the queue and dead-letter queue, and what the registries hold (read with
// skopeo). Twice: the registries answering themselves, and through an ECR model in front of each
// (ECR's quotas, 201 PATCHes, no blob mounting, blob reads redirected to presigned storage). One
// stack per target; each case pushes its own commit on top of the previous one.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  articleOverlayFiles,
  IMAGE_REPOSITORY,
  INITIAL_PRODUCTION_TAG,
  startLocalStack,
  STATUS_CONTEXT,
  type LocalStack,
} from '../../demo/local-stack';
import { pushSampleImage } from '../../demo/sample-image';
import { inspectDigest, listRegistry } from '../../demo/verify-registry';
import type { FaultRule } from '../support/fault-proxy';
import { pushRandomImage } from '../support/images';

for (const target of [
  { name: 'docker-registry', ecr: false },
  { name: 'through ECR models', ecr: true },
] as const)
  describe(`image-promoter end to end (local stack, ${target.name})`, () => promotionCases(target.ecr));

function promotionCases(ecr: boolean): void {
  let stack: LocalStack;
  let replicas = 3;
  let productionTag = INITIAL_PRODUCTION_TAG;

  before(async () => {
    stack = await startLocalStack({ retryDelaySeconds: 1, maxReceiveCount: 3, ecr });
  });
  after(async () => {
    await stack?.stop();
  });

  /** Commits the article overlay with production at `tag` (and the current replicas). */
  const promote = async (tag: string): Promise<{ before: string; after: string }> => {
    productionTag = tag;
    return stack.pushCommit(articleOverlayFiles({ productionTag: tag, replicas }), `production: ${tag}`);
  };

  const states = (commit: string): [string, string | null][] =>
    stack.statuses(commit).map((s) => [s.state, s.description]);

  /** Waits (bounded) until the worker deleted or released every message: the queue is empty. */
  const waitForEmptyQueue = async (): Promise<void> => {
    for (let i = 0; i < 100; i++) {
      const depth = await stack.queueDepth();
      if (depth.visible + depth.inFlight + depth.delayed === 0) return;
      await sleep(100);
    }
    assert.fail(`queue not empty: ${JSON.stringify(await stack.queueDepth())}`);
  };

  const assertDeadLetterQueueEmpty = async (): Promise<void> => {
    const dlq = await stack.dlqDepth();
    assert.deepEqual(dlq, { visible: 0, inFlight: 0, delayed: 0 });
  };

  /** The worker's JSON log lines (Powertools) still in the process output's tail. */
  const workerLog = (): Record<string, unknown>[] =>
    stack
      .output()
      .worker.split('\n')
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });

  /** Manifest PUTs the worker sent to prod for `repository:tag` since the stack started. */
  const manifestPuts = (tag: string): number =>
    stack.prodProxy
      .requests()
      .filter((r) => r.method === 'PUT' && r.url === `/v2/${IMAGE_REPOSITORY}/manifests/${tag}`).length;

  it('promotes a signed multi-arch image: pending, then success; prod holds the same bytes', async () => {
    // Prepare
    const image = await pushSampleImage(stack.dev, IMAGE_REPOSITORY, '2.0.0');
    const push = await promote('2.0.0');
    // Act
    const delivery = await stack.deliver(push);
    const final = await stack.waitForFinalStatus(push.after);
    // Assess
    assert.equal(delivery.status, 202);
    assert.deepEqual(delivery.body['environments'], { production: 'pending' });
    assert.equal(final.context, STATUS_CONTEXT);
    const recorded = states(push.after);
    assert.equal(recorded.length, 2);
    assert.deepEqual(recorded[0], [
      'pending',
      'promoting 222222222222.dkr.ecr.us-east-1.amazonaws.com/shop/web:2.0.0',
    ]);
    assert.equal(recorded[1]?.[0], 'success');
    assert.match(recorded[1]?.[1] ?? '', /^1 image promoted, /);
    assert.equal(await inspectDigest(stack.prod, `${IMAGE_REPOSITORY}:2.0.0`), image.indexDigest);
    assert.equal(
      await inspectDigest(stack.prod, `${IMAGE_REPOSITORY}:${image.signatureTag}`),
      image.signatureDigest,
    );
    for (const digest of image.platformDigests) {
      assert.equal(await inspectDigest(stack.prod, `${IMAGE_REPOSITORY}@${digest}`), digest);
    }
    assert.deepEqual(await listRegistry(stack.prod), {
      [IMAGE_REPOSITORY]: ['2.0.0', image.signatureTag].sort(),
    });
    await waitForEmptyQueue();
    await assertDeadLetterQueueEmpty();
  });

  it('reports failure when the source image does not exist, and acknowledges the job', async () => {
    // Prepare
    const push = await promote('9.9.9-missing');
    // Act
    const delivery = await stack.deliver(push);
    const final = await stack.waitForFinalStatus(push.after);
    // Assess
    assert.equal(delivery.status, 202);
    assert.equal(final.state, 'failure');
    assert.match(final.description ?? '', /9\.9\.9-missing/);
    assert.deepEqual(
      states(push.after).map(([state]) => state),
      ['pending', 'failure'],
    );
    assert.equal(await inspectDigest(stack.prod, `${IMAGE_REPOSITORY}:9.9.9-missing`), undefined);
    await waitForEmptyQueue();
    await assertDeadLetterQueueEmpty();
  });

  it('reports failure on a tag conflict and leaves the destination untouched', async () => {
    // Prepare: prod already has 3.0.0, dev has a different 3.0.0.
    const existing = await pushRandomImage(`${stack.prod.host}/${IMAGE_REPOSITORY}:3.0.0`, stack.prod);
    await pushRandomImage(`${stack.dev.host}/${IMAGE_REPOSITORY}:3.0.0`, stack.dev);
    const putsBefore = manifestPuts('3.0.0');
    const push = await promote('3.0.0');
    // Act
    await stack.deliver(push);
    const final = await stack.waitForFinalStatus(push.after);
    // Assess
    assert.equal(final.state, 'failure');
    assert.match(final.description ?? '', /3\.0\.0/);
    assert.deepEqual(
      states(push.after).map(([state]) => state),
      ['pending', 'failure'],
    );
    assert.equal(await inspectDigest(stack.prod, `${IMAGE_REPOSITORY}:3.0.0`), existing.digest);
    assert.equal(manifestPuts('3.0.0'), putsBefore);
    await waitForEmptyQueue();
    await assertDeadLetterQueueEmpty();
  });

  it('retries through source registry faults (503 bursts, reset blob reads), then succeeds', async () => {
    // Prepare
    const image = await pushSampleImage(stack.dev, IMAGE_REPOSITORY, '4.0.0');
    const manifest503: FaultRule = {
      name: 'manifest-503',
      methods: ['GET'],
      path: /\/manifests\//,
      times: 2,
      action: { kind: 'status', status: 503 },
    };
    // Where the blob bytes come from: the registry (`/blobs/sha256:<hex>`), or through ECR the
    // presigned storage its 307 names (`/sha256/<hex>`).
    const blobReset: FaultRule = {
      name: 'blob-reset',
      methods: ['GET'],
      path: /\/sha256[:/][a-f0-9]{64}$/,
      times: 2,
      action: { kind: 'reset-response', afterBytes: 1000 },
    };
    if (stack.devBlobProxy === stack.devProxy) stack.devProxy.setRules([manifest503, blobReset]);
    else {
      stack.devProxy.setRules([manifest503]);
      stack.devBlobProxy.setRules([blobReset]);
    }
    const push = await promote('4.0.0');
    try {
      // Act
      await stack.deliver(push);
      const final = await stack.waitForFinalStatus(push.after);
      // Assess
      assert.equal(stack.devProxy.stats('manifest-503').injected, 2);
      assert.equal(stack.devBlobProxy.stats('blob-reset').injected, 2);
      assert.equal(final.state, 'success', final.description ?? '');
      assert.equal(states(push.after).at(-1)?.[0], 'success');
      assert.equal(await inspectDigest(stack.prod, `${IMAGE_REPOSITORY}:4.0.0`), image.indexDigest);
      await waitForEmptyQueue();
      await assertDeadLetterQueueEmpty();
    } finally {
      stack.devProxy.setRules([]);
      stack.devBlobProxy.setRules([]);
    }
  });

  it('returns the job to the queue when faults outlast the client retries; the next receive succeeds', async () => {
    // Prepare: more 503s on the source manifest than one attempt's retry budget.
    const image = await pushSampleImage(stack.dev, IMAGE_REPOSITORY, '4.5.0');
    stack.devProxy.setRules([
      {
        name: 'manifest-503',
        methods: ['GET'],
        path: /\/manifests\/4\.5\.0$/,
        times: 6,
        action: { kind: 'status', status: 503 },
      },
    ]);
    const push = await promote('4.5.0');
    try {
      // Act
      await stack.deliver(push);
      const final = await stack.waitForFinalStatus(push.after);
      // Assess
      assert.equal(stack.devProxy.stats('manifest-503').injected, 6);
      assert.ok(stack.devProxy.stats('manifest-503').matched > 6);
      const attempts = workerLog()
        .filter((l) => l['message'] === 'promotion started' && l['commit'] === push.after)
        .map((l) => l['attempt']);
      assert.deepEqual(attempts, [1, 2]);
      assert.equal(final.state, 'success', final.description ?? '');
      assert.deepEqual(
        states(push.after).filter(([state]) => state !== 'pending'),
        [['success', final.description]],
      );
      assert.equal(await inspectDigest(stack.prod, `${IMAGE_REPOSITORY}:4.5.0`), image.indexDigest);
      await waitForEmptyQueue();
      await assertDeadLetterQueueEmpty();
    } finally {
      stack.devProxy.setRules([]);
    }
  });

  it('promotes a redelivered webhook (same delivery id) once', async () => {
    // Prepare
    const image = await pushSampleImage(stack.dev, IMAGE_REPOSITORY, '5.0.0');
    const push = await promote('5.0.0');
    // Act
    const first = await stack.deliver(push);
    const second = await stack.deliver(push, { deliveryId: first.deliveryId });
    await stack.waitForFinalStatus(push.after);
    const third = await stack.deliver(push, { deliveryId: first.deliveryId });
    await waitForEmptyQueue();
    // Assess
    assert.equal(first.status, 202);
    assert.equal(second.status, 200);
    assert.equal(second.body['message'], 'duplicate delivery');
    assert.equal(third.status, 200);
    assert.deepEqual(
      states(push.after).map(([state]) => state),
      ['pending', 'success'],
    );
    assert.equal(manifestPuts('5.0.0'), 1);
    assert.equal(await inspectDigest(stack.prod, `${IMAGE_REPOSITORY}:5.0.0`), image.indexDigest);
    await assertDeadLetterQueueEmpty();
  });

  it('gives two pushes in quick succession each their own final status', async () => {
    // Prepare
    const [a, b] = await Promise.all([
      pushSampleImage(stack.dev, IMAGE_REPOSITORY, '6.0.0'),
      pushSampleImage(stack.dev, IMAGE_REPOSITORY, '6.1.0'),
    ]);
    const first = await promote('6.0.0');
    const second = await promote('6.1.0');
    // Act
    const deliveries = await Promise.all([stack.deliver(first), stack.deliver(second)]);
    const finals = await Promise.all([
      stack.waitForFinalStatus(first.after),
      stack.waitForFinalStatus(second.after),
    ]);
    // Assess
    assert.deepEqual(
      deliveries.map((d) => d.status),
      [202, 202],
    );
    assert.deepEqual(
      finals.map((f) => f.state),
      ['success', 'success'],
    );
    assert.deepEqual(
      states(first.after).map(([state]) => state),
      ['pending', 'success'],
    );
    assert.deepEqual(
      states(second.after).map(([state]) => state),
      ['pending', 'success'],
    );
    assert.equal(await inspectDigest(stack.prod, `${IMAGE_REPOSITORY}:6.0.0`), a.indexDigest);
    assert.equal(await inspectDigest(stack.prod, `${IMAGE_REPOSITORY}:6.1.0`), b.indexDigest);
    await waitForEmptyQueue();
    await assertDeadLetterQueueEmpty();
  });

  it('answers a replicas-only push with success "no image changes" and enqueues nothing', async () => {
    // Prepare
    replicas = 5;
    const registryBefore = await listRegistry(stack.prod);
    const push = await stack.pushCommit(
      articleOverlayFiles({ productionTag, replicas }),
      'production: 5 replicas',
    );
    // Act
    const delivery = await stack.deliver(push);
    // Assess: the webhook decided alone, synchronously.
    assert.equal(delivery.status, 202);
    assert.equal(delivery.body['message'], 'nothing to promote');
    assert.deepEqual(states(push.after), [['success', 'no image changes']]);
    assert.deepEqual(await stack.queueDepth(), { visible: 0, inFlight: 0, delayed: 0 });
    assert.deepEqual(await listRegistry(stack.prod), registryBefore);
    await assertDeadLetterQueueEmpty();
  });
  // Last: it leaves a message on the dead-letter queue, which the cases above assert empty.
  it('gives up with an error status when the source stays down, and SQS moves the job to the DLQ', async () => {
    // Prepare: every read of this tag's manifest fails, on every attempt.
    await pushSampleImage(stack.dev, IMAGE_REPOSITORY, '7.0.0');
    stack.devProxy.setRules([
      {
        name: 'source-down',
        methods: ['GET'],
        path: /\/manifests\/7\.0\.0$/,
        action: { kind: 'status', status: 503 },
      },
    ]);
    const push = await promote('7.0.0');
    try {
      // Act
      await stack.deliver(push);
      const final = await stack.waitForFinalStatus(push.after);
      let deadLetters: readonly string[] = [];
      for (let i = 0; i < 100 && deadLetters.length === 0; i++) {
        deadLetters = await stack.peekDeadLetters();
        if (deadLetters.length === 0) await sleep(200);
      }
      // Assess
      assert.equal(final.state, 'error');
      assert.match(final.description ?? '', /^gave up after 3 attempts: /);
      assert.deepEqual(
        states(push.after).map(([state]) => state),
        ['pending', 'error'],
      );
      assert.equal(deadLetters.length, 1);
      const job = JSON.parse(deadLetters[0]!) as { commit: string; environment: string };
      assert.equal(job.commit, push.after);
      assert.equal(job.environment, 'production');
      assert.equal(await inspectDigest(stack.prod, `${IMAGE_REPOSITORY}:7.0.0`), undefined);
      await waitForEmptyQueue();
    } finally {
      stack.devProxy.setRules([]);
    }
  });
}
