// Stand-in for `image-promoter worker --queue-url URL --config FILE` while that CLI command is not
// implemented (lambdas/cli/commands/worker.ts is a placeholder today): the same wiring the command
// needs — config file, worker dependencies, SQS poller, local runner — run as its own process so the
// local stack still runs the worker outside the caller, like the real command would. Demo and test
// tooling only: it must never hold logic of its own; everything it runs is lambdas/worker.
// Usage: tsx demo/worker-process.ts --queue-url URL --config FILE [--retry-delay SECONDS]
import { parseArgs } from 'node:util';
import { SQSClient } from '@aws-sdk/client-sqs';
import { loadConfigFile } from '../lambdas/adapters/config-source';
import { createSqsPoller } from '../lambdas/adapters/sqs-poller';
import { createWorkerDependencies } from '../lambdas/worker/dependencies';
import { runLocalWorker } from '../lambdas/worker/local-runner';
import { createWorker } from '../lambdas/worker/worker';
import { createEcrCredentialProvider } from '../test/worker/ecr-token';

async function runWorkerProcess(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'queue-url': { type: 'string' },
      config: { type: 'string' },
      'retry-delay': { type: 'string', default: '1' },
    },
    strict: true,
  });
  const queueUrl = values['queue-url'];
  if (queueUrl === undefined || values.config === undefined) {
    throw new Error('usage: worker-process --queue-url URL --config FILE [--retry-delay SECONDS]');
  }
  const config = await loadConfigFile(values.config);
  const deps = createWorkerDependencies({
    config,
    env: process.env,
    registryCredentials: (aws) => createEcrCredentialProvider(aws === undefined ? {} : { credentials: aws }),
  });
  const abort = new AbortController();
  process.once('SIGTERM', () => abort.abort());
  process.once('SIGINT', () => abort.abort());
  process.stderr.write(`image-promoter worker polling ${queueUrl}\n`);
  await runLocalWorker({
    poller: createSqsPoller(new SQSClient({}), queueUrl),
    worker: createWorker(deps),
    once: false,
    waitSeconds: 1,
    retryDelaySeconds: Number(values['retry-delay']),
    signal: abort.signal,
  });
  process.stderr.write('image-promoter worker stopped\n');
}

runWorkerProcess().catch((e: unknown) => {
  process.stderr.write(`worker-process: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
