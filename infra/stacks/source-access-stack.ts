// The stack in a source account: the read-only roles the destination workers assume (one per
// distinct role name; the default `image-promoter-source` serves every destination that gives no
// roleArn). Composes constructs only. Never grants write access to anything.
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { SourceAccessRole } from '../constructs/source-access-role';
import type { SourceDeployment } from '../deployment-plan';

export interface SourceAccessStackProps extends StackProps {
  readonly source: SourceDeployment;
}

export class SourceAccessStack extends Stack {
  constructor(scope: Construct, id: string, props: SourceAccessStackProps) {
    super(scope, id, props);
    for (const spec of props.source.roles) {
      // Ids from role names: reordering environments must never replace a (fixed-name) role.
      const { role } = new SourceAccessRole(this, `Role-${spec.roleName}`, spec);
      new CfnOutput(this, `RoleArn-${spec.roleName}`, {
        description: `Role the worker assumes for ${spec.environments.join(', ')}`,
        value: role.roleArn,
      });
    }
  }
}
