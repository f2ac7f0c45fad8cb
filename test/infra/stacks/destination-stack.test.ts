import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../../../lambdas/core/config';
import { synthesizeApp, type SynthesizedApp } from '../synth-app';
import {
  dashboardWidgets,
  findRoleId,
  grantsOf,
  logicalIdOf,
  permissionsOf,
  render,
} from '../template-queries';

// staging and staging-eu promote dev -> staging (one destination stack); prod promotes staging ->
// prod through a role the config names. maxReceiveCount 7 must reach the redrive policy.
const CONFIG = `
github:
  repository: acme/overlays
environments:
  - name: staging
    overlay: overlays/staging
    source: { registry: 111111111111.dkr.ecr.us-east-1.amazonaws.com, externalId: ext-a-0123456789abcdef }
    destination: { registry: 222222222222.dkr.ecr.us-east-1.amazonaws.com }
    repositories: ['shop/**']
  - name: staging-eu
    overlay: overlays/staging-eu
    source: { registry: 111111111111.dkr.ecr.us-east-1.amazonaws.com, externalId: ext-b-0123456789abcdef }
    destination: { registry: 222222222222.dkr.ecr.us-east-1.amazonaws.com, createRepositories: true }
    repositories: ['eu/**']
  - name: prod
    overlay: overlays/prod
    source:
      registry: 222222222222.dkr.ecr.us-east-1.amazonaws.com
      roleArn: arn:aws:iam::222222222222:role/custom
      externalId: ext-c-0123456789abcdef
    destination: { registry: 333333333333.dkr.ecr.eu-west-1.amazonaws.com }
worker:
  maxReceiveCount: 7
webhook:
  reservedConcurrency: 25
# The scheduled reconcile (on by default) has its own test: test/infra/constructs/reconcile-schedule.test.ts.
reconcile:
  enabled: false
`;
const TOPIC = 'arn:aws:sns:us-east-1:222222222222:ops-alarms';
const STAGING_STACK = 'ImagePromoter-222222222222-us-east-1';
const PROD_STACK = 'ImagePromoter-333333333333-eu-west-1';

let synth: SynthesizedApp;
let staging: Template;
let prod: Template;

before(() => {
  synth = synthesizeApp(CONFIG, { alarmTopicArns: [TOPIC, 'arn:aws:sns:us-west-2:999999999999:elsewhere'] });
  staging = synth.templates.get(STAGING_STACK)!;
  prod = synth.templates.get(PROD_STACK)!;
});
after(() => synth.cleanup());

function functionProps(template: Template, prefix: string): Record<string, unknown> {
  const id = logicalIdOf(template, 'AWS::Lambda::Function', prefix);
  return (template.toJSON() as { Resources: Record<string, { Properties: Record<string, unknown> }> })
    .Resources[id]!.Properties;
}

function environmentOf(template: Template, prefix: string): Record<string, string> {
  const env = (functionProps(template, prefix).Environment as { Variables: Record<string, unknown> })
    .Variables;
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, render(v)]));
}

