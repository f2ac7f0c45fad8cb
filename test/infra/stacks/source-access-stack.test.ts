import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Template } from 'aws-cdk-lib/assertions';
import { synthesizeApp, type SynthesizedApp } from '../synth-app';
import { findRoleId, grantsOf, permissionsOf, trustOf } from '../template-queries';

// Account 111111111111 is the source of two destinations (one of them through a role the config
// names, with a path) and reads repositories in two regions; 222222222222 is a destination and a
// source at once.
const CONFIG = `
github:
  repository: acme/overlays
environments:
  - name: staging
    overlay: overlays/staging
    source: { registry: 111111111111.dkr.ecr.us-east-1.amazonaws.com, externalId: ext-staging }
    destination: { registry: 222222222222.dkr.ecr.us-east-1.amazonaws.com }
    repositories: ['shop/*', 'base/**']
  - name: qa
    overlay: overlays/qa
    source: { registry: 111111111111.dkr.ecr.eu-central-1.amazonaws.com }
    destination: { registry: 444444444444.dkr.ecr.eu-central-1.amazonaws.com }
    repositories: ['shop/*']
  - name: tools
    overlay: overlays/tools
    source:
      registry: 111111111111.dkr.ecr.us-east-1.amazonaws.com
      roleArn: arn:aws:iam::111111111111:role/ci/tools-read
    destination: { registry: 222222222222.dkr.ecr.us-east-1.amazonaws.com }
    repositories: ['tools/cli']
  - name: prod
    overlay: overlays/prod
    source: { registry: 222222222222.dkr.ecr.us-east-1.amazonaws.com }
    destination: { registry: 333333333333.dkr.ecr.us-east-1.amazonaws.com }
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
    dev.resourceCountIs('AWS::IAM::Role', 2);
    staging.resourceCountIs('AWS::IAM::Role', 1);
  });

  it('lets exactly each worker role assume the default role, with its ExternalId', () => {
    const role = findRoleId(dev, (_, name) => name === 'image-promoter-source');

    const trust = trustOf(dev, role);

    assert.deepEqual(
      trust.map((s) => [s.effect, s.actions, s.resources, s.conditions]),
      [
        [
          'Allow',
          ['sts:AssumeRole'],
          [],
          {
            StringEquals: { 'sts:ExternalId': 'ext-staging' },
            ArnEquals: {
              'aws:PrincipalArn': 'arn:aws:iam::222222222222:role/image-promoter-worker-us-east-1',
            },
          },
        ],
        [
          'Allow',
          ['sts:AssumeRole'],
          [],
          {
            StringEquals: { 'sts:ExternalId': 'image-promoter' },
            ArnEquals: {
              'aws:PrincipalArn': 'arn:aws:iam::444444444444:role/image-promoter-worker-eu-central-1',
            },
          },
        ],
      ],
    );
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
      JSON.stringify({
        AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::444444444444:root']] },
      }),
    ]);
  });

  it('reads only the allowlisted repositories, per region, and can log in to ECR', () => {
    const role = findRoleId(dev, (_, name) => name === 'image-promoter-source');

    assert.deepEqual(
      grantsOf(permissionsOf(dev, role)),
      [
        ...READ.flatMap((a) =>
          [
            ecr('us-east-1', '111111111111', 'base/*'),
            ecr('us-east-1', '111111111111', 'shop/*'),
            ecr('eu-central-1', '111111111111', 'shop/*'),
          ].map((r) => `${a} ${r}`),
        ),
        'ecr:GetAuthorizationToken *',
      ].sort(),
    );
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
          StringEquals: { 'sts:ExternalId': 'image-promoter' },
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
    assert.deepEqual(outputs, ['RoleArnimagepromotersource', 'RoleArntoolsread']);
  });
});
