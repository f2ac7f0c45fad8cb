// `image-promoter reconcile`: one run of the scheduled reconcile Lambda, locally: reads each
// environment's overlay at the deploy branch's head through GitHub, checks both registries and
// enqueues reconcile jobs for what is missing (the worker copies them). Wiring only: the run is
// lambdas/reconcile/run-reconcile, as in the Lambda. Logs and metrics (JSON) go to stdout.
import { loadConfigFile, loadConfigFromEnvironment } from '../../adapters/config-source';
import { UsageError } from '../../core/errors';
import { createReconcileDependencies } from '../../reconcile/dependencies';
import { runReconcile } from '../../reconcile/run-reconcile';
import type { Command, CommandIo } from '../command';
import { parseCommandArgs } from '../parse-command-args';
import { cliRegistryCredentials } from './verify';

const USAGE = `usage: image-promoter reconcile [--config FILE]

Runs the scheduled reconcile once: for each environment, the images its overlay deploys at the head
of the first of github.branches (read through GitHub) are checked in both registries; what the
destination is missing is enqueued as a reconcile job (a pending status on the head commit, which
the worker resolves), and DriftImages is published per environment. Exit status 1 when an
environment could not be checked.
  --config FILE   image-promoter.yaml (default: IMAGE_PROMOTER_CONFIG / IMAGE_PROMOTER_CONFIG_FILE)

Environment: QUEUE_URL; GITHUB_TOKEN (or GITHUB_TOKEN_SECRET_ARN), GITHUB_API_URL; AWS credentials
and region as for the AWS CLI (registry credentials as for \`verify\`).`;

export const reconcileCommand: Command = {
  summary: 'run the scheduled reconcile once: enqueue what destinations are missing',
  usage: USAGE,
  run: async (args: readonly string[], io: CommandIo): Promise<number> => {
    const { values } = parseCommandArgs({
      args: [...args],
      options: { config: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.config === '') throw new UsageError('--config needs a file');
    const config =
      values.config === undefined
        ? await loadConfigFromEnvironment(io.env)
        : await loadConfigFile(values.config);
    const summary = await runReconcile(
      createReconcileDependencies({
        config,
        env: io.env,
        registryCredentials: cliRegistryCredentials(io.env),
      }),
    );
    for (const env of summary.environments) {
      io.stderr.write(
        `reconcile: ${env.environment} at ${summary.commit.slice(0, 12)}: ` +
          (env.error === undefined
            ? `${env.drifted ?? 0} not in place, ${env.enqueued} enqueued\n`
            : `not checked: ${env.error}\n`),
      );
    }
    return summary.environments.some((env) => env.error !== undefined) ? 1 : 0;
  },
};
