// The scheduled reconcile: an EventBridge rule (rate from config.reconcile.rateMinutes) invoking a
// function that runs as the worker's own role (the source roles trust that role only), reads every
// overlay at the deploy branch's head, publishes DriftImages and enqueues reconcile jobs for what a
// destination is missing. Adds to the worker role only what the reconcile needs beyond a promotion:
// sending to the jobs queue. The drift alarm fires when images stay out of place across two runs
// (one run enqueues the fix; the next finds them in place unless a copy cannot heal them: a tag
// conflict, an image missing at the source, a failing worker).
import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  GraphWidget,
  TreatMissingData,
  type IWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { Role } from 'aws-cdk-lib/aws-iam';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { functionBuildProps } from './lambda-bundling';
import { ENV } from '../../lambdas/core/contract';
import { createFunctionEnvironment } from './lambda-environment';
import { createPromoterMetric } from './promoter-metrics';

export interface ReconcileScheduleProps {
  readonly configJson: string;
  readonly environments: readonly string[];
  readonly queue: IQueue;
  readonly githubToken: ISecret;
  /** The worker's execution role: same identity, same source-role trust. */
  readonly workerRole: Role;
  readonly rate: Duration;
  /** Where the drift alarms notify (as the other alarms); none -> alarms without actions. */
  readonly topic?: ITopic;
  readonly logRetention: RetentionDays;
  readonly bundleAwsSdk?: boolean;
}

/** A run HEADs every managed image twice and reads each overlay once: minutes at most. */
export const RECONCILE_TIMEOUT = Duration.minutes(5);

export class ReconcileSchedule extends Construct {
  readonly function: NodejsFunction;
  readonly rule: Rule;
  /** One per environment, in config order. */
  readonly driftAlarms: readonly Alarm[];
  readonly widgets: readonly IWidget[];

  constructor(scope: Construct, id: string, props: ReconcileScheduleProps) {
    super(scope, id);
    const logGroup = new LogGroup(this, 'LogGroup', { retention: props.logRetention });
    logGroup.grantWrite(props.workerRole);
    this.function = new NodejsFunction(this, 'Function', {
      description: 'image-promoter reconcile: enqueue what destination registries miss of their overlays',
      ...functionBuildProps('reconcile', { bundleAwsSdk: props.bundleAwsSdk }),
      memorySize: 512,
      timeout: RECONCILE_TIMEOUT,
      role: props.workerRole,
      logGroup,
      environment: createFunctionEnvironment('reconcile', props.configJson, {
        [ENV.githubTokenSecretArn]: props.githubToken.secretArn,
        [ENV.queueUrl]: props.queue.queueUrl,
      }),
    });
    props.queue.grantSendMessages(props.workerRole);
    this.rule = new Rule(this, 'Schedule', {
      description: `image-promoter reconcile every ${props.rate.toHumanString()}`,
      schedule: Schedule.rate(props.rate),
      // A run that fails (GitHub or the queue unavailable) is retried by EventBridge twice, then the
      // next period tries again.
      targets: [new LambdaFunction(this.function, { retryAttempts: 2, maxEventAge: props.rate })],
    });

    const drift = props.environments.map((env) =>
      createPromoterMetric('driftImages', env, 'Maximum', props.rate),
    );
    this.driftAlarms = props.environments.map(
      (env, i) =>
        new Alarm(this, `Drift-${env}`, {
          alarmDescription:
            `Images of ${env}'s overlay have been missing from or different in its destination registry for ` +
            'two reconcile runs: run `image-promoter verify --environment ' +
            `${env}\` to see which and why (tag conflict, missing at the source, failing promotions).`,
          metric: drift[i]!,
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 2,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
    );
    if (props.topic !== undefined) {
      const action = new SnsAction(props.topic);
      for (const alarm of this.driftAlarms) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }
    this.widgets = [
      new GraphWidget({
        title: 'Drift: managed images not in place (Maximum per reconcile run)',
        left: drift,
        width: 12,
        height: 6,
        period: props.rate,
      }),
    ];
  }
}
