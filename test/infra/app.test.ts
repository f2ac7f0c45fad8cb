import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PROJECT_ROOT } from '../../infra/constructs/lambda-bundling';
import { offlineEnvironment, scratchDirectory } from './synth-app';

// infra/app.ts as the CDK CLI runs it (context in CDK_CONTEXT_JSON, output in CDK_OUTDIR), for
// configs it must refuse before synthesizing anything: one line, exit 1.
let dir: string;
before(() => {
  dir = scratchDirectory('cdk-app-');
});
after(() => rmSync(dir, { recursive: true, force: true }));

const ENV = (registry: string, externalId = 'staging-0123456789abcdef'): string => `
github: { repository: acme/overlays }
environments:
  - name: staging
    overlay: overlays/staging
    source: { registry: ${registry}${externalId === '' ? '' : `, externalId: ${externalId}`} }
    destination: { registry: 222222222222.dkr.ecr.us-east-1.amazonaws.com }
`;

describe('infra/app.ts', () => {
  const cases: readonly [string, string | undefined, Record<string, unknown>, RegExp][] = [
    ['a missing config file', undefined, {}, /^image-promoter cdk app: .*missing\.yaml: file not found$/],
    [
      'a source registry that is not ECR',
      ENV('ghcr.io'),
      {},
      /^image-promoter cdk app: .*bad\.yaml: environments\[0\]\.source\.registry: "ghcr\.io" is not an ECR registry host/,
    ],
    ['malformed YAML', 'github: [', {}, /^image-promoter cdk app: .*bad\.yaml(:\d+)?: malformed YAML/],
    [
      'an environment without an ExternalId',
      ENV('111111111111.dkr.ecr.us-east-1.amazonaws.com', ''),
      {},
      /^image-promoter cdk app: .*bad\.yaml: environments\[0\]\.source\.externalId: is required to deploy/,
    ],
    [
      'an alarm topic that is not an SNS ARN',
      ENV('111111111111.dkr.ecr.us-east-1.amazonaws.com'),
      { alarmTopicArn: 'arn:aws:sqs:us-east-1:222222222222:q' },
      /^image-promoter cdk app: .*bad\.yaml: alarmTopicArn: "arn:aws:sqs:[^"]+" is not an SNS topic ARN$/,
    ],
  ];
  for (const [what, text, context, message] of cases) {
    it(`refuses ${what} with one line and exit code 1`, () => {
      // Prepare
      const file = join(dir, text === undefined ? 'missing.yaml' : 'bad.yaml');
      if (text !== undefined) writeFileSync(file, text);

      // Act
      const result = spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'infra', 'app.ts')], {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
        env: {
          ...offlineEnvironment(),
          CDK_CONTEXT_JSON: JSON.stringify({ ...context, config: file }),
          CDK_OUTDIR: join(dir, 'out'),
        },
      });

      // Assess
      assert.equal(result.status, 1, result.stderr);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, message);
    });
  }
});
