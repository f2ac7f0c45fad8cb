// `image-promoter reconcile`: one run of the scheduled reconcile Lambda, locally: reads each
// environment's overlay at the deploy branch's head through GitHub, checks both registries and
// enqueues reconcile jobs for what is missing (the worker copies them). With --every and --rule, the
// Lambda's own handler on a local schedule (lambdas/local/scheduler.ts), as its EventBridge rule
// invokes it. Wiring only: the run is lambdas/reconcile/run-reconcile, as in the Lambda. Logs and
// metrics (JSON) go to stdout.
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { loadConfigFile, loadConfigFromEnvironment } from '../../adapters/config-source';
import { createScheduleRuleReader } from '../../adapters/eventbridge-rules';
import { describeError, UsageError } from '../../core/errors';
import { runLocalSchedule } from '../../local/scheduler';
import { createReconcileDependencies } from '../../reconcile/dependencies';
import { createReconcileHandler } from '../../reconcile/handler';
import { runReconcile, type ReconcileSummary } from '../../reconcile/run-reconcile';
import type { Command, CommandIo } from '../command';
import { parseCommandArgs, parseIntegerOption } from '../parse-command-args';
import { cliRegistryCredentials } from './verify';

/** The reconcile function's timeout in AWS (infra/constructs/reconcile-schedule.ts RECONCILE_TIMEOUT):
 * what context.getRemainingTimeInMillis() counts down from in a scheduled local run. */
const RECONCILE_TIMEOUT_MS = 5 * 60_000;

const USAGE = `usage: image-promoter reconcile [--config FILE] [--every SECONDS --rule NAME]

Runs the scheduled reconcile once: for each environment, the images its overlay deploys at the head
of the first of github.branches (read through GitHub) are checked in both registries; what the
destination is missing is enqueued as a reconcile job (a pending status on the head commit, which
the worker resolves), and DriftImages is published per environment. Exit status 1 when an
environment could not be checked.
  --config FILE   image-promoter.yaml (default: IMAGE_PROMOTER_CONFIG / IMAGE_PROMOTER_CONFIG_FILE)
  --every SECONDS run the reconcile Lambda's handler every SECONDS (1-86400), as the EventBridge rule
                  NAME would, until SIGINT / SIGTERM: each period the rule is read (DescribeRule),
                  and while it is ENABLED the handler gets a Scheduled Event naming it (one line per
                  run on stderr; a failed run is retried the next period). Registry credentials are
                  the Lambda's (ECR tokens), not docker logins.
  --rule NAME     the EventBridge schedule rule, with --every (AWS_ENDPOINT_URL for a local one)

Environment: QUEUE_URL; GITHUB_TOKEN (or GITHUB_TOKEN_SECRET_ARN), GITHUB_API_URL; AWS credentials
and region as for the AWS CLI (registry credentials as for \`verify\`).`;

export const reconcileCommand: Command = {
  summary: 'run the scheduled reconcile once: enqueue what destinations are missing',
  usage: USAGE,
  run: async (args: readonly string[], io: CommandIo): Promise<number> => {
    const { values } = parseCommandArgs({
      args: [...args],
      options: { config: { type: 'string' }, every: { type: 'string' }, rule: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.config === '') throw new UsageError('--config needs a file');
    if ((values.every === undefined) !== (values.rule === undefined) || values.rule === '')
      throw new UsageError('--every SECONDS and --rule NAME go together');
    const everySeconds =
      values.every === undefined ? undefined : parseIntegerOption('--every', values.every, 1, 86_400);
    const config =
      values.config === undefined
        ? await loadConfigFromEnvironment(io.env)
        : await loadConfigFile(values.config);
    if (everySeconds !== undefined && values.rule !== undefined) {
      return runScheduled(createReconcileHandler({ config, env: io.env }), values.rule, everySeconds, io);
    }
    const summary = await runReconcile(
      createReconcileDependencies({
        config,
        env: io.env,
        registryCredentials: cliRegistryCredentials(io.env),
      }),
    );
    writeSummary(io, 'reconcile', summary);
    return summary.environments.some((env) => env.error !== undefined) ? 1 : 0;
  },
};

function writeSummary(io: CommandIo, prefix: string, summary: ReconcileSummary): void {
  for (const env of summary.environments) {
    io.stderr.write(
      `${prefix}: ${env.environment} at ${summary.commit.slice(0, 12)}: ` +
        (env.error === undefined
          ? `${env.drifted ?? 0} not in place, ${env.enqueued} enqueued\n`
          : `not checked: ${env.error}\n`),
    );
  }
}

async function runScheduled(
  handler: ReturnType<typeof createReconcileHandler>,
  rule: string,
  everySeconds: number,
  io: CommandIo,
): Promise<number> {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    io.stderr.write(`reconcile: every ${everySeconds} s while rule ${rule} is enabled\n`);
    const readRule = createScheduleRuleReader(new EventBridgeClient({}));
    const summary = await runLocalSchedule({
      readRule: () => readRule(rule),
      handler,
      periodMs: everySeconds * 1000,
      functionName: 'image-promoter-reconcile',
      timeoutMs: RECONCILE_TIMEOUT_MS,
      signal: controller.signal,
      onRun: (run) => {
        if ('ruleError' in run) io.stderr.write(`reconcile (scheduled): ${describeError(run.ruleError)}\n`);
        else if ('error' in run)
          io.stderr.write(`reconcile (scheduled ${run.event.time}): failed: ${describeError(run.error)}\n`);
        else writeSummary(io, `reconcile (scheduled ${run.event.time})`, run.result);
      },
    });
    io.stderr.write(
      `reconcile: stopped; ${summary.invocations} scheduled runs, ${summary.failures} failed\n`,
    );
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
