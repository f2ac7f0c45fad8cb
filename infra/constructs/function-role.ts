// An execution role for one Lambda that may write to its own log group and nothing else until the
// function's construct grants more. Replaces the AWSLambdaBasicExecutionRole managed policy, which
// would let the function create and write any log group in the account.
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { ILogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface FunctionRoleProps {
  readonly logGroup: ILogGroup;
  /** A fixed name, when another account's policy must name this role. */
  readonly roleName?: string;
  readonly description: string;
}

export class FunctionRole extends Construct {
  readonly role: Role;

  constructor(scope: Construct, id: string, props: FunctionRoleProps) {
    super(scope, id);
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      roleName: props.roleName,
      description: props.description,
    });
    // The log group's ARN attribute ends in `:*`, which covers its streams and nothing else.
    props.logGroup.grantWrite(this.role);
  }
}
