// The worker Lambda: takes promotion jobs off the queue (partial batch responses), assumes the
// source account's read-only role, and pushes into the allowlisted repositories of its own ECR
// registry. Its role has a fixed name so the source account's trust policy can name it without a
// cross-account lookup. Never gets push rights outside the allowlist, nor any role but the source
// roles.
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { PolicyStatement, type Role } from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PROMOTION_KEY_PREFIX } from '../../lambdas/core/promotion-history';
import { FunctionRole } from './function-role';
import { functionBuildProps } from './lambda-bundling';
import { ENV } from '../../lambdas/core/contract';
import { createFunctionEnvironment } from './lambda-environment';

export interface WorkerFunctionProps {
  /** IMAGE_PROMOTER_CONFIG: the validated config for this destination, as JSON. */
  readonly configJson: string;
  readonly queue: IQueue;
  readonly githubToken: ISecret;
  /** Where the worker records what it promoted (`image-promoter history`); write-only, its own keys. */
  readonly deliveriesTable?: ITable;
  /** Fixed execution role name (the source roles trust `arn:...:role/<roleName>`). */
  readonly roleName: string;
  /** Roles in source accounts the worker may assume. */
  readonly sourceRoleArns: readonly string[];
  /** Destination repository name patterns (IAM wildcards) the worker may push to. */
  readonly pushableRepositories: readonly string[];
  /** Patterns the worker may create (empty unless `destination.createRepositories`). */
  readonly creatableRepositories: readonly string[];
  readonly logRetention: RetentionDays;
  /** Bundle the AWS SDK instead of using the runtime's (createBundlingOptions). */
  readonly bundleAwsSdk?: boolean;
  readonly timeout?: Duration;
  readonly memorySize?: number;
  /** Concurrent invocations the SQS event source may run. */
  readonly maxConcurrency?: number;
}

/** Large images stream through memory (no ephemeral storage): memory also buys network and CPU. */
export const WORKER_TIMEOUT = Duration.minutes(15);
export const WORKER_MEMORY_MB = 2048;
/** Bounded through the event source, not reserved concurrency: a reserved limit below the number of
 * SQS pollers throttles invocations, which counts as receives and sends healthy jobs to the DLQ —
 * and reserving any concurrency fails in accounts whose total limit is the new-account 10. */
export const WORKER_MAX_CONCURRENCY = 5;

/** ECR actions of a push (and of the HEAD/GET checks around it) in the destination registry. */
export const DESTINATION_ECR_ACTIONS: readonly string[] = [
  'ecr:BatchCheckLayerAvailability',
  'ecr:BatchGetImage',
  'ecr:CompleteLayerUpload',
  'ecr:DescribeImages',
  'ecr:DescribeRepositories',
  'ecr:GetDownloadUrlForLayer',
  'ecr:InitiateLayerUpload',
  'ecr:PutImage',
  'ecr:UploadLayerPart',
];

export class WorkerFunction extends Construct {
  readonly function: NodejsFunction;
  readonly logGroup: LogGroup;
  readonly role: Role;

  constructor(scope: Construct, id: string, props: WorkerFunctionProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.logGroup = new LogGroup(this, 'LogGroup', { retention: props.logRetention });
    const { role } = new FunctionRole(this, 'ExecutionRole', {
      logGroup: this.logGroup,
      roleName: props.roleName,
      description: 'image-promoter worker: assume the source read-only role, push allowlisted repositories',
    });
    this.role = role;
    const timeout = props.timeout ?? WORKER_TIMEOUT;
    this.function = new NodejsFunction(this, 'Function', {
      description: 'image-promoter worker: copy images byte-identically into this registry, report status',
      ...functionBuildProps('worker', { bundleAwsSdk: props.bundleAwsSdk }),
      memorySize: props.memorySize ?? WORKER_MEMORY_MB,
      timeout,
      role,
      logGroup: this.logGroup,
      environment: createFunctionEnvironment('worker', props.configJson, {
        [ENV.githubTokenSecretArn]: props.githubToken.secretArn,
        ...(props.deliveriesTable === undefined
          ? {}
          : { [ENV.deliveriesTable]: props.deliveriesTable.tableName }),
      }),
    });
    this.function.addEventSource(
      new SqsEventSource(props.queue, {
        // One job per invocation: a job already copies its images in parallel, and a slow job then
        // never holds other jobs past the timeout.
        batchSize: 1,
        reportBatchItemFailures: true,
        maxConcurrency: props.maxConcurrency ?? WORKER_MAX_CONCURRENCY,
      }),
    );

    const repositoryArn = (pattern: string): string =>
      stack.formatArn({ service: 'ecr', resource: 'repository', resourceName: pattern });
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'PushAllowlistedRepositories',
        actions: [...DESTINATION_ECR_ACTIONS],
        resources: props.pushableRepositories.map(repositoryArn),
      }),
    );
    const creating = props.creatableRepositories.length > 0;
    if (creating) {
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'CreateAllowlistedRepositories',
          // The worker tags what it creates (created-by); tag-on-create is authorized as TagResource.
          actions: ['ecr:CreateRepository', 'ecr:TagResource'],
          resources: props.creatableRepositories.map(repositoryArn),
        }),
      );
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'EncryptCreatedRepositories',
          // A repository created with encryption type KMS (copied from its source) uses this account's
          // AWS-managed ECR key; ECR needs a grant on it, asked for through ECR only.
          actions: ['kms:CreateGrant', 'kms:DescribeKey', 'kms:RetireGrant'],
          resources: [stack.formatArn({ service: 'kms', resource: 'key', resourceName: '*' })],
          conditions: { StringEquals: { 'kms:ViaService': `ecr.${stack.region}.${stack.urlSuffix}` } },
        }),
      );
    }
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'RegistryLogin',
        actions: ['ecr:GetAuthorizationToken'],
        resources: ['*'],
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'AssumeSourceRoles',
        actions: ['sts:AssumeRole'],
        resources: [...props.sourceRoleArns],
      }),
    );
    props.githubToken.grantRead(role);
    if (props.deliveriesTable !== undefined) {
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'RecordPromotions',
          // Only PutItem, and only on the promotion records' keys (adapters/promotion-history-store.ts):
          // the worker can neither read nor overwrite the webhook's delivery claims.
          actions: ['dynamodb:PutItem'],
          resources: [props.deliveriesTable.tableArn],
          conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${PROMOTION_KEY_PREFIX}*`] } },
        }),
      );
    }

    const validations = Validations.of(this);
    validations.acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ecr:GetAuthorizationToken has no resource-level permissions; it only issues a login token.',
    });
    const wildcards = new Set(
      [...props.pushableRepositories, ...props.creatableRepositories].filter((p) => p.includes('*')),
    );
    if (creating) {
      validations.acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:${stack.region}:${stack.account}:key/*]`,
        reason:
          "The AWS-managed ECR key's id is not known before ECR creates it; the grant is limited to calls " +
          'made through ECR in this region (kms:ViaService).',
      });
    }
    for (const pattern of wildcards) {
      validations.acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:${stack.region}:${stack.account}:repository/${pattern}]`,
        reason:
          'A repository allowlist glob from the config (environments[].repositories), inside this registry, ' +
          'meaning the same repositories as the glob; the worker also admits every job against it ' +
          '(lambdas/core/admit-job.ts) before any registry call.',
      });
    }
  }
}
