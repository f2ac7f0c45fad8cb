// The stack in a destination account: everything that promotes images into one ECR registry
// (webhook + Function URL, queue + DLQ, deliveries table, secrets, worker, dashboard, alarms) for
// every environment promoting into it. Composes constructs only; every setting comes from the
// deployment plan (the typed config). Never references the source account beyond role ARNs.
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { dashboardUrlOf, type DestinationDeployment } from '../deployment-plan';
import { DeliveriesTable } from '../constructs/deliveries-table';
import { PromoterAlarms } from '../constructs/promoter-alarms';
import { PromoterDashboard } from '../constructs/promoter-dashboard';
import { createLatestPromotionsWidget } from '../constructs/latest-promotions-widget';
import { PromoterSecrets } from '../constructs/promoter-secrets';
import { PromotionQueue } from '../constructs/promotion-queue';
import { PruneSchedule } from '../constructs/prune-schedule';
import { ReconcileSchedule } from '../constructs/reconcile-schedule';
import { WebhookFunction } from '../constructs/webhook-function';
import { WORKER_TIMEOUT, WorkerFunction } from '../constructs/worker-function';

export interface DestinationStackProps extends StackProps {
  readonly destination: DestinationDeployment;
  /** IMAGE_PROMOTER_CONFIG for both functions (configForDestination). */
  readonly configJson: string;
  /** config.worker.maxReceiveCount: the redrive policy and the worker's last-attempt check agree. */
  readonly maxReceiveCount: number;
  /** config.webhook.reservedConcurrency (false: none). */
  readonly webhookReservedConcurrency: number | false;
  /** config.webhook.checkRegistries: the webhook may read manifests of the allowlisted repositories. */
  readonly webhookChecksRegistries?: boolean;
  /** SNS topic in this account and region for alarm notifications. */
  readonly alarmTopicArn?: string;
  readonly logRetention?: RetentionDays;
  /** Bundle the AWS SDK into both functions instead of using the runtime's. */
  readonly bundleAwsSdk?: boolean;
  /** config.reconcile: the scheduled drift check (none: not deployed). */
  readonly reconcile?: { readonly rate: Duration };
  /** config.prune with scheduled: true (none: not deployed, the default). `configJson`: the whole
   * config, so that prune sees every environment's overlay. */
  readonly prune?: { readonly rate: Duration; readonly configJson: string };
}

/** AWS: an SQS event source's visibility timeout should be at least 6 x the function timeout. */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

export class DestinationStack extends Stack {
  readonly webhook: WebhookFunction;
  readonly worker: WorkerFunction;
  readonly queue: PromotionQueue;
  readonly alarms: PromoterAlarms;

  constructor(scope: Construct, id: string, props: DestinationStackProps) {
    super(scope, id, props);
    const { destination } = props;
    const logRetention = props.logRetention ?? RetentionDays.THREE_MONTHS;
    const environments = destination.environments.map((env) => env.name);

    const secrets = new PromoterSecrets(this, 'Secrets');
    const deliveries = new DeliveriesTable(this, 'Deliveries');
    const visibilityTimeout = Duration.seconds(WORKER_TIMEOUT.toSeconds() * VISIBILITY_TIMEOUT_FACTOR);
    this.queue = new PromotionQueue(this, 'Jobs', {
      maxReceiveCount: props.maxReceiveCount,
      visibilityTimeout,
    });

    this.webhook = new WebhookFunction(this, 'Webhook', {
      configJson: props.configJson,
      queue: this.queue.queue,
      deliveriesTable: deliveries.table,
      webhookSecret: secrets.webhookSecret,
      githubToken: secrets.githubToken,
      logRetention,
      bundleAwsSdk: props.bundleAwsSdk,
      reservedConcurrency: props.webhookReservedConcurrency,
      readableRepositories: props.webhookChecksRegistries === true ? destination.pushable : [],
    });
    this.worker = new WorkerFunction(this, 'Worker', {
      configJson: props.configJson,
      queue: this.queue.queue,
      githubToken: secrets.githubToken,
      deliveriesTable: deliveries.table,
      roleName: destination.workerRoleName,
      sourceRoleArns: destination.sourceRoleArns,
      pushableRepositories: destination.pushable,
      creatableRepositories: destination.creatable,
      logRetention,
      timeout: WORKER_TIMEOUT,
      bundleAwsSdk: props.bundleAwsSdk,
    });

    const topic =
      props.alarmTopicArn === undefined
        ? undefined
        : Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn);
    this.alarms = new PromoterAlarms(this, 'Alarms', {
      environments,
      queue: this.queue.queue,
      deadLetterQueue: this.queue.deadLetterQueue,
      webhook: this.webhook.function,
      topic,
      // A job retried once waits a whole visibility timeout before its next attempt.
      maxMessageAge: visibilityTimeout.plus(Duration.minutes(30)),
    });
    const reconcile =
      props.reconcile === undefined
        ? undefined
        : new ReconcileSchedule(this, 'Reconcile', {
            configJson: props.configJson,
            environments,
            queue: this.queue.queue,
            githubToken: secrets.githubToken,
            workerRole: this.worker.role,
            rate: props.reconcile.rate,
            topic,
            logRetention,
            bundleAwsSdk: props.bundleAwsSdk,
          });
    if (props.prune !== undefined) {
      new PruneSchedule(this, 'Prune', {
        configJson: props.prune.configJson,
        environments,
        repositories: destination.pushable,
        githubToken: secrets.githubToken,
        rate: props.prune.rate,
        logRetention,
        bundleAwsSdk: props.bundleAwsSdk,
      });
    }
    const dashboard = new PromoterDashboard(this, 'Dashboard', {
      dashboardName: destination.dashboardName,
      title:
        `## image-promoter → ${destination.env.account} ${destination.env.region}\n` +
        `Environments: ${environments.map((env) => `\`${env}\``).join(', ')}. ` +
        `Commit status contexts: ${environments.map((env) => `\`image-promotion/${env}\``).join(', ')}.`,
      environments,
      webhook: this.webhook.function,
      worker: this.worker.function,
      queue: this.queue.queue,
      deadLetterQueue: this.queue.deadLetterQueue,
      alarms: [...this.alarms.all, ...(reconcile?.driftAlarms ?? [])],
    });
    dashboard.dashboard.addWidgets(
      ...(reconcile?.widgets ?? []),
      createLatestPromotionsWidget(this.worker.logGroup),
    );

    new CfnOutput(this, 'WebhookUrl', {
      description: 'Payload URL of the GitHub webhook (content type application/json, push events)',
      value: this.webhook.url.url,
    });
    new CfnOutput(this, 'DashboardUrl', {
      description: 'CloudWatch dashboard',
      value: dashboardUrlOf(destination),
    });
    new CfnOutput(this, 'WorkerRoleArn', {
      description: 'The role the source-access roles trust (aws:PrincipalArn condition)',
      value: this.worker.role.roleArn,
    });
    new CfnOutput(this, 'WebhookSecretArn', {
      description: 'Secrets Manager secret holding the GitHub webhook secret',
      value: secrets.webhookSecret.secretArn,
    });
    new CfnOutput(this, 'GitHubTokenSecretArn', {
      description: 'Secrets Manager secret to put the GitHub token in',
      value: secrets.githubToken.secretArn,
    });
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      description: 'Jobs that exhausted their retries',
      value: this.queue.deadLetterQueue.queueUrl,
    });
  }
}
