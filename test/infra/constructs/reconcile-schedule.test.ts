import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { synthesizeApp, type SynthesizedApp } from '../synth-app';
import {
  dashboardWidgets,
  findRoleId,
  grantsOf,
  logicalIdOf,
  permissionsOf,
  render,
} from '../template-queries';

const config = (reconcile: string): string => `
github:
  repository: acme/overlays
environments:
  - name: production
    overlay: overlays/production
    source: { registry: 111111111111.dkr.ecr.us-east-1.amazonaws.com, externalId: 9f2c41d07be35a68 }
    destination: { registry: 222222222222.dkr.ecr.us-east-1.amazonaws.com }
    repositories: ['shop/**']
${reconcile}`;
const STACK = 'ImagePromoter-222222222222-us-east-1';
const TOPIC = 'arn:aws:sns:us-east-1:222222222222:ops-alarms';

describe('scheduled reconcile (infra)', () => {
  let byDefault: SynthesizedApp;
  let every15: SynthesizedApp;
  let off: SynthesizedApp;
  let template: Template;

  before(() => {
    byDefault = synthesizeApp(config(''), { alarmTopicArns: [TOPIC] });
    every15 = synthesizeApp(config('reconcile: { rateMinutes: 15 }'));
    off = synthesizeApp(config('reconcile: { enabled: false }'));
    template = byDefault.templates.get(STACK)!;
  });
  after(() => {
    for (const s of [byDefault, every15, off]) s?.cleanup();
  });

  it('runs hourly by default and at the configured rate, and not at all when disabled', () => {
    // Assess
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 hour)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({ RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 } }),
      ],
    });
    every15.templates.get(STACK)!.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(15 minutes)',
    });
    off.templates.get(STACK)!.resourceCountIs('AWS::Events::Rule', 0);
    assert.equal(
      Object.keys(off.templates.get(STACK)!.findResources('AWS::Lambda::Function')).filter((id) =>
        id.startsWith('Reconcile'),
      ).length,
      0,
    );
  });

  it("runs as the worker's role with the queue URL, and adds only sending to the queue to that role", () => {
    // Prepare
    const functionId = logicalIdOf(template, 'AWS::Lambda::Function', 'ReconcileFunction');
    const props = (
      template.toJSON() as { Resources: Record<string, { Properties: Record<string, unknown> }> }
    ).Resources[functionId]!.Properties;
    const workerRole = findRoleId(template, (id) => id.startsWith('WorkerExecutionRole'));
    const withReconcile = grantsOf(permissionsOf(template, workerRole));
    const offTemplate = off.templates.get(STACK)!;
    const without = grantsOf(
      permissionsOf(
        offTemplate,
        findRoleId(offTemplate, (id) => id.startsWith('WorkerExecutionRole')),
      ),
    );

    // Assess
    assert.match(render(props['Role']), new RegExp(`^\\$\\{${workerRole}\\.Arn\\}$`));
    const variables = (props['Environment'] as { Variables: Record<string, unknown> }).Variables;
    assert.match(render(variables['QUEUE_URL']), /^\$\{Jobs/);
    assert.ok(variables['GITHUB_TOKEN_SECRET_ARN'] !== undefined);
    const added = withReconcile.filter((g) => !without.includes(g));
    assert.ok(added.length > 0);
    for (const grant of added)
      assert.match(
        grant,
        /^(sqs:SendMessage|sqs:GetQueueAttributes|sqs:GetQueueUrl|logs:\w+|kms:\w+) /,
        grant,
      );
    assert.ok(!withReconcile.some((g) => g.startsWith('ecr:BatchDeleteImage')));
  });

  it('alarms per environment when drift outlives two runs, and graphs drift and the latest promotions', () => {
    // Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: [
        Match.objectLike({
          MetricStat: {
            Metric: {
              MetricName: 'DriftImages',
              Namespace: 'ImagePromoter',
              Dimensions: Match.arrayWith([{ Name: 'Environment', Value: 'production' }]),
            },
            Period: 3600,
            Stat: 'Maximum',
          },
        }),
      ],
      EvaluationPeriods: 2,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [TOPIC],
      OKActions: [TOPIC],
    });
    const widgets = dashboardWidgets(template);
    const drift = widgets.find((w) => w.properties.title?.startsWith('Drift'));
    assert.ok(drift, 'drift widget');
    assert.match(JSON.stringify(drift.properties.metrics), /DriftImages.*production/);
    const promotions = widgets.find((w) => w.type === 'log');
    assert.ok(promotions, 'latest promotions widget');
    assert.match(JSON.stringify(promotions.properties), /audit = 1.*image promoted.*sort @timestamp desc/);
    const alarms = widgets.find((w) => w.type === 'alarm');
    assert.ok(alarms?.properties.alarms?.some((arn) => arn.includes('Drift')));
  });
});