describe('destination stack', () => {
  it('is pinned to the destination account and region from the ECR host names', () => {
    const stacks = synth.stacks.destinations.map((s) => [s.stackName, s.account, s.region]);
    assert.deepEqual(stacks, [
      [STAGING_STACK, '222222222222', 'us-east-1'],
      [PROD_STACK, '333333333333', 'eu-west-1'],
    ]);
  });

  it('has a standard queue with SSE, a redrive to the DLQ after maxReceiveCount, and 6 x the worker timeout', () => {
    const queue = logicalIdOf(staging, 'AWS::SQS::Queue', 'JobsQueue');
    const dlq = logicalIdOf(staging, 'AWS::SQS::Queue', 'JobsDeadLetterQueue');
    const worker = functionProps(staging, 'WorkerFunction');

    staging.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 6 * (worker.Timeout as number),
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] }, maxReceiveCount: 7 },
      FifoQueue: Match.absent(),
    });
    staging.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
      RedrivePolicy: Match.absent(),
    });
    for (const id of [queue, dlq]) {
      staging.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sqs:*',
              Principal: { AWS: '*' },
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
  });

  it('has the deliveries table the webhook expects', () => {
    staging.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'deliveryId', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'deliveryId', AttributeType: 'S' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  it('creates both secrets with generated values and never a literal secret', () => {
    staging.resourceCountIs('AWS::SecretsManager::Secret', 2);
    for (const secret of Object.values(staging.findResources('AWS::SecretsManager::Secret'))) {
      const props = (secret as { Properties: Record<string, unknown> }).Properties;
      assert.equal(props.SecretString, undefined);
      assert.ok(props.GenerateSecretString);
    }
  });

  it('runs the webhook behind an unauthenticated Function URL with the environment contract', () => {
    const fn = logicalIdOf(staging, 'AWS::Lambda::Function', 'WebhookFunction');
    staging.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'NONE',
      TargetFunctionArn: { 'Fn::GetAtt': [fn, 'Arn'] },
    });
    staging.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: Match.stringLikeRegexp('^nodejs(2[2-9]|[3-9]\\d)\\.x$'),
      Architectures: ['arm64'],
      Handler: 'index.handler',
      LoggingConfig: { LogGroup: { Ref: Match.stringLikeRegexp('^WebhookLogGroup') } },
    });
    const env = environmentOf(staging, 'WebhookFunction');
    assert.deepEqual(Object.keys(env).sort(), [
      'DELIVERIES_TABLE',
      'GITHUB_TOKEN_SECRET_ARN',
      'IMAGE_PROMOTER_CONFIG',
      'NODE_OPTIONS',
      'POWERTOOLS_SERVICE_NAME',
      'QUEUE_URL',
      'WEBHOOK_SECRET_ARN',
    ]);
    assert.equal(env.QUEUE_URL, `\${${logicalIdOf(staging, 'AWS::SQS::Queue', 'JobsQueue')}}`);
    assert.equal(env.DELIVERIES_TABLE, `\${${logicalIdOf(staging, 'AWS::DynamoDB::Table', 'Deliveries')}}`);
    assert.equal(
      env.WEBHOOK_SECRET_ARN,
      `\${${logicalIdOf(staging, 'AWS::SecretsManager::Secret', 'SecretsWebhook')}}`,
    );
    assert.equal(
      env.GITHUB_TOKEN_SECRET_ARN,
      `\${${logicalIdOf(staging, 'AWS::SecretsManager::Secret', 'SecretsGitHub')}}`,
    );
    assert.equal(env.POWERTOOLS_SERVICE_NAME, 'image-promoter');
  });

  it('caps the public webhook with the configured reserved concurrency, and only the webhook', () => {
    for (const template of [staging, prod]) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        LoggingConfig: { LogGroup: { Ref: Match.stringLikeRegexp('^WebhookLogGroup') } },
        ReservedConcurrentExecutions: 25,
      });
      template.hasResourceProperties('AWS::Lambda::Function', {
        LoggingConfig: { LogGroup: { Ref: Match.stringLikeRegexp('^WorkerLogGroup') } },
        ReservedConcurrentExecutions: Match.absent(),
      });
    }
  });

  it("hands each destination's Lambdas the validated config of its own environments only", () => {
    const cases: readonly [Template, readonly string[]][] = [
      [staging, ['staging', 'staging-eu']],
      [prod, ['prod']],
    ];
    for (const [template, names] of cases) {
      for (const fn of ['WebhookFunction', 'WorkerFunction']) {
        const config = parseConfig(environmentOf(template, fn).IMAGE_PROMOTER_CONFIG!);
        assert.deepEqual(
          config.environments.map((e) => e.name),
          names,
        );
        assert.equal(config.worker.maxReceiveCount, 7);
        assert.ok(config.environments.every((e) => e.source.roleArn !== undefined));
      }
    }
  });

  it('sizes and wires the worker for large images with bounded concurrency and partial batch responses', () => {
    const worker = functionProps(staging, 'WorkerFunction');
    assert.equal(worker.MemorySize, 2048);
    assert.equal(worker.Timeout, 900);
    assert.deepEqual(worker.Architectures, ['arm64']);
    assert.equal(worker.ReservedConcurrentExecutions, undefined);
    assert.deepEqual(Object.keys(environmentOf(staging, 'WorkerFunction')).sort(), [
      'DELIVERIES_TABLE',
      'GITHUB_TOKEN_SECRET_ARN',
      'IMAGE_PROMOTER_CONFIG',
      'NODE_OPTIONS',
      'POWERTOOLS_METRICS_NAMESPACE',
      'POWERTOOLS_SERVICE_NAME',
    ]);
    staging.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOf(staging, 'AWS::SQS::Queue', 'JobsQueue'), 'Arn'] },
      FunctionName: { Ref: logicalIdOf(staging, 'AWS::Lambda::Function', 'WorkerFunction') },
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 5 },
    });
  });

  it('keeps 90 days of logs in explicit log groups, one per function', () => {
    staging.resourceCountIs('AWS::Logs::LogGroup', 2);
    staging.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    for (const prefix of ['WebhookFunction', 'WorkerFunction']) {
      const logGroup = (functionProps(staging, prefix).LoggingConfig as { LogGroup: unknown }).LogGroup;
      assert.match(render(logGroup), /^\$\{(Webhook|Worker)LogGroup/);
    }
  });

  it('outputs the webhook URL, the dashboard URL and the worker role ARN', () => {
    staging.hasOutput('WebhookUrl', {
      Value: {
        'Fn::GetAtt': [logicalIdOf(staging, 'AWS::Lambda::Url', 'WebhookFunctionFunctionUrl'), 'FunctionUrl'],
      },
    });
    staging.hasOutput('DashboardUrl', {
      Value:
        'https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/' +
        'ImagePromoter-222222222222-us-east-1',
    });
    staging.hasOutput('WorkerRoleArn', {
      Value: {
        'Fn::GetAtt': [findRoleId(staging, (_, name) => name === 'image-promoter-worker-us-east-1'), 'Arn'],
      },
    });
  });
});

