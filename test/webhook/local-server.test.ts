// `image-promoter webhook` as a user runs it: a child process serving the handler over plain HTTP,
// real HTTP requests (JSON and form-encoded bodies) turned into Function URL events, jobs on SQS
// (moto), statuses on the GitHub test server, a clean stop on SIGTERM.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sign } from '@octokit/webhooks-methods';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { parsePromotionJob } from '../../lambdas/core/job';
import { createGitRepo, type GitRepo } from '../support/git-repo';
import { startGitHubServer, type GitHubServer } from '../support/github-server';
import { startMoto, type MotoServer } from '../support/moto-server';
import { pushPayload } from './fixtures';

const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const DST = '222222222222.dkr.ecr.us-east-1.amazonaws.com';

const overlay = (tag: string): Record<string, string> => ({
  'overlays/prod/kustomization.yaml': 'resources:\n  - deployment.yaml\n',
  'overlays/prod/deployment.yaml': `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: ${DST}/shop/api:${tag}\n`,
});

describe('image-promoter webhook (local server)', () => {
  let repo: GitRepo;
  let github: GitHubServer;
  let moto: MotoServer;
  let child: ChildProcess;
  let url: string;
  let queueUrl: string;
  let sqs: SQSClient;
  let c0: string;
  let c1: string;
  let output = '';
  let configFile: string;

  before(async () => {
    repo = await createGitRepo(overlay('1.0'));
    c0 = (await repo.git('rev-parse', 'HEAD')).trim();
    c1 = await repo.commitFiles(overlay('2.0'));
    [github, moto] = await Promise.all([
      startGitHubServer({ repository: 'acme/deploy', gitDirectory: repo.dir }),
      startMoto(),
    ]);
    sqs = new SQSClient({
      endpoint: moto.url,
      region: moto.region,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'local-jobs' }))).QueueUrl!;
    configFile = join(repo.dir, '..', `ip-webhook-${Date.now()}.yaml`);
    await writeFile(
      configFile,
      [
        'github:',
        '  repository: acme/deploy',
        'environments:',
        '  - name: prod',
        '    overlay: overlays/prod',
        `    source: { registry: ${SRC} }`,
        `    destination: { registry: ${DST} }`,
        '',
      ].join('\n'),
    );
    child = spawn(
      process.execPath,
      ['bin/image-promoter.cjs', 'webhook', '--port', '0', '--config', configFile],
      {
        env: {
          ...process.env,
          ...moto.env(),
          WEBHOOK_SECRET: 'local-secret',
          GITHUB_TOKEN: github.token,
          GITHUB_API_URL: github.url,
          QUEUE_URL: queueUrl,
          POWERTOOLS_LOG_LEVEL: 'ERROR',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL printed:\n${output}`)), 30_000);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        const match = output.match(/listening on (http:\/\/\S+)/);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.once('exit', (code) => reject(new Error(`exited ${code}:\n${output}`)));
    });
  });
  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await Promise.all([
      github?.stop(),
      moto?.stop(),
      repo?.remove(),
      configFile && rm(configFile, { force: true }),
    ]);
  });

  const post = async (
    body: string,
    headers: Record<string, string>,
  ): Promise<{ status: number; body: unknown }> => {
    const response = await fetch(url, { method: 'POST', headers, body });
    return { status: response.status, body: await response.json() };
  };

  it('rejects an unsigned delivery with 401', async () => {
    const response = await post('{}', { 'content-type': 'application/json', 'x-github-event': 'push' });
    assert.deepEqual(response, { status: 401, body: { message: 'unauthorized' } });
  });

  it('plans a form-encoded push (a binary body for Function URLs) and enqueues its job', async () => {
    // Prepare
    const json = JSON.stringify(pushPayload({ repository: 'acme/deploy', before: c0, after: c1 }));
    const body = `payload=${encodeURIComponent(json)}`;
    // Act
    const response = await post(body, {
      'content-type': 'application/x-www-form-urlencoded',
      'x-github-event': 'push',
      'x-github-delivery': 'local-1',
      'x-hub-signature-256': await sign('local-secret', body),
    });
    const messages = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }),
    );
    // Assess
    assert.equal(response.status, 202);
    assert.deepEqual(
      (messages.Messages ?? []).map((m) => parsePromotionJob(m.Body!).promotions),
      [[{ source: `${SRC}/shop/api:2.0`, destination: `${DST}/shop/api:2.0` }]],
    );
    assert.deepEqual(
      github.statuses(c1).map((s) => `${s.context} ${s.state}`),
      ['image-promotion/prod pending'],
    );
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(output, /image-promoter webhook stopped/);
  });
});
