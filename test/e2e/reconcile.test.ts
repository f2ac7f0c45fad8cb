// A missed delivery heals on the local stack: a commit promotes an image, its webhook delivery never
// arrives, `verify` says the image is missing; one run of the scheduled reconcile (the shipped
// `image-promoter reconcile` command, reading the branch head through the GitHub test server)
// enqueues a reconcile job, the stack's worker copies it and reports on the head commit, and
// `verify` exits 0. Everything real: moto SQS/STS/ECR tokens, two registries, git, the CLI.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  articleOverlayFiles,
  IMAGE_REPOSITORY,
  startLocalStack,
  type LocalStack,
} from '../../demo/local-stack';
import { pushSampleImage } from '../../demo/sample-image';
import { inspectDigest } from '../../demo/verify-registry';
import { runCli } from '../support/run-cli';

// Twice: the registries answering themselves, and through an ECR model in front of each.
for (const target of [
  { name: 'docker-registry', ecr: false },
  { name: 'through ECR models', ecr: true },
] as const)
  describe(`scheduled reconcile (local stack, ${target.name})`, () => reconcileCases(target.ecr));

function reconcileCases(ecr: boolean): void {
  let stack: LocalStack;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    stack = await startLocalStack({ retryDelaySeconds: 1, maxReceiveCount: 3, ecr });
    env = {
      ...stack.moto.env(),
      QUEUE_URL: stack.queueUrl,
      GITHUB_TOKEN: stack.github.token,
      GITHUB_API_URL: stack.github.url,
      // The CLI's own docker login must not answer for the stack's registries.
      DOCKER_CONFIG: `${stack.configFile}.docker`,
    };
  });
  after(async () => {
    await stack?.stop();
  });

  it('heals a push whose delivery was dropped: verify fails, reconcile enqueues, verify passes', async () => {
    // Prepare: the image is at the source and the overlay promotes it; no delivery is sent.
    const image = await pushSampleImage(stack.dev, IMAGE_REPOSITORY, '3.0.0');
    const push = await stack.pushCommit(articleOverlayFiles({ productionTag: '3.0.0' }), 'production: 3.0.0');
    const verifyArgs = ['verify', '--config', stack.configFile, '--json'];
    const before = await runCli(verifyArgs, { env });
    assert.equal(before.code, 1, before.stderr);
    assert.deepEqual(
      (
        JSON.parse(before.stdout) as { environments: { images: { state: string }[] }[] }
      ).environments[0]!.images.map((i) => i.state),
      ['missing'],
    );

    // Act
    const reconcile = await runCli(['reconcile', '--config', stack.configFile], { env });
    const final = await stack.waitForFinalStatus(push.after);
    const after = await runCli(verifyArgs, { env });

    // Assess
    assert.equal(reconcile.code, 0, reconcile.stderr);
    assert.match(reconcile.stderr, /reconcile: production at [0-9a-f]{12}: 1 not in place, 1 enqueued/);
    const metric = reconcile.stdout
      .split('\n')
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((doc) => 'DriftImages' in doc);
    assert.equal(metric?.['DriftImages'], 1);
    assert.equal(metric?.['Environment'], 'production');
    assert.deepEqual(
      stack.statuses(push.after).map((s) => s.state),
      ['pending', 'success'],
    );
    assert.match(stack.statuses(push.after)[0]!.description ?? '', /^reconciling 1 image missing/);
    assert.equal(final.state, 'success');
    assert.equal(await inspectDigest(stack.prod, `${IMAGE_REPOSITORY}:3.0.0`), image.indexDigest);
    assert.equal(after.code, 0, after.stdout);

    // The worker recorded what it promoted, and who asked: `history` reads it back from the table.
    const history = await runCli(['history', '--environment', 'production', '--json'], {
      env: { ...env, DELIVERIES_TABLE: 'image-promoter-deliveries' },
    });
    assert.equal(history.code, 0, history.stderr);
    const promotions = (JSON.parse(history.stdout) as { promotions: Record<string, unknown>[] }).promotions;
    assert.equal(promotions.length, 1);
    assert.equal(
      promotions[0]!['image'],
      `222222222222.dkr.ecr.us-east-1.amazonaws.com/${IMAGE_REPOSITORY}:3.0.0`,
    );
    assert.equal(promotions[0]!['digest'], image.indexDigest);
    assert.equal(promotions[0]!['commit'], push.after);
    assert.equal(promotions[0]!['pusher'], 'scheduled reconcile');
    assert.match(String(promotions[0]!['deliveryId']), /^reconcile-/);
    assert.ok(Number(promotions[0]!['bytes']) > 0);

    // A second run finds nothing to do.
    const again = await runCli(['reconcile', '--config', stack.configFile], { env });
    assert.match(again.stderr, /0 not in place, 0 enqueued/);
  });
}