describe('destination stack IAM (least privilege)', () => {
  const ecr = (region: string, account: string, repo: string): string =>
    `arn:\${AWS::Partition}:ecr:${region}:${account}:repository/${repo}`;
  const PUSH = [
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

  it('lets the webhook send to its queue, use its table, read its secrets and look up manifests of the allowlisted repositories, nothing else', () => {
    const role = findRoleId(staging, (id) => id.startsWith('WebhookExecutionRole'));
    const queue = logicalIdOf(staging, 'AWS::SQS::Queue', 'JobsQueue');
    const table = logicalIdOf(staging, 'AWS::DynamoDB::Table', 'Deliveries');
    const logGroup = logicalIdOf(staging, 'AWS::Logs::LogGroup', 'WebhookLogGroup');
    const secrets = ['SecretsWebhook', 'SecretsGitHub'].map((p) =>
      logicalIdOf(staging, 'AWS::SecretsManager::Secret', p),
    );

    assert.deepEqual(
      grantsOf(permissionsOf(staging, role)),
      [
        ...['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'].map((a) => `dynamodb:${a} \${${table}.Arn}`),
        ...['CreateLogStream', 'PutLogEvents'].map((a) => `logs:${a} \${${logGroup}.Arn}`),
        ...secrets.flatMap((s) =>
          ['GetSecretValue', 'DescribeSecret'].map((a) => `secretsmanager:${a} \${${s}}`),
        ),
        `sqs:SendMessage \${${queue}.Arn}`,
        // webhook.checkRegistries (on by default): a manifest HEAD in its own registry, read only,
        // the allowlisted repositories only (no layers, no writes, no role to assume).
        ...['eu/*', 'shop/*'].map((r) => `ecr:BatchGetImage ${ecr('us-east-1', '222222222222', r)}`),
        'ecr:GetAuthorizationToken *',
      ].sort(),
    );
  });

  it('gives the webhook no ECR permission at all with webhook.checkRegistries: false', () => {
    const off = synthesizeApp(
      CONFIG.replace('reservedConcurrency: 25', 'reservedConcurrency: 25\n  checkRegistries: false'),
    );
    try {
      const template = off.templates.get(STAGING_STACK)!;
      const role = findRoleId(template, (id) => id.startsWith('WebhookExecutionRole'));
      assert.deepEqual(
        grantsOf(permissionsOf(template, role)).filter((grant) => grant.startsWith('ecr:')),
        [],
      );
    } finally {
      off.cleanup();
    }
  });

  it('lets the worker push only to allowlisted repositories, create only where configured, assume only the source role', () => {
    const role = findRoleId(staging, (_, name) => name === 'image-promoter-worker-us-east-1');
    const queue = logicalIdOf(staging, 'AWS::SQS::Queue', 'JobsQueue');
    const logGroup = logicalIdOf(staging, 'AWS::Logs::LogGroup', 'WorkerLogGroup');
    const token = logicalIdOf(staging, 'AWS::SecretsManager::Secret', 'SecretsGitHub');
    const table = logicalIdOf(staging, 'AWS::DynamoDB::Table', 'Deliveries');

    assert.deepEqual(
      grantsOf(permissionsOf(staging, role)),
      [
        `dynamodb:PutItem \${${table}.Arn}`,
        ...PUSH.flatMap((a) => ['eu/*', 'shop/*'].map((r) => `${a} ${ecr('us-east-1', '222222222222', r)}`)),
        `ecr:CreateRepository ${ecr('us-east-1', '222222222222', 'eu/*')}`,
        `ecr:TagResource ${ecr('us-east-1', '222222222222', 'eu/*')}`,
        ...['CreateGrant', 'DescribeKey', 'RetireGrant'].map(
          (a) => `kms:${a} arn:\${AWS::Partition}:kms:us-east-1:222222222222:key/*`,
        ),
        'ecr:GetAuthorizationToken *',
        ...['CreateLogStream', 'PutLogEvents'].map((a) => `logs:${a} \${${logGroup}.Arn}`),
        ...['GetSecretValue', 'DescribeSecret'].map((a) => `secretsmanager:${a} \${${token}}`),
        ...[
          'ReceiveMessage',
          'ChangeMessageVisibility',
          'GetQueueUrl',
          'DeleteMessage',
          'GetQueueAttributes',
        ].map((a) => `sqs:${a} \${${queue}.Arn}`),
        'sts:AssumeRole arn:aws:iam::111111111111:role/image-promoter-source-222222222222',
      ].sort(),
    );
  });

  it('lets the worker write only promotion records to the deliveries table (history), never claims', () => {
    const role = findRoleId(staging, (_, name) => name === 'image-promoter-worker-us-east-1');
    const dynamo = permissionsOf(staging, role).filter((s) =>
      s.actions.some((a) => a.startsWith('dynamodb:')),
    );

    assert.deepEqual(
      dynamo.map((s) => [s.actions, s.conditions]),
      [[['dynamodb:PutItem'], { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['promotion#*'] } }]],
    );
    assert.equal(
      environmentOf(staging, 'WorkerFunction').DELIVERIES_TABLE,
      `\${${logicalIdOf(staging, 'AWS::DynamoDB::Table', 'Deliveries')}}`,
    );
  });

  it('lets the worker use KMS only through ECR in its region, to encrypt repositories it creates', () => {
    const role = findRoleId(staging, (_, name) => name === 'image-promoter-worker-us-east-1');
    const kms = permissionsOf(staging, role).filter((s) => s.actions.some((a) => a.startsWith('kms:')));

    assert.deepEqual(
      kms.map((s) => s.conditions),
      [
        {
          StringEquals: {
            'kms:ViaService': { 'Fn::Join': ['', ['ecr.us-east-1.', { Ref: 'AWS::URLSuffix' }]] },
          },
        },
      ],
    );
  });

  it('gives a worker without createRepositories no CreateRepository, and all repositories without an allowlist', () => {
    const role = findRoleId(prod, (_, name) => name === 'image-promoter-worker-eu-west-1');
    const grants = grantsOf(permissionsOf(prod, role));

    assert.deepEqual(
      grants.filter((g) => g.startsWith('ecr:') && !g.startsWith('ecr:GetAuthorizationToken')),
      PUSH.map((a) => `${a} ${ecr('eu-west-1', '333333333333', '*')}`).sort(),
    );
    assert.deepEqual(
      grants.filter((g) => g.startsWith('kms:')),
      [],
    );
    assert.deepEqual(
      grants.filter((g) => g.startsWith('sts:')),
      ['sts:AssumeRole arn:aws:iam::222222222222:role/custom'],
    );
  });
});

