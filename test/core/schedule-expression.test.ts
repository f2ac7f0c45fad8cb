// rateExpression writes what the CDK app's rules synthesize (aws-cdk-lib's Schedule.rate is the
// oracle) and only what EventBridge accepts (singular unit for 1, plural otherwise).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Duration } from 'aws-cdk-lib';
import { Schedule } from 'aws-cdk-lib/aws-events';
import { rateExpression } from '../../lambdas/core/schedule-expression';

describe('rateExpression', () => {
  const cases: readonly (readonly [number, string])[] = [
    [1, 'rate(1 minute)'],
    [5, 'rate(5 minutes)'],
    [15, 'rate(15 minutes)'],
    [60, 'rate(1 hour)'],
    [90, 'rate(90 minutes)'],
    [120, 'rate(2 hours)'],
    [1440, 'rate(1 day)'],
    [1500, 'rate(25 hours)'],
    [2880, 'rate(2 days)'],
  ];
  for (const [minutes, expected] of cases) {
    it(`${minutes} min -> ${expected}, as CDK's Schedule.rate writes it`, () => {
      assert.equal(rateExpression(minutes), expected);
      assert.equal(Schedule.rate(Duration.minutes(minutes)).expressionString, expected);
    });
  }

  it('refuses what is not a whole, positive number of minutes', () => {
    for (const bad of [0, -5, 1.5, Number.NaN]) assert.throws(() => rateExpression(bad), RangeError);
  });
});
