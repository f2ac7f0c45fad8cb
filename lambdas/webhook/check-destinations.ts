// The webhook's destination check for one delivery, after planning and before anything is queued:
// every environment with promotions (within the job limit) looks its images up in its destination
// registry (core/destination-check.ts), within the delivery's deadline and one budget of lookups
// for the whole delivery (webhook.maxRegistryChecks). Never throws and never fails a delivery: a
// lookup that fails, is cut by the deadline or is over the budget leaves its image `unchecked`, and
// its job goes to the worker as before. One log line per environment says what was found.
import { findEnvironment, type Config } from '../core/config';
import {
  checkDestinations,
  countVerdicts,
  createCheckBudget,
  DESTINATION_VERDICTS,
  type DestinationCheck,
} from '../core/destination-check';
import { describeError } from '../core/errors';
import { formatImageRef } from '../core/image-ref';
import { MAX_PROMOTIONS_PER_JOB, type DestinationChecks } from '../core/jobs-from-plan';
import type { EnvironmentPlanResult } from '../core/plan';
import type { DestinationLookups } from './destination-lookup';
import type { DeliveryLog } from './webhook-io';

export interface CheckPlannedOptions {
  readonly config: Config;
  readonly lookups: DestinationLookups;
  readonly deadline: AbortSignal | undefined;
  readonly log: DeliveryLog;
  /** Fields of every log line (delivery, commit). */
  readonly context: Readonly<Record<string, unknown>>;
}

export async function checkPlannedDestinations(
  results: readonly EnvironmentPlanResult[],
  options: CheckPlannedOptions,
): Promise<DestinationChecks> {
  const { config, log, context } = options;
  const budget = createCheckBudget(config.webhook.maxRegistryChecks);
  const entries = await Promise.all(
    results.flatMap((result) => {
      if (result.kind === 'failed') return [];
      const { plan } = result;
      const env = findEnvironment(config, plan.environment);
      // Nothing to check, or over the job limit (a failure status whatever the registry holds).
      if (env === undefined || plan.promotions.length === 0) return [];
      if (plan.promotions.length > MAX_PROMOTIONS_PER_JOB) return [];
      return [
        (async (): Promise<readonly [string, readonly DestinationCheck[]]> => {
          const lookup = options.lookups(env, options.deadline);
          const checks = await checkDestinations(plan.promotions, lookup, {
            overwrite: config.copy.overwrite,
            budget,
            describe: describeError,
          });
          logChecks(log, { ...context, environment: env.name }, checks);
          return [plan.environment, checks];
        })(),
      ];
    }),
  );
  return new Map(entries);
}

/** An info line with the counts; a warning naming the first lookup that failed (the job goes to
 * the worker unchecked: nothing is lost but the early answer). */
function logChecks(
  log: DeliveryLog,
  context: Readonly<Record<string, unknown>>,
  checks: readonly DestinationCheck[],
): void {
  const counts = countVerdicts(checks);
  const failed = checks.filter(
    (c) => c.verdict === DESTINATION_VERDICTS.unchecked && c.destinationDigest === undefined,
  );
  if (failed.length > 0) {
    log.warn('destination not checked; the worker checks these images itself', {
      ...context,
      images: failed.length,
      image: formatImageRef(failed[0]!.promotion.destination),
      reason: failed[0]!.reason,
    });
  }
  log.info('destination checked', {
    ...context,
    alreadyPresent: counts['already present'],
    wouldCopy: counts['would copy'],
    conflict: counts.conflict,
    unchecked: counts.unchecked,
  });
}
