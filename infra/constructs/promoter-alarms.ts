// The alarms an operator must act on: a job in the dead-letter queue, any promotion failure (per
// environment), a job waiting too long, webhook errors (what GitHub sees), any job the worker
// refused (a security event). Actions go to an SNS
// topic when one is given; without one the alarms still show on the dashboard. Never alarms on
// noise: every alarm here means a commit whose images are not (yet) where its overlay says.
import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  MathExpression,
  TreatMissingData,
  type IAlarmAction,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { createPromoterMetric, createRejectedJobsMetric } from './promoter-metrics';

export interface PromoterAlarmsProps {
  readonly environments: readonly string[];
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  readonly webhook: IFunction;
  /** Where alarm and OK notifications go; none -> alarms without actions. */
  readonly topic?: ITopic;
  /** Age of the oldest queued job that means the worker is stuck or failing. */
  readonly maxMessageAge: Duration;
}

const PERIOD = Duration.minutes(5);

export class PromoterAlarms extends Construct {
  readonly deadLetterQueueNotEmpty: Alarm;
  readonly oldestMessageTooOld: Alarm;
  readonly webhookErrors: Alarm;
  readonly rejectedJobs: Alarm;
  /** One per environment, in config order. */
  readonly promotionFailures: readonly Alarm[];

  constructor(scope: Construct, id: string, props: PromoterAlarmsProps) {
    super(scope, id);
    this.deadLetterQueueNotEmpty = new Alarm(this, 'DeadLetterQueueNotEmpty', {
      alarmDescription:
        'A promotion job exhausted its retries and sits in the dead-letter queue: its commit has an ' +
        '`error` status. Read the worker logs, fix the cause, then redrive the DLQ.',
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: PERIOD,
        statistic: 'Maximum',
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.oldestMessageTooOld = new Alarm(this, 'OldestMessageTooOld', {
      alarmDescription:
        `A promotion job has waited over ${props.maxMessageAge.toHumanString()} in the queue: the worker ` +
        'is failing and retrying, throttled, or not consuming.',
      metric: props.queue.metricApproximateAgeOfOldestMessage({ period: PERIOD, statistic: 'Maximum' }),
      threshold: props.maxMessageAge.toSeconds(),
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.webhookErrors = new Alarm(this, 'WebhookErrors', {
      alarmDescription:
        'The webhook failed (function errors or 5xx answers to GitHub): pushes may not have been ' +
        'planned. Read the webhook logs, then redeliver the push from the GitHub webhook settings.',
      metric: new MathExpression({
        expression: 'FILL(errors, 0) + FILL(url5xx, 0)',
        usingMetrics: {
          errors: props.webhook.metricErrors({ period: PERIOD, statistic: 'Sum' }),
          url5xx: props.webhook.metric('Url5xxCount', { period: PERIOD, statistic: 'Sum' }),
        },
        label: 'webhook errors + 5xx',
        period: PERIOD,
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.rejectedJobs = new Alarm(this, 'RejectedJobs', {
      alarmDescription:
        'SECURITY: the worker refused a promotion job its config does not allow (foreign repository, ' +
        'renamed path or tag, another registry or environment, another GitHub repository). Nothing was ' +
        'copied. Find the "job rejected" log line (securityEvent: true) and who could send to the queue.',
      metric: createRejectedJobsMetric(PERIOD),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.promotionFailures = props.environments.map(
      (environment) =>
        new Alarm(this, `PromotionFailures-${environment}`, {
          alarmDescription:
            `A promotion into ${environment} failed: a commit has a failure status ` +
            `image-promotion/${environment} and Argo CD must not sync it. See the worker logs.`,
          metric: createPromoterMetric('promotionFailures', environment, 'Sum', PERIOD),
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
    );

    if (props.topic !== undefined) {
      const action: IAlarmAction = new SnsAction(props.topic);
      for (const alarm of this.all) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }
  }

  get all(): readonly Alarm[] {
    return [
      this.deadLetterQueueNotEmpty,
      this.rejectedJobs,
      ...this.promotionFailures,
      this.oldestMessageTooOld,
      this.webhookErrors,
    ];
  }
}
