// A scheduled Lambda outside AWS (`image-promoter reconcile --every`, the demo's local stack), beside
// the webhook's local server and the worker's local runner: what an EventBridge schedule rule does
// for its target, with the period shortened for local use. Each period it reads the rule (so
// enabling or disabling it takes effect as in AWS), and while the rule is ENABLED invokes the very
// same handler the rule invokes in AWS with a Scheduled Event naming the rule and a Lambda context.
// Runs never overlap: the next period starts when a run ends. A failed run is reported and the next
// period tries again. Stops between runs when `signal` aborts; never abandons a run halfway.
// No logic of the scheduled function lives here.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context, ScheduledEvent } from 'aws-lambda';
import type { ScheduleRule } from '../adapters/eventbridge-rules';

export type ScheduledHandler<R> = (event: ScheduledEvent, context: Context) => Promise<R>;

export interface LocalScheduleOptions<R> {
  /** Re-read before every run: the rule's ARN goes in the event; only an ENABLED rule fires. */
  readonly readRule: () => Promise<ScheduleRule>;
  readonly handler: ScheduledHandler<R>;
  /** Time between the end of one run (or check of a disabled rule) and the next. */
  readonly periodMs: number;
  /** The function's name in its context (and its ARN). */
  readonly functionName: string;
  /** The function's timeout, for context.getRemainingTimeInMillis() (not enforced here). */
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  readonly onRun?: (run: ScheduledRun<R>) => void;
}

export type ScheduledRun<R> =
  | { readonly event: ScheduledEvent; readonly result: R }
  | { readonly event: ScheduledEvent; readonly error: unknown }
  /** The rule could not be read: nothing was invoked. */
  | { readonly ruleError: unknown };

export interface ScheduleSummary {
  readonly invocations: number;
  readonly failures: number;
}

/** EventBridge's rule state that fires its targets (RuleState). */
const FIRING_STATES: ReadonlySet<string> = new Set([
  'ENABLED',
  'ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS',
]);

export async function runLocalSchedule<R>(options: LocalScheduleOptions<R>): Promise<ScheduleSummary> {
  let invocations = 0;
  let failures = 0;
  while (await sleep(options.periodMs, true, { signal: options.signal }).catch(() => false)) {
    let rule: ScheduleRule;
    try {
      rule = await options.readRule();
    } catch (e: unknown) {
      failures++;
      options.onRun?.({ ruleError: e });
      continue;
    }
    if (!FIRING_STATES.has(rule.state)) continue;
    const event = scheduledEvent(rule.arn, new Date());
    const context = invocationContext(rule.arn, options.functionName, options.timeoutMs);
    invocations++;
    let run: ScheduledRun<R>;
    try {
      run = { event, result: await options.handler(event, context) };
    } catch (e: unknown) {
      failures++;
      run = { event, error: e };
    }
    options.onRun?.(run);
  }
  return { invocations, failures };
}

/**
 * The event an EventBridge schedule rule sends its target, as the AWS Lambda Developer Guide shows it
 * ("Using AWS Lambda with Amazon EventBridge (CloudWatch Events)",
 * https://docs.aws.amazon.com/lambda/latest/dg/services-cloudwatchevents.html, and its scheduled
 * example: version "0", a unique id, detail-type "Scheduled Event", source "aws.events", the rule's
 * account and region, time in whole seconds UTC ("2015-10-08T16:53:06Z"), the rule's ARN as the only
 * resource, and an empty detail).
 */
export function scheduledEvent(ruleArn: string, time: Date): ScheduledEvent {
  const { region, account } = parseRuleArn(ruleArn);
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account,
    time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [ruleArn],
    detail: {},
  };
}

/** A Lambda context for one invocation of `functionName` in the rule's account and region. */
export function invocationContext(ruleArn: string, functionName: string, timeoutMs: number): Context {
  const { region, account } = parseRuleArn(ruleArn);
  const started = Date.now();
  const none = (): void => undefined;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${account}:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, timeoutMs - (Date.now() - started)),
    done: none,
    fail: none,
    succeed: none,
  };
}

/** arn:aws:events:REGION:ACCOUNT:rule/[BUS/]NAME */
function parseRuleArn(arn: string): { readonly region: string; readonly account: string } {
  const parts = arn.split(':');
  return { region: parts[3] ?? '', account: parts[4] ?? '' };
}
