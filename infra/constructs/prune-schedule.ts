// The scheduled prune (config prune.scheduled, off by default): an EventBridge rule (every
// prune.rateHours) invoking a function with a role of its own that may read the GitHub token,
// list the registry's repositories, and read and delete images only in the allowlisted
// repositories of this stack's registry (ecr:DescribeImages, ecr:BatchGetImage,
// ecr:BatchDeleteImage). It cannot push, cannot assume the source roles and reaches no other
// account: what another environment deploys elsewhere is protected by path and tag (run-prune).
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement, type Role } from 'aws-cdk-lib/aws-iam';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ENV } from '../../lambdas/core/contract';
import { FunctionRole } from './function-role';
import { functionBuildProps } from './lambda-bundling';
import { createFunctionEnvironment } from './lambda-environment';

export interface PruneScheduleProps {
  readonly configJson: string;
  /** The environments of this stack, pruned in turn. */
  readonly environments: readonly string[];
  /** Allowlist globs of this registry (environments[].repositories, as IAM resource patterns). */
  readonly repositories: readonly string[];
  readonly githubToken: ISecret;
  readonly rate: Duration;
  readonly logRetention: RetentionDays;
  readonly bundleAwsSdk?: boolean;
}

/** A run reads each overlay along its history and every allowlisted repository: minutes at most. */
export const PRUNE_TIMEOUT = Duration.minutes(10);

/** Read and delete within the allowlisted repositories: the whole of what prune does to ECR. */
export const PRUNE_ECR_ACTIONS = ['ecr:BatchDeleteImage', 'ecr:BatchGetImage', 'ecr:DescribeImages'] as const;

export class PruneSchedule extends Construct {
  readonly function: NodejsFunction;
  readonly rule: Rule;
  readonly role: Role;

  constructor(scope: Construct, id: string, props: PruneScheduleProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const logGroup = new LogGroup(this, 'LogGroup', { retention: props.logRetention });
    this.role = new FunctionRole(this, 'Role', {
      logGroup,
      description: 'image-promoter prune: reads and deletes images in the allowlisted repositories only',
    }).role;
    this.function = new NodejsFunction(this, 'Function', {
      description:
        'image-promoter prune: delete what no overlay deploys and the rollback window does not keep',
      ...functionBuildProps('prune', { bundleAwsSdk: props.bundleAwsSdk }),
      memorySize: 512,
      timeout: PRUNE_TIMEOUT,
      role: this.role,
      logGroup,
      environment: createFunctionEnvironment('prune', props.configJson, {
        [ENV.githubTokenSecretArn]: props.githubToken.secretArn,
        [ENV.pruneEnvironments]: props.environments.join(','),
      }),
    });
    props.githubToken.grantRead(this.role);
    const repositoryArn = (pattern: string): string =>
      stack.formatArn({ service: 'ecr', resource: 'repository', resourceName: pattern });
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'PruneAllowlistedRepositories',
        actions: [...PRUNE_ECR_ACTIONS],
        resources: props.repositories.map(repositoryArn),
      }),
    );
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ListRepositories',
        // Listing names every repository of the registry; the function keeps the allowlisted ones.
        actions: ['ecr:DescribeRepositories'],
        resources: [repositoryArn('*')],
      }),
    );
    this.rule = new Rule(this, 'Schedule', {
      description: `image-promoter prune every ${props.rate.toHumanString()}`,
      schedule: Schedule.rate(props.rate),
      // A failed run is retried twice; the next period tries again.
      targets: [new LambdaFunction(this.function, { retryAttempts: 2, maxEventAge: Duration.hours(1) })],
    });

    const validations = Validations.of(this);
    validations.acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:${stack.region}:${stack.account}:repository/*]`,
      reason:
        'ecr:DescribeRepositories only, to list the repository names; reads and deletes are allowlisted.',
    });
    for (const pattern of new Set(props.repositories.filter((p) => p.includes('*')))) {
      validations.acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:${stack.region}:${stack.account}:repository/${pattern}]`,
        reason:
          'A repository allowlist glob from the config (environments[].repositories), inside this registry; ' +
          'prune also filters every repository through it before reading or deleting.',
      });
    }
  }
}
