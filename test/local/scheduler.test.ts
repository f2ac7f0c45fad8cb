// The local stand-in for an EventBridge schedule rule: fires the handler only while the rule is
// enabled, with a Scheduled Event and Lambda context shaped as AWS sends them, keeps going after a
// failed run or an unreadable rule, and stops between runs (never halfway through one).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Context, ScheduledEvent } from 'aws-lambda';
import type { ScheduleRule } from '../../lambdas/adapters/eventbridge-rules';
import { runLocalSchedule, type ScheduledRun } from '../../lambdas/local/scheduler';

const ARN = 'arn:aws:events:eu-west-1:222222222222:rule/image-promoter-reconcile';
const rule = (state: string): ScheduleRule => ({
  name: 'image-promoter-reconcile',
  arn: ARN,
  state,
  scheduleExpression: 'rate(1 hour)',
});

/** A rule whose state follows `states`, one per period; the schedule is stopped after the last. */
function ruleSequence(
  states: readonly (string | Error)[],
  controller: AbortController,
): () => Promise<ScheduleRule> {
  let period = 0;
  return () => {
    const state = states[period++]!;
    if (period === states.length) controller.abort();
    return state instanceof Error ? Promise.reject(state) : Promise.resolve(rule(state));
  };
}

describe('runLocalSchedule', () => {
  it('invokes the handler only while the rule is enabled, with a Scheduled Event and a Lambda context', async () => {
    // Prepare
    const controller = new AbortController();
    const calls: { event: ScheduledEvent; context: Context; remaining: number }[] = [];
    // Act
    const summary = await runLocalSchedule({
      readRule: ruleSequence(['DISABLED', 'ENABLED', 'DISABLED', 'ENABLED'], controller),
      handler: (event, context) => {
        calls.push({ event, context, remaining: context.getRemainingTimeInMillis() });
        return Promise.resolve('done');
      },
      periodMs: 1,
      functionName: 'image-promoter-reconcile',
      timeoutMs: 300_000,
      signal: controller.signal,
    });
    // Assess
    assert.deepEqual(summary, { invocations: 2, failures: 0 });
    assert.equal(calls.length, 2);
    for (const { event, context, remaining } of calls) {
      assert.deepEqual(
        { ...event, id: '', time: '' },
        {
          version: '0',
          id: '',
          'detail-type': 'Scheduled Event',
          source: 'aws.events',
          account: '222222222222',
          time: '',
          region: 'eu-west-1',
          resources: [ARN],
          detail: {},
        },
      );
      assert.match(event.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.match(event.id, /^[0-9a-f-]{36}$/);
      assert.equal(context.functionName, 'image-promoter-reconcile');
      assert.equal(
        context.invokedFunctionArn,
        'arn:aws:lambda:eu-west-1:222222222222:function:image-promoter-reconcile',
      );
      assert.ok(remaining > 0 && remaining <= 300_000, String(remaining));
    }
    assert.notEqual(calls[0]!.event.id, calls[1]!.event.id);
    assert.notEqual(calls[0]!.context.awsRequestId, calls[1]!.context.awsRequestId);
  });

  it('reports a failed run and an unreadable rule, and fires again at the next period', async () => {
    // Prepare
    const controller = new AbortController();
    const runs: ScheduledRun<number>[] = [];
    let attempt = 0;
    // Act
    const summary = await runLocalSchedule({
      readRule: ruleSequence(['ENABLED', new Error('DescribeRule failed'), 'ENABLED'], controller),
      handler: () =>
        ++attempt === 1 ? Promise.reject(new Error('GitHub unavailable')) : Promise.resolve(attempt),
      periodMs: 1,
      functionName: 'f',
      timeoutMs: 1000,
      signal: controller.signal,
      onRun: (run) => runs.push(run),
    });
    // Assess
    assert.deepEqual(summary, { invocations: 2, failures: 2 });
    assert.equal(runs.length, 3);
    assert.ok('error' in runs[0]! && (runs[0].error as Error).message === 'GitHub unavailable');
    assert.ok('ruleError' in runs[1]! && (runs[1].ruleError as Error).message === 'DescribeRule failed');
    assert.ok('result' in runs[2]! && runs[2].result === 2);
  });

  it('stops between runs: a run under way when the signal aborts finishes, and none follows', async () => {
    // Prepare
    const controller = new AbortController();
    let finished = 0;
    // Act
    const summary = await runLocalSchedule({
      readRule: () => Promise.resolve(rule('ENABLED')),
      handler: async () => {
        controller.abort();
        await new Promise((resolve) => setImmediate(resolve));
        finished++;
      },
      periodMs: 1,
      functionName: 'f',
      timeoutMs: 1000,
      signal: controller.signal,
    });
    // Assess
    assert.equal(finished, 1);
    assert.deepEqual(summary, { invocations: 1, failures: 0 });
  });
});
