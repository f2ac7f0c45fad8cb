// The webhook's record of GitHub deliveries it has enqueued (partition key `deliveryId`, TTL
// `expiresAt`): a conditional write per X-GitHub-Delivery makes a redelivery enqueue nothing.
// Never stores payloads or secrets.
import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';

export class DeliveriesTable extends Construct {
  readonly table: Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.table = new Table(this, 'Table', {
      partitionKey: { name: 'deliveryId', type: AttributeType.STRING },
      timeToLiveAttribute: 'expiresAt',
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Only short-lived deduplication claims live here (they expire by TTL); losing them with the
      // stack means at worst that a delivery redelivered by hand is enqueued again.
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }
}
