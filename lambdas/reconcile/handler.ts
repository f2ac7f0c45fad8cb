// The reconcile Lambda (EventBridge schedule, run with the worker's role): checks every
// environment's destination registry against its overlay at the deploy branch's head and enqueues
// reconcile jobs for what is missing. Wiring only. Built once per container; a container whose
// configuration cannot be read fails the invocation and tries again on the next one.
import type { Context, ScheduledEvent } from 'aws-lambda';
import { loadConfigFromEnvironment } from '../adapters/config-source';
import { createEcrCredentialProvider } from '../adapters/ecr-credentials';
import { createReconcileDependencies } from './dependencies';
import { runReconcile, type ReconcileDependencies, type ReconcileSummary } from './run-reconcile';

let dependencies: Promise<ReconcileDependencies> | undefined;

function getDependencies(): Promise<ReconcileDependencies> {
  if (dependencies === undefined) {
    const pending = loadConfigFromEnvironment().then((config) =>
      createReconcileDependencies({
        config,
        env: process.env,
        registryCredentials: (aws) =>
          createEcrCredentialProvider(aws === undefined ? {} : { credentials: aws }),
      }),
    );
    pending.catch(() => {
      if (dependencies === pending) dependencies = undefined;
    });
    dependencies = pending;
  }
  return dependencies;
}

export const handler = async (_event: ScheduledEvent, context: Context): Promise<ReconcileSummary> => {
  const deps = await getDependencies();
  deps.logger.addContext(context);
  return runReconcile(deps);
};
