// The webhook Lambda behind a public Function URL (auth NONE: GitHub cannot sign AWS requests; the
// handler verifies X-Hub-Signature-256 before it parses anything), capped by reserved concurrency so
// anyone on the internet can at most keep that many instances busy, never the account's pool. It may send to its queue, use its
// deliveries table and read its two secrets, and (webhook.checkRegistries) read manifests of the
// allowlisted repositories of its own registry; nothing else: no layers, no writes, no other
// account, no role to assume. Never reads the webhook secret into the template or an environment
// variable (only its ARN).
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
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
  /** Destination repository name patterns (IAM wildcards: the allowlists) whose manifests the
   * webhook may look up before enqueuing (webhook.checkRegistries); empty or absent: none. */
  readonly readableRepositories?: readonly string[];
}

/** What a manifest HEAD through the registry API needs: ECR authorizes a manifest read as
 * ecr:BatchGetImage (ECR API Reference, BatchGetImage: "When an image is pulled, the BatchGetImage
 * API is called once to retrieve the image manifest"; layers would need ecr:GetDownloadUrlForLayer,
 * which the webhook never gets), after a login token, which needs ecr:GetAuthorizationToken in an
 * IAM policy (Amazon ECR User Guide, "Private repository policies"). */
export const WEBHOOK_ECR_READ_ACTIONS = ['ecr:BatchGetImage'] as const;

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

    const readable = props.readableRepositories ?? [];
    if (readable.length > 0) {
      const stack = Stack.of(this);
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'LookUpAllowlistedManifests',
          actions: [...WEBHOOK_ECR_READ_ACTIONS],
          resources: readable.map((pattern) =>
            stack.formatArn({ service: 'ecr', resource: 'repository', resourceName: pattern }),
          ),
        }),
      );
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'RegistryLogin',
          actions: ['ecr:GetAuthorizationToken'],
          resources: ['*'],
        }),
      );
      const validations = Validations.of(this);
      validations.acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'ecr:GetAuthorizationToken has no resource-level permissions; the token it issues carries only ' +
          "this role's own ECR permissions (manifest reads of the allowlisted repositories).",
      });
      for (const pattern of new Set(readable.filter((p) => p.includes('*')))) {
        validations.acknowledge({
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:${stack.region}:${stack.account}:repository/${pattern}]`,
          reason:
            'A repository allowlist glob from the config (environments[].repositories), inside this registry: ' +
            'the webhook reads manifests (ecr:BatchGetImage) of exactly the repositories it may promote into.',
        });
      }
    }
  }
}
