// The reconcile Lambda (EventBridge schedule, run with the worker's role): checks every
// environment's destination registry against its overlay at the deploy branch's head and enqueues
// reconcile jobs for what is missing. Wiring only. Built once per container (or per local
// scheduler, lambdas/local/scheduler.ts, which invokes this same handler); a container whose
// configuration cannot be read fails the invocation and tries again on the next one.
import type { Context, ScheduledEvent } from 'aws-lambda';
import { loadConfigFromEnvironment } from '../adapters/config-source';
import { createEcrCredentialProvider } from '../adapters/ecr-credentials';
import type { Config } from '../core/config';
import { createReconcileDependencies } from './dependencies';
import { runReconcile, type ReconcileDependencies, type ReconcileSummary } from './run-reconcile';

export interface ReconcileHandlerOptions {
  /** The configuration; read from IMAGE_PROMOTER_CONFIG(_FILE) when absent. */
  readonly config?: Config;
  readonly env?: NodeJS.ProcessEnv;
}

export type ReconcileHandler = (event: ScheduledEvent, context: Context) => Promise<ReconcileSummary>;

/** A handler with its own clients (one per container, or per local scheduler). */
export function createReconcileHandler(options: ReconcileHandlerOptions = {}): ReconcileHandler {
  const env = options.env ?? process.env;
  let dependencies: Promise<ReconcileDependencies> | undefined;
  const getDependencies = (): Promise<ReconcileDependencies> => {
    if (dependencies === undefined) {
      const config =
        options.config === undefined ? loadConfigFromEnvironment(env) : Promise.resolve(options.config);
      const pending = config.then((cfg) =>
        createReconcileDependencies({
          config: cfg,
          env,
          // The worker's registry access: the reconcile runs with the worker's role.
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
  };
  return async (_event, context) => {
    const deps = await getDependencies();
    deps.logger.addContext(context);
    return runReconcile(deps);
  };
}

export const handler: ReconcileHandler = createReconcileHandler();
