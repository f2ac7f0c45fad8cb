// The webhook Lambda behind a public Function URL (auth NONE: GitHub cannot sign AWS requests; the
// handler verifies X-Hub-Signature-256 before it parses anything), capped by reserved concurrency so
// anyone on the internet can at most keep that many instances busy, never the account's pool. It may send to its queue, use its
// deliveries table and read its two secrets; nothing else. Never reads the webhook secret into the
// template or an environment variable (only its ARN).
import { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { FunctionUrlAuthType, type FunctionUrl } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FunctionRole } from './function-role';
import { functionBuildProps } from './lambda-bundling';
import { ENV } from '../../lambdas/core/contract';
import { createFunctionEnvironment } from './lambda-environment';

export interface WebhookFunctionProps {
  /** IMAGE_PROMOTER_CONFIG: the validated config for this destination, as JSON. */
  readonly configJson: string;
  readonly queue: IQueue;
  readonly deliveriesTable: ITable;
  readonly webhookSecret: ISecret;
  readonly githubToken: ISecret;
  readonly logRetention: RetentionDays;
  /** Bundle the AWS SDK instead of using the runtime's (createBundlingOptions). */
  readonly bundleAwsSdk?: boolean;
  /** config.webhook.reservedConcurrency: the most concurrent invocations the public URL can start
   * (also reserved for it); false: no reservation and no cap. */
  readonly reservedConcurrency: number | false;
}

/** GitHub gives a webhook 10 s; planning reads the overlays through the GitHub API. */
export const WEBHOOK_TIMEOUT = Duration.seconds(30);
export const WEBHOOK_MEMORY_MB = 512;

export class WebhookFunction extends Construct {
  readonly function: NodejsFunction;
  readonly url: FunctionUrl;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: WebhookFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'LogGroup', { retention: props.logRetention });
    const { role } = new FunctionRole(this, 'ExecutionRole', {
      logGroup: this.logGroup,
      description: 'image-promoter webhook: enqueue promotion jobs, record deliveries, read its secrets',
    });
    this.function = new NodejsFunction(this, 'Function', {
      description: 'image-promoter webhook: verify GitHub pushes, plan promotions, enqueue jobs',
      ...functionBuildProps('webhook', { bundleAwsSdk: props.bundleAwsSdk }),
      memorySize: WEBHOOK_MEMORY_MB,
      timeout: WEBHOOK_TIMEOUT,
      // Reserved concurrency is both the cap and a reservation; Lambda keeps at least 100 of the
      // account's concurrency unreserved, so accounts at the new-account limit must say false
      // (AWS Lambda Developer Guide, "Configuring reserved concurrency for a function").
      ...(props.reservedConcurrency === false
        ? {}
        : { reservedConcurrentExecutions: props.reservedConcurrency }),
      role,
      logGroup: this.logGroup,
      environment: createFunctionEnvironment('webhook', props.configJson, {
        [ENV.queueUrl]: props.queue.queueUrl,
        [ENV.deliveriesTable]: props.deliveriesTable.tableName,
        [ENV.webhookSecretArn]: props.webhookSecret.secretArn,
        [ENV.githubTokenSecretArn]: props.githubToken.secretArn,
      }),
    });
    this.url = this.function.addFunctionUrl({ authType: FunctionUrlAuthType.NONE });

    props.queue.grant(role, 'sqs:SendMessage');
    props.deliveriesTable.grant(
      role,
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
    );
    props.webhookSecret.grantRead(role);
    props.githubToken.grantRead(role);
  }
}
