// The worker Lambda (SQS event source with ReportBatchItemFailures): promotes the images of each
// job and reports on the commit. Wiring only: the configuration comes from IMAGE_PROMOTER_CONFIG,
// the GitHub token from GITHUB_TOKEN_SECRET_ARN (or GITHUB_TOKEN), registry tokens from ECR with the
// source role's credentials (source) and the function's own (destination). Built once per
// container; a container whose configuration cannot be read fails every invocation (so the
// messages end in the DLQ rather than being lost) and tries again on the next one.
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { loadConfigFromEnvironment } from '../adapters/config-source';
import { createEcrCredentialProvider } from '../adapters/ecr-credentials';
import { createWorkerDependencies } from './dependencies';
import { createWorker, type Worker } from './worker';

let worker: Promise<Worker> | undefined;

function getWorker(): Promise<Worker> {
  if (worker === undefined) {
    const pending = loadConfigFromEnvironment().then((config) =>
      createWorker(
        createWorkerDependencies({
          config,
          env: process.env,
          registryCredentials: (aws) =>
            createEcrCredentialProvider(aws === undefined ? {} : { credentials: aws }),
        }),
      ),
    );
    pending.catch(() => {
      if (worker === pending) worker = undefined;
    });
    worker = pending;
  }
  return worker;
}

export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
  (await getWorker()).handleEvent(event, context);
