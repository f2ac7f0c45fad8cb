// `image-promoter worker` as a user runs it: a child process (`node bin/image-promoter.cjs`) polling a
// real SQS queue (moto), promoting between the two registries and reporting to the GitHub server.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { inspectRaw, pushRandomImage, sha256 } from '../support/images';
import { DST, SRC, startWorld, type World } from './world';

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

describe('image-promoter worker (CLI)', () => {
  let world: World;
  let dir: string;
  let configFile: string;
  before(async () => {
    world = await startWorld();
    dir = await mkdtemp(join(tmpdir(), 'ip-worker-cli-'));
    configFile = join(dir, 'image-promoter.yaml');
    await writeFile(configFile, JSON.stringify(world.config, null, 2));
  });
  after(async () => {
    await world?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const sqs = (): SQSClient => new SQSClient({});
  const createQueue = async (name: string): Promise<string> =>
    (await sqs().send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
  const messagesIn = async (queueUrl: string): Promise<number> => {
    const a = (
      await sqs().send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      )
    ).Attributes!;
    return Number(a['ApproximateNumberOfMessages']) + Number(a['ApproximateNumberOfMessagesNotVisible']);
  };

  /** Starts the CLI; `onStderr` sees stderr as it grows (to send a signal at the right moment). */
  const runCli = (
    args: readonly string[],
    onStderr?: (text: string, kill: () => void) => void,
  ): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['bin/image-promoter.cjs', 'worker', ...args], {
        env: {
          ...process.env,
          GITHUB_TOKEN: world.github.token,
          GITHUB_API_URL: world.github.url,
          NODE_NO_WARNINGS: '1',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        onStderr?.(stderr, () => child.kill('SIGTERM'));
      });
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve({ code, signal, stderr }));
    });

  const enqueue = async (
    queueUrl: string,
    repository: string,
  ): Promise<{ commit: string; digest: string }> => {
    const { digest } = await pushRandomImage(`${world.source.host}/${repository}:1.0`, world.source);
    const commit = await world.newCommit();
    const job = world.job(commit, [
      { source: `${SRC}/${repository}:1.0`, destination: `${DST}/${repository}:1.0` },
    ]);
    await sqs().send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(job) }));
    return { commit, digest };
  };

  it('--once processes what is queued, deletes it, reports on the commit and exits 0', async () => {
    // Prepare
    const queueUrl = await createQueue('cli-once');
    const { commit, digest } = await enqueue(queueUrl, 'cli/once');
    // Act
    const run = await runCli([
      '--queue-url',
      queueUrl,
      '--config',
      configFile,
      '--once',
      '--wait-seconds',
      '0',
    ]);
    // Assess
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /worker: queue empty; 1 messages, 1 done, 0 returned for retry/);
    assert.deepEqual(
      world.github.statuses(commit).map((s) => s.state),
      ['success'],
    );
    assert.equal(
      sha256(await inspectRaw(`${world.destination.host}/cli/once:1.0`, world.destination)),
      digest,
    );
    assert.equal(await messagesIn(queueUrl), 0);
  });

  it('keeps polling without --once and stops cleanly on SIGTERM', async () => {
    // Prepare
    const queueUrl = await createQueue('cli-loop');
    const { commit } = await enqueue(queueUrl, 'cli/loop');
    let signalled = false;
    // Act: SIGTERM once the first batch is done, while the next long poll waits
    const run = await runCli(
      ['--queue-url', queueUrl, '--config', configFile, '--wait-seconds', '20'],
      (text, kill) => {
        if (!signalled && text.includes('1 done')) {
          signalled = true;
          kill();
        }
      },
    );
    // Assess
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.signal, null);
    assert.match(run.stderr, /worker: stopped; 1 messages, 1 done/);
    assert.deepEqual(
      world.github.statuses(commit).map((s) => s.state),
      ['success'],
    );
  });

  it('rejects a missing --queue-url with one line and exit code 2', async () => {
    const run = await runCli(['--config', configFile]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^image-promoter worker: [^\n]*--queue-url is required[^\n]* \(see --help\)\n$/);
  });
});
