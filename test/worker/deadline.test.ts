// The worker's copies end before the Lambda does: the handler gives processPromotionJob the
// Lambda's remaining time less a margin (lambdas/copy/deadline.ts) as the copies' deadline. A source
// registry that holds every blob read (the fault proxy's delay, as a registry that accepts and never
// answers) fails the job with DeadlineExceededError — retried while attempts remain, and on the last
// attempt a final commit status — instead of running on until Lambda kills the invocation silently.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Context } from 'aws-lambda';
import { pushRandomImage } from '../support/images';
import { DST, ENVIRONMENT, MAX_RECEIVE_COUNT, SRC, sqsEvent, startWorld, type World } from './world';

/** A Lambda context with `remainingMs` left. */
function contextWith(remainingMs: number): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'image-promoter-worker',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:222222222222:function:image-promoter-worker',
    memoryLimitInMB: '1024',
    awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
    logGroupName: '/aws/lambda/image-promoter-worker',
    logStreamName: 'stream',
    getRemainingTimeInMillis: () => remainingMs,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

// Twice: straight to the registries, and through ECR models, where the held reads are the presigned
// storage's (the source's 307 leads there): the deadline ends those too.
for (const target of [
  { name: 'docker-registry', ecr: false },
  { name: 'through ECR models', ecr: true },
] as const)
  describe(`worker deadline (${target.name})`, () => deadlineCases(target.ecr));

function deadlineCases(ecr: boolean): void {
  let world: World;
  before(async () => {
    world = await startWorld({ ecr });
  });
  after(async () => {
    await world?.stop();
  });

  it('ends the copies at the Lambda remaining time less the margin, and reports on the last attempt', async () => {
    // Prepare: every blob read held 20 s by the source; 4 s left in the Lambda: a 2 s budget
    await pushRandomImage(`${world.source.host}/slow/api:1.0`, world.source, { layers: [2048] });
    world.blobProxy.setRules([
      {
        name: 'hold',
        methods: ['GET'],
        path: /\/sha256[:/][a-f0-9]{64}$/,
        action: { kind: 'delay', ms: 20_000 },
      },
    ]);
    const commit = await world.newCommit();
    const job = world.job(commit, [{ source: `${SRC}/slow/api:1.0`, destination: `${DST}/slow/api:1.0` }]);
    const worker = world.worker();
    world.clearOutput();

    try {
      // Act
      const first = await worker.handleEvent(sqsEvent([{ body: JSON.stringify(job) }]), contextWith(4000));
      const last = await worker.handleEvent(
        sqsEvent([{ body: JSON.stringify(job), receiveCount: MAX_RECEIVE_COUNT }]),
        contextWith(4000),
      );

      // Assess
      assert.deepEqual(
        first.batchItemFailures.map((f) => f.itemIdentifier),
        ['message-0'],
      );
      const failed = world.logs().filter((l) => l['message'] === 'image failed');
      assert.ok(failed.length >= 1);
      assert.match(String(failed[0]?.['error']), /did not finish within 2 s \(the Lambda's remaining time\)/);
      assert.equal(failed[0]?.['retryable'], true);
      // The last attempt gives up (the message goes on to the DLQ) with a final status.
      assert.equal(last.batchItemFailures.length, 1);
      const statuses = world.github.statuses(commit);
      assert.equal(statuses.length, 1);
      assert.equal(statuses[0]?.context, `image-promotion/${ENVIRONMENT}`);
      assert.notEqual(statuses[0]?.state, 'success');
      assert.ok(world.blobProxy.stats('hold').injected >= 1, 'a blob read was held');
    } finally {
      world.blobProxy.setRules([]);
    }
  });
}
