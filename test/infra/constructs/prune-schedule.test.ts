import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { synthesizeApp, type SynthesizedApp } from '../synth-app';
import { findRoleId, grantsOf, logicalIdOf, permissionsOf, render } from '../template-queries';

const config = (prune: string, allowlist = "    repositories: ['shop/**', 'base/node']"): string => `
github:
  repository: acme/overlays
environments:
  - name: production
    overlay: overlays/production
    source: { registry: 111111111111.dkr.ecr.us-east-1.amazonaws.com, externalId: 9f2c41d07be35a68 }
    destination: { registry: 222222222222.dkr.ecr.us-east-1.amazonaws.com }
${allowlist}
  - name: staging
    overlay: overlays/staging
    source: { registry: 111111111111.dkr.ecr.us-east-1.amazonaws.com, externalId: 0c5e2f9a8b7d6e41 }
    destination: { registry: 333333333333.dkr.ecr.us-east-1.amazonaws.com }
    repositories: ['shop/**']
${prune}`;
const STACK = 'ImagePromoter-222222222222-us-east-1';

describe('scheduled prune (infra)', () => {
  let byDefault: SynthesizedApp;
  let scheduled: SynthesizedApp;
  let template: Template;

  before(() => {
    byDefault = synthesizeApp(config(''));
    scheduled = synthesizeApp(config('prune: { scheduled: true, rateHours: 6, keep: 3 }'));
    template = scheduled.templates.get(STACK)!;
  });
  after(() => {
    for (const s of [byDefault, scheduled]) s?.cleanup();
  });

  it('is off by default, and runs at the configured rate when scheduled', () => {
    const none = byDefault.templates.get(STACK)!;
    assert.deepEqual(
      Object.keys(none.findResources('AWS::Lambda::Function')).filter((id) => id.startsWith('Prune')),
      [],
    );
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(6 hours)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 2 }) })],
    });
  });

  it('has a role of its own: ECR reads and BatchDeleteImage on the allowlisted repositories, listing, the GitHub token; nothing else', () => {
    // Prepare
    const functionId = logicalIdOf(template, 'AWS::Lambda::Function', 'PruneFunction');
    const props = (
      template.toJSON() as { Resources: Record<string, { Properties: Record<string, unknown> }> }
    ).Resources[functionId]!.Properties;
    const roleId = findRoleId(template, (id) => id.startsWith('PruneRole'));
    const grants = grantsOf(permissionsOf(template, roleId));
    const repo = (name: string): string =>
      `arn:\${AWS::Partition}:ecr:us-east-1:222222222222:repository/${name}`;

    // Assess
    assert.match(render(props['Role']), new RegExp(`^\\$\\{${roleId}\\.Arn\\}$`));
    const ecr = grants.filter((g) => g.startsWith('ecr:'));
    assert.deepEqual(ecr, [
      `ecr:BatchDeleteImage ${repo('base/node')}`,
      `ecr:BatchDeleteImage ${repo('shop/*')}`,
      `ecr:BatchGetImage ${repo('base/node')}`,
      `ecr:BatchGetImage ${repo('shop/*')}`,
      `ecr:DescribeImages ${repo('base/node')}`,
      `ecr:DescribeImages ${repo('shop/*')}`,
      `ecr:DescribeRepositories ${repo('*')}`,
    ]);
    for (const grant of grants.filter((g) => !g.startsWith('ecr:'))) {
      assert.match(grant, /^(logs:\w+ |secretsmanager:(GetSecretValue|DescribeSecret) )/, grant);
    }
    // Nobody else may delete: the worker's role has no BatchDeleteImage.
    const worker = findRoleId(template, (id) => id.startsWith('WorkerExecutionRole'));
    assert.ok(!grantsOf(permissionsOf(template, worker)).some((g) => g.startsWith('ecr:BatchDeleteImage')));
    const variables = (props['Environment'] as { Variables: Record<string, unknown> }).Variables;
    assert.equal(variables['PRUNE_ENVIRONMENTS'], 'production');
    // The whole config: prune protects what staging deploys too.
    assert.match(String(variables['IMAGE_PROMOTER_CONFIG']), /"name":"staging"/);
  });

  it('is refused at synth when an environment has no allowlist', () => {
    assert.throws(
      () => synthesizeApp(config('prune: { scheduled: true }', '')),
      /environments\[0\]\.repositories: is required with prune\.scheduled/,
    );
  });

  it('passes cfn-lint', async () => {
    const files = readdirSync(scheduled.outdir)
      .filter((f) => f.endsWith('.template.json'))
      .map((f) => join(scheduled.outdir, f));
    const findings = await new Promise<{ Rule: { Id: string }; Message: string }[]>((resolve, reject) =>
      execFile('cfn-lint', ['--format', 'json', '--', ...files], (error, stdout, stderr) => {
        if (error !== null && error.code === 1) reject(new Error(stderr));
        else resolve(JSON.parse(stdout || '[]') as { Rule: { Id: string }; Message: string }[]);
      }),
    );
    assert.deepEqual(
      findings.filter((f) => f.Rule.Id.startsWith('E')).map((f) => `${f.Rule.Id}: ${f.Message}`),
      [],
    );
  });
});
