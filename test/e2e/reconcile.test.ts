// A missed delivery heals on the local stack by the schedule: a commit promotes an image, its webhook
// delivery never arrives, `verify` says the image is missing (the reconcile's EventBridge rule is
// still disabled); once the rule is enabled, the local scheduler invokes the reconcile Lambda's
// handler with a Scheduled Event, it reads the branch head through the GitHub test server and
// enqueues a reconcile job, the stack's worker copies it and reports on the head commit, and
// `verify` exits 0; a run by hand (`image-promoter reconcile`) then finds nothing to do. Everything
// real: moto SQS/STS/ECR tokens/EventBridge, two registries, git, the CLI.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
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

/** Polls `done` until it holds (a condition, not a clock: the deadline only bounds a hang). */
async function waitFor(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`not done within ${timeoutMs} ms`);
    await sleep(100);
  }
}

function reconcileCases(ecr: boolean): void {
  let stack: LocalStack;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    // A short period: the scheduler reads the rule every 2 s and runs the handler while it is enabled.
    stack = await startLocalStack({
      retryDelaySeconds: 1,
      maxReceiveCount: 3,
      ecr,
      reconcile: { everySeconds: 2 },
    });
    env = stack.cliEnv();
  });
  after(async () => {
    await stack?.stop();
  });

  it('heals a push whose delivery was dropped: verify fails, the scheduled reconcile enqueues, verify passes', async () => {
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

    // Act: what `aws events enable-rule` does; the scheduler fires at its next period.
    await stack.setReconcileRule(true);
    const final = await stack.waitForFinalStatus(push.after, 120_000);
    const after = await runCli(verifyArgs, { env });

    // Assess: the heal came from a scheduled invocation of the Lambda's handler.
    const scheduled = stack.output().reconcile;
    assert.match(
      scheduled,
      /reconcile \(scheduled \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\): production at [0-9a-f]{12}: 1 not in place, 1 enqueued/,
    );
    const logs = scheduled
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const checked = logs.find((l) => l['message'] === 'environment checked' && l['drifted'] === 1);
    assert.equal(checked?.['function_name'], 'image-promoter-reconcile');
    assert.equal(checked?.['reconcile'], true);
    const metric = logs.find((doc) => 'DriftImages' in doc && doc['DriftImages'] === 1);
    assert.equal(metric?.['Environment'], 'production');
    // The first status is the reconcile's; a run in the next period, before the copy lands, may
    // enqueue the image again (the worker then finds it present): only the last word counts.
    const states = stack.statuses(push.after);
    assert.match(states[0]!.description ?? '', /^reconciling 1 image missing/);
    assert.deepEqual([...new Set(states.map((s) => s.state))].sort(), ['pending', 'success']);
    assert.equal(final.state, 'success');
    assert.equal(await inspectDigest(stack.prod, `${IMAGE_REPOSITORY}:3.0.0`), image.indexDigest);
    assert.equal(after.code, 0, after.stdout);

    // The worker recorded what it promoted, and who asked: `history` reads it back from the table.
    const history = await runCli(['history', '--environment', 'production', '--json'], { env });
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

    // A later run finds nothing to do.
    await waitFor(() => /: 0 not in place, 0 enqueued/.test(stack.output().reconcile), 60_000);
    await stack.setReconcileRule(false);
    // One run by hand (`image-promoter reconcile`, the same run with a person's credentials) agrees.
    const once = await runCli(['reconcile', '--config', stack.configFile], { env });
    assert.equal(once.code, 0, once.stderr);
    assert.match(once.stderr, /^reconcile: production at [0-9a-f]{12}: 0 not in place, 0 enqueued$/m);
  });
}
