// A read-only role in a source account that exactly the named image-promoter workers may assume,
// each presenting its ExternalId. It reads the allowlisted repositories (manifests, layers,
// referrers, repository settings) and logs in to ECR; it can never write, delete or list beyond them.
import { Stack, Validations } from 'aws-cdk-lib';
import {
  AccountPrincipal,
  PolicyDocument,
  PolicyStatement,
  Role,
  type IPrincipal,
} from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { RepositoryScope, RoleTrust } from '../deployment-plan';

export interface SourceAccessRoleProps {
  readonly roleName: string;
  readonly path: string;
  /** Who may assume the role; at least one. */
  readonly trustedBy: readonly RoleTrust[];
  /** Readable repositories, per source region. */
  readonly readable: readonly RepositoryScope[];
  readonly environments: readonly string[];
}

/** Read actions the copy engine needs on a source repository. */
export const SOURCE_ECR_ACTIONS: readonly string[] = [
  'ecr:BatchCheckLayerAvailability',
  'ecr:BatchGetImage',
  'ecr:DescribeImages',
  'ecr:DescribeRepositories',
  'ecr:GetDownloadUrlForLayer',
];

export class SourceAccessRole extends Construct {
  readonly role: Role;

  constructor(scope: Construct, id: string, props: SourceAccessRoleProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const [first, ...others] = props.trustedBy;
    if (first === undefined) throw new Error(`SourceAccessRole ${props.roleName}: nobody to trust`);

    const repositoryArns = props.readable.flatMap(({ region, patterns }) =>
      patterns.map((pattern) =>
        stack.formatArn({ service: 'ecr', region, resource: 'repository', resourceName: pattern }),
      ),
    );
    this.role = new Role(this, 'Role', {
      roleName: props.roleName,
      path: props.path,
      description: `image-promoter: read-only source access for ${props.environments.join(', ')}`.slice(
        0,
        1000,
      ),
      assumedBy: trustPrincipal(first),
      inlinePolicies: {
        ReadAllowlistedRepositories: new PolicyDocument({
          statements: [
            new PolicyStatement({
              sid: 'ReadAllowlistedRepositories',
              actions: [...SOURCE_ECR_ACTIONS],
              resources: repositoryArns,
            }),
            new PolicyStatement({
              sid: 'RegistryLogin',
              actions: ['ecr:GetAuthorizationToken'],
              resources: ['*'],
            }),
          ],
        }),
      },
    });
    for (const trust of others) {
      this.role.assumeRolePolicy!.addStatements(
        new PolicyStatement({ actions: ['sts:AssumeRole'], principals: [trustPrincipal(trust)] }),
      );
    }

    const validations = Validations.of(this);
    validations.acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ecr:GetAuthorizationToken has no resource-level permissions; it only issues a login token.',
    });
    for (const { region, patterns } of props.readable) {
      for (const pattern of patterns.filter((p) => p.includes('*'))) {
        validations.acknowledge({
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:${region}:${stack.account}:repository/${pattern}]`,
          reason:
            'A repository allowlist glob from the config (environments[].repositories); read actions only.',
        });
      }
    }
  }
}

/** The destination account as principal, narrowed to one role ARN and its ExternalIds. Naming the
 * account (not the role) lets this stack deploy before the worker role exists, and survives the
 * worker role being re-created (a role principal would silently turn into a stale unique id). */
function trustPrincipal(trust: RoleTrust): IPrincipal {
  return new AccountPrincipal(trust.destinationAccount).withConditions({
    StringEquals: {
      'sts:ExternalId': trust.externalIds.length === 1 ? trust.externalIds[0] : [...trust.externalIds],
    },
    ArnEquals: { 'aws:PrincipalArn': trust.workerRoleArn },
  });
}
