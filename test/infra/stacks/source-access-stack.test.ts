import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { synthesizeApp, type SynthesizedApp } from '../synth-app';
import { findRoleId, grantsOf, permissionsOf, trustOf } from '../template-queries';

// Account 111111111111 is the source of two destinations: 222222222222 (staging, and tools through
// a role the config names, with a path) and 444444444444 (qa, in two source regions, and sandbox
// without an allowlist); 222222222222 is a destination and a source at once. The webhooks reserve
// nothing (reservedConcurrency: false).
const CONFIG = `
github:
  repository: acme/overlays
environments:
  - name: staging
    overlay: overlays/staging
    source: { registry: 111111111111.dkr.ecr.us-east-1.amazonaws.com, externalId: ext-staging-0123456789 }
    destination: { registry: 222222222222.dkr.ecr.us-east-1.amazonaws.com }
    repositories: ['shop/**', 'base/node']
  - name: qa
    overlay: overlays/qa
    source: { registry: 111111111111.dkr.ecr.eu-central-1.amazonaws.com, externalId: ext-qa-0123456789abcd }
    destination: { registry: 444444444444.dkr.ecr.eu-central-1.amazonaws.com }
    repositories: ['shop/**']
  - name: sandbox
    overlay: overlays/sandbox
    source: { registry: 111111111111.dkr.ecr.us-east-1.amazonaws.com, externalId: ext-sandbox-0123456789 }
    destination: { registry: 444444444444.dkr.ecr.eu-central-1.amazonaws.com }
  - name: tools
    overlay: overlays/tools
    source:
      registry: 111111111111.dkr.ecr.us-east-1.amazonaws.com
      roleArn: arn:aws:iam::111111111111:role/ci/tools-read
      externalId: ext-tools-0123456789ab
    destination: { registry: 222222222222.dkr.ecr.us-east-1.amazonaws.com }
    repositories: ['tools/cli']
  - name: prod
    overlay: overlays/prod
    source: { registry: 222222222222.dkr.ecr.us-east-1.amazonaws.com, externalId: ext-prod-0123456789abc }
    destination: { registry: 333333333333.dkr.ecr.us-east-1.amazonaws.com }
webhook:
  reservedConcurrency: false
`;

const READ = [
  'ecr:BatchCheckLayerAvailability',
  'ecr:BatchGetImage',
  'ecr:DescribeImages',
  'ecr:DescribeRepositories',
  'ecr:GetDownloadUrlForLayer',
];
const ecr = (region: string, account: string, repo: string): string =>
  `arn:\${AWS::Partition}:ecr:${region}:${account}:repository/${repo}`;

let synth: SynthesizedApp;
let dev: Template;
let staging: Template;

before(() => {
  synth = synthesizeApp(CONFIG);
  dev = synth.templates.get('ImagePromoterSourceAccess-111111111111')!;
  staging = synth.templates.get('ImagePromoterSourceAccess-222222222222')!;
});
after(() => synth.cleanup());

