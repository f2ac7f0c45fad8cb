// EventBridge rules for the local scheduler (`image-promoter reconcile --every`): reads a rule's
// ARN, state and schedule expression (DescribeRule), so a local run of a scheduled Lambda fires only
// while its rule is ENABLED and names that rule in its event, as EventBridge does. Read-only: never
// creates, changes or deletes a rule.
import { DescribeRuleCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { toAwsServiceError } from '../core/errors';

export interface ScheduleRule {
  readonly name: string;
  readonly arn: string;
  /** ENABLED, DISABLED, or ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS (EventBridge RuleState). */
  readonly state: string;
  /** e.g. `rate(1 hour)`; undefined for a rule matching an event pattern. */
  readonly scheduleExpression: string | undefined;
}

export type ScheduleRuleReader = (name: string) => Promise<ScheduleRule>;

export function createScheduleRuleReader(client: EventBridgeClient): ScheduleRuleReader {
  return async (name) => {
    try {
      const out = await client.send(new DescribeRuleCommand({ Name: name }));
      return {
        name,
        arn: out.Arn ?? '',
        state: out.State ?? 'DISABLED',
        scheduleExpression: out.ScheduleExpression,
      };
    } catch (e: unknown) {
      throw toAwsServiceError(
        e,
        'events',
        `EventBridge DescribeRule ${name}`,
        'check that the rule exists in this account and region',
      );
    }
  };
}
