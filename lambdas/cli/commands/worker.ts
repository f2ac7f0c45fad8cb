// `image-promoter worker --queue-url URL --config FILE [--once]`: the worker Lambda run locally
// against an SQS queue (for the demo and for users without Lambda). Polls the queue and runs the
// very same worker the Lambda handler runs. Wiring only. Secrets (GITHUB_TOKEN) are never printed.
import { SQSClient } from '@aws-sdk/client-sqs';
import { loadConfigFile, loadConfigFromEnvironment } from '../../adapters/config-source';
import { createEcrCredentialProvider } from '../../adapters/ecr-credentials';
import { createSqsPoller } from '../../adapters/sqs-poller';
import { UsageError } from '../../core/errors';
import { createWorkerDependencies } from '../../worker/dependencies';
import { runLocalWorker } from '../../local/worker-runner';
import { createWorker } from '../../worker/worker';
import type { Command, CommandIo } from '../command';
import { parseCommandArgs, parseIntegerOption } from '../parse-command-args';

const USAGE = `usage: image-promoter worker --queue-url URL [--config FILE] [--once]
                             [--wait-seconds N] [--retry-delay SECONDS]

Polls an SQS queue of promotion jobs and runs the worker Lambda's handler on each batch: deletes
what it finished, returns failed jobs to the queue (after maxReceiveCount SQS moves them to the DLQ).
  --queue-url URL        the jobs queue
  --config FILE          image-promoter.yaml (default: IMAGE_PROMOTER_CONFIG / IMAGE_PROMOTER_CONFIG_FILE)
  --once                 process what is in the queue, then exit
  --wait-seconds N       long-polling wait per receive, 0-20 (default 20; with --once, 1)
  --retry-delay SECONDS  how long a failed job stays invisible before its next attempt (default 30)

Environment: GITHUB_TOKEN (or GITHUB_TOKEN_SECRET_ARN), GITHUB_API_URL; AWS credentials and region as
for the AWS CLI; AWS_ENDPOINT_URL for a local AWS endpoint. Logs and metrics (JSON) go to stdout.
Stops after the current batch on SIGINT / SIGTERM.`;

export const workerCommand: Command = {
  summary: 'run the promotion worker against an SQS queue',
  usage: USAGE,
  run: async (args: readonly string[], io: CommandIo): Promise<number> => {
    const options = parseWorkerArgs(args);
    const config =
      options.config === undefined
        ? await loadConfigFromEnvironment(io.env)
        : await loadConfigFile(options.config);
    const worker = createWorker(
      createWorkerDependencies({
        config,
        env: io.env,
        registryCredentials: (aws) =>
          createEcrCredentialProvider(aws === undefined ? {} : { credentials: aws }),
      }),
    );
    const controller = new AbortController();
    const stop = (): void => controller.abort();
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    try {
      const summary = await runLocalWorker({
        poller: createSqsPoller(new SQSClient({}), options.queueUrl),
        worker,
        once: options.once,
        waitSeconds: options.waitSeconds,
        retryDelaySeconds: options.retryDelaySeconds,
        signal: controller.signal,
        onBatch: (batch) =>
          io.stderr.write(
            `worker: ${batch.received} received, ${batch.acknowledged} done, ${batch.failed} returned for retry\n`,
          ),
      });
      io.stderr.write(
        `worker: ${controller.signal.aborted ? 'stopped' : 'queue empty'}; ${summary.received} messages, ` +
          `${summary.acknowledged} done, ${summary.failed} returned for retry\n`,
      );
      return 0;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  },
};

interface WorkerArgs {
  readonly queueUrl: string;
  readonly config: string | undefined;
  readonly once: boolean;
  readonly waitSeconds: number;
  readonly retryDelaySeconds: number;
}

function parseWorkerArgs(args: readonly string[]): WorkerArgs {
  const { values } = parseCommandArgs({
    args: [...args],
    options: {
      'queue-url': { type: 'string' },
      config: { type: 'string' },
      once: { type: 'boolean' },
      'wait-seconds': { type: 'string' },
      'retry-delay': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const queueUrl = values['queue-url'];
  if (queueUrl === undefined || queueUrl === '') throw new UsageError('--queue-url is required');
  const once = values.once ?? false;
  return {
    queueUrl,
    config: values.config,
    once,
    waitSeconds: integerOption('--wait-seconds', values['wait-seconds'], once ? 1 : 20, 0, 20),
    retryDelaySeconds: integerOption('--retry-delay', values['retry-delay'], 30, 0, 43_200),
  };
}

function integerOption(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  return value === undefined ? fallback : parseIntegerOption(name, value, min, max);
}