describe('dashboard and alarms', () => {
  const metricsOf = (title: RegExp): (readonly unknown[])[] => {
    const widget = dashboardWidgets(staging).find((w) => title.test(w.properties.title ?? ''));
    assert.ok(widget, `no widget ${title}`);
    return [...(widget.properties.metrics ?? [])];
  };

  const promoterWidgets: readonly [RegExp, string, readonly string[]][] = [
    [/^Images promoted/, 'ImagesPromoted', ['Sum']],
    [/^Images promoted/, 'ImagesAlreadyPresent', ['Sum']],
    [/^Promotion failures/, 'PromotionFailures', ['Sum']],
    [/^Bytes copied/, 'BytesCopied', ['Sum']],
    [/^Blobs copied/, 'BlobsCopied', ['Sum']],
    [/^Blobs copied/, 'BlobsSkipped', ['Sum']],
    [/^Promotion duration/, 'PromotionDuration', ['p50', 'p90', 'Maximum']],
    [/^Push to promoted latency/, 'PushToPromotedLatency', ['p50', 'p90', 'Maximum']],
  ];
  for (const [title, metric, stats] of promoterWidgets) {
    it(`graphs ${metric} (${stats.join('/')}) per environment with the Powertools dimensions`, () => {
      const lines = metricsOf(title).filter((m) => m[0] === 'ImagePromoter' && m[1] === metric);
      const seen = lines.map((m) => {
        const dims = Object.fromEntries([
          [m[2], m[3]],
          [m[4], m[5]],
        ] as [string, string][]);
        assert.equal(dims.service, 'image-promoter');
        return `${dims.Environment} ${(m[6] as { stat: string }).stat}`;
      });
      assert.deepEqual(
        seen.sort(),
        ['staging', 'staging-eu'].flatMap((e) => stats.map((s) => `${e} ${s}`)).sort(),
      );
    });
  }

  it('graphs queue depth, DLQ depth, oldest message age, Lambda errors/throttles/duration and URL 4xx/5xx', () => {
    const names = dashboardWidgets(staging).flatMap((w) =>
      (w.properties.metrics ?? []).map((m) => `${String(m[0])} ${String(m[1])}`),
    );
    for (const expected of [
      'AWS/SQS ApproximateNumberOfMessagesVisible',
      'AWS/SQS ApproximateNumberOfMessagesNotVisible',
      'AWS/SQS ApproximateAgeOfOldestMessage',
      'AWS/Lambda Errors',
      'AWS/Lambda Throttles',
      'AWS/Lambda Duration',
      'AWS/Lambda Url4xxCount',
      'AWS/Lambda Url5xxCount',
    ]) {
      assert.ok(names.includes(expected), `dashboard lacks ${expected}`);
    }
    const durations = metricsOf(/^Lambda duration/).map((m) => (m.at(-1) as { stat: string }).stat);
    assert.deepEqual(durations, ['p50', 'p90', 'Maximum', 'p50', 'p90', 'Maximum']);
  });

  it('alarms on a non-empty DLQ, old messages, webhook errors and failures per environment, to the SNS topic', () => {
    const dlq = logicalIdOf(staging, 'AWS::SQS::Queue', 'JobsDeadLetterQueue');
    const queue = logicalIdOf(staging, 'AWS::SQS::Queue', 'JobsQueue');
    staging.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    staging.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queue, 'QueueName'] } }],
      Threshold: Match.anyValue(),
    });
    staging.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([
        Match.objectLike({
          MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'Errors' }) }),
        }),
        Match.objectLike({
          MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'Url5xxCount' }) }),
        }),
      ]),
    });
    for (const env of ['staging', 'staging-eu']) {
      staging.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Metrics: [
          Match.objectLike({
            MetricStat: Match.objectLike({
              Metric: {
                Namespace: 'ImagePromoter',
                MetricName: 'PromotionFailures',
                Dimensions: Match.arrayWith([{ Name: 'Environment', Value: env }]),
              },
            }),
          }),
        ],
        Threshold: 1,
      });
    }
    const alarms = Object.values(staging.findResources('AWS::CloudWatch::Alarm')) as {
      Properties: { AlarmActions?: unknown[]; OKActions?: unknown[] };
    }[];
    assert.equal(alarms.length, 6);
    for (const alarm of alarms) {
      assert.deepEqual(alarm.Properties.AlarmActions, [TOPIC]);
      assert.deepEqual(alarm.Properties.OKActions, [TOPIC]);
    }
  });

  it('waits longer than one retry cycle before calling a message too old', () => {
    const [alarm] = Object.values(
      staging.findResources('AWS::CloudWatch::Alarm', {
        Properties: { MetricName: 'ApproximateAgeOfOldestMessage' },
      }),
    ) as { Properties: { Threshold: number } }[];
    const queue = Object.values(
      staging.findResources('AWS::SQS::Queue', { Properties: { RedrivePolicy: Match.anyValue() } }),
    ) as { Properties: { VisibilityTimeout: number } }[];
    assert.ok(alarm!.Properties.Threshold > queue[0]!.Properties.VisibilityTimeout);
  });

  it('leaves alarms without actions where no topic is in the stack account and region', () => {
    const alarms = Object.values(prod.findResources('AWS::CloudWatch::Alarm')) as {
      Properties: { AlarmActions?: unknown[] };
    }[];
    assert.equal(alarms.length, 5);
    assert.ok(alarms.every((a) => a.Properties.AlarmActions === undefined));
  });

  it('alarms on any job the worker refused (a security event) and graphs it next to the failures', () => {
    for (const template of [staging, prod]) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Metrics: [
          Match.objectLike({
            MetricStat: Match.objectLike({
              Metric: {
                Namespace: 'ImagePromoter',
                MetricName: 'RejectedJobs',
                Dimensions: [{ Name: 'service', Value: 'image-promoter' }],
              },
              Stat: 'Sum',
            }),
          }),
        ],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmDescription: Match.stringLikeRegexp('^SECURITY: the worker refused a promotion job'),
      });
    }
    const rejected = metricsOf(/^Promotion failures \/ rejected jobs/).filter(
      (m) => m[0] === 'ImagePromoter' && m[1] === 'RejectedJobs',
    );
    assert.deepEqual(
      rejected.map((m) => [m[2], m[3]]),
      [['service', 'image-promoter']],
    );
  });
});
