// The Lambda entry point as Lambda calls it: configuration from IMAGE_PROMOTER_CONFIG, the GitHub
// token from GITHUB_TOKEN, ECR tokens from moto, a CloudWatch Logs target URL from the Lambda
// environment, and a configuration error that fails the invocation without poisoning the container.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Context } from 'aws-lambda';
import { buildLogsUrl } from '../../lambdas/core/promotion-summary';
import { handler } from '../../lambdas/worker/handler';
import { inspectRaw, pushRandomImage, sha256 } from '../support/images';
import { DST, SRC, sqsEvent, startWorld, type World } from './world';

const LAMBDA_ENV = {
  AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/image-promoter-worker',
  AWS_LAMBDA_LOG_STREAM_NAME: '2026/11/24/[$LATEST]0123456789abcdef',
} as const;

const context = {
  callbackWaitsForEmptyEventLoop: false,
  functionName: 'image-promoter-worker',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:222222222222:function:image-promoter-worker',
  memoryLimitInMB: '1024',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  logGroupName: LAMBDA_ENV.AWS_LAMBDA_LOG_GROUP_NAME,
  logStreamName: LAMBDA_ENV.AWS_LAMBDA_LOG_STREAM_NAME,
  getRemainingTimeInMillis: () => 900_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
} satisfies Context;

describe('worker Lambda handler', () => {
  let world: World;
  const saved = new Map<string, string | undefined>();
  const setEnv = (name: string, value: string | undefined): void => {
    if (!saved.has(name)) saved.set(name, process.env[name]);
    if (value === undefined) Reflect.deleteProperty(process.env, name);
    else process.env[name] = value;
  };
  before(async () => {
    world = await startWorld();
    for (const [name, value] of Object.entries(LAMBDA_ENV)) setEnv(name, value);
  });
  after(async () => {
    for (const [name, value] of saved) {
      if (value === undefined) Reflect.deleteProperty(process.env, name);
      else process.env[name] = value;
    }
    await world?.stop();
  });

  it('fails the invocation while the configuration is unreadable, then recovers once it is fixed', async () => {
    // Prepare: a configuration that is not valid, then the right one without a dashboard
    const { digest } = await pushRandomImage(`${world.source.host}/lambda/api:1.0`, world.source);
    const commit = await world.newCommit();
    const job = world.job(commit, [
      { source: `${SRC}/lambda/api:1.0`, destination: `${DST}/lambda/api:1.0` },
    ]);
    const event = sqsEvent([{ body: JSON.stringify(job) }]);
    setEnv('IMAGE_PROMOTER_CONFIG', 'environments: [');
    // Act
    const broken = await handler(event, context).then(
      () => undefined,
      (e: unknown) => e,
    );
    const { worker: _worker, ...withoutDashboard } = world.config;
    setEnv('IMAGE_PROMOTER_CONFIG', JSON.stringify({ ...withoutDashboard, worker: { maxReceiveCount: 3 } }));
    const response = await handler(event, context);
    // Assess
    assert.ok(broken instanceof Error);
    assert.match(broken.message, /IMAGE_PROMOTER_CONFIG/);
    assert.deepEqual(response.batchItemFailures, []);
    const statuses = world.github.statuses(commit);
    assert.equal(statuses.length, 1);
    assert.equal(statuses[0]?.state, 'success');
    assert.equal(
      statuses[0]?.target_url,
      buildLogsUrl('us-east-1', LAMBDA_ENV.AWS_LAMBDA_LOG_GROUP_NAME, LAMBDA_ENV.AWS_LAMBDA_LOG_STREAM_NAME),
    );
    assert.equal(
      sha256(await inspectRaw(`${world.destination.host}/lambda/api:1.0`, world.destination)),
      digest,
    );
    const finished = world.logs().find((l) => l['message'] === 'promotion finished');
    assert.equal(finished?.['function_request_id'], context.awsRequestId);
  });
});