describe('source-access stack', () => {
  it('is one stack per source account, pinned to the first source region', () => {
    assert.deepEqual(
      synth.stacks.sources.map((s) => [s.stackName, s.account, s.region]),
      [
        ['ImagePromoterSourceAccess-111111111111', '111111111111', 'us-east-1'],
        ['ImagePromoterSourceAccess-222222222222', '222222222222', 'us-east-1'],
      ],
    );
    dev.resourceCountIs('AWS::IAM::Role', 3);
    staging.resourceCountIs('AWS::IAM::Role', 1);
  });

  it('has one default role per destination account, each trusted by exactly that worker with its ExternalId', () => {
    const trusts = ['222222222222', '444444444444'].map((destination) => {
      const role = findRoleId(dev, (_, name) => name === `image-promoter-source-${destination}`);
      return trustOf(dev, role).map((s) => [s.effect, s.actions, s.resources, s.conditions]);
    });

    assert.deepEqual(trusts, [
      [
        [
          'Allow',
          ['sts:AssumeRole'],
          [],
          {
            StringEquals: { 'sts:ExternalId': 'ext-staging-0123456789' },
            ArnEquals: {
              'aws:PrincipalArn': 'arn:aws:iam::222222222222:role/image-promoter-worker-us-east-1',
            },
          },
        ],
      ],
      [
        [
          'Allow',
          ['sts:AssumeRole'],
          [],
          {
            StringEquals: { 'sts:ExternalId': ['ext-qa-0123456789abcd', 'ext-sandbox-0123456789'] },
            ArnEquals: {
              'aws:PrincipalArn': 'arn:aws:iam::444444444444:role/image-promoter-worker-eu-central-1',
            },
          },
        ],
      ],
    ]);
    const role = findRoleId(dev, (_, name) => name === 'image-promoter-source-222222222222');
    const principals = (
      dev.toJSON() as {
        Resources: Record<
          string,
          { Properties: { AssumeRolePolicyDocument: { Statement: { Principal: unknown }[] } } }
        >;
      }
    ).Resources[role]!.Properties.AssumeRolePolicyDocument.Statement.map((s) => JSON.stringify(s.Principal));
    assert.deepEqual(principals, [
      JSON.stringify({
        AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::222222222222:root']] },
      }),
    ]);
  });

  it("reads only its own pair's allowlisted repositories, per region, with IAM patterns meaning the globs", () => {
    const staging = findRoleId(dev, (_, name) => name === 'image-promoter-source-222222222222');
    const qa = findRoleId(dev, (_, name) => name === 'image-promoter-source-444444444444');

    assert.deepEqual(
      grantsOf(permissionsOf(dev, staging)),
      [
        ...READ.flatMap((a) =>
          [ecr('us-east-1', '111111111111', 'base/node'), ecr('us-east-1', '111111111111', 'shop/*')].map(
            (r) => `${a} ${r}`,
          ),
        ),
        'ecr:GetAuthorizationToken *',
      ].sort(),
    );
    // sandbox has no allowlist: its pair reads everything in us-east-1, and only its pair does.
    assert.deepEqual(
      grantsOf(permissionsOf(dev, qa)),
      [
        ...READ.flatMap((a) =>
          [ecr('us-east-1', '111111111111', '*'), ecr('eu-central-1', '111111111111', 'shop/*')].map(
            (r) => `${a} ${r}`,
          ),
        ),
        'ecr:GetAuthorizationToken *',
      ].sort(),
    );
    dev.hasResourceProperties('AWS::IAM::Role', {
      RoleName: 'image-promoter-source-222222222222',
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Condition: Match.objectLike({ StringEquals: { 'sts:ExternalId': 'ext-staging-0123456789' } }),
          }),
        ],
      },
    });
  });

  it('creates a role the config names with its name and path, for its environments only', () => {
    dev.hasResourceProperties('AWS::IAM::Role', { RoleName: 'tools-read', Path: '/ci/' });
    const role = findRoleId(dev, (_, name) => name === 'tools-read');

    assert.deepEqual(
      grantsOf(permissionsOf(dev, role)),
      [
        ...READ.map((a) => `${a} ${ecr('us-east-1', '111111111111', 'tools/cli')}`),
        'ecr:GetAuthorizationToken *',
      ].sort(),
    );
    assert.deepEqual(
      trustOf(dev, role).map((s) => s.conditions),
      [
        {
          StringEquals: { 'sts:ExternalId': 'ext-tools-0123456789ab' },
          ArnEquals: { 'aws:PrincipalArn': 'arn:aws:iam::222222222222:role/image-promoter-worker-us-east-1' },
        },
      ],
    );
  });

  it('never grants a write, delete or policy action in a source account', () => {
    for (const template of [dev, staging]) {
      for (const role of Object.keys(template.findResources('AWS::IAM::Role'))) {
        const actions = permissionsOf(template, role).flatMap((s) => s.actions);
        assert.deepEqual(
          actions.filter(
            (a) => !/^ecr:(BatchCheck|BatchGet|Describe|GetDownloadUrl|GetAuthorizationToken)/.test(a),
          ),
          [],
        );
      }
    }
  });

  it('outputs each role ARN', () => {
    const outputs = Object.keys(dev.findOutputs('*')).sort();
    assert.deepEqual(outputs, [
      'RoleArnimagepromotersource222222222222',
      'RoleArnimagepromotersource444444444444',
      'RoleArntoolsread',
    ]);
  });

  it('reserves no webhook concurrency when the config says false', () => {
    const destination = synth.templates.get('ImagePromoter-222222222222-us-east-1')!;
    // webhook, worker and the scheduled reconcile (on by default): none reserves concurrency
    destination.resourceCountIs('AWS::Lambda::Function', 3);
    destination.allResourcesProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: Match.absent(),
    });
  });
});
