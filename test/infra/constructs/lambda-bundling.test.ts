import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { createBundlingOptions, entryOf } from '../../../infra/constructs/lambda-bundling';

describe('createBundlingOptions', () => {
  const cases: readonly [string, Parameters<typeof createBundlingOptions>[0], readonly string[]][] = [
    ['leaves the AWS SDK to the runtime by default', undefined, ['@aws-sdk/*', '@smithy/*']],
    ['bundles the AWS SDK on request', { bundleAwsSdk: true }, []],
    [
      'leaves it to the runtime when asked not to bundle',
      { bundleAwsSdk: false },
      ['@aws-sdk/*', '@smithy/*'],
    ],
  ];
  for (const [what, choices, externals] of cases) {
    it(what, () => {
      const options = createBundlingOptions(choices);

      assert.deepEqual(options.externalModules, externals);
      assert.equal(options.forceDockerBundling, false);
      assert.equal(options.minify, true);
      assert.equal(options.sourceMap, true);
      assert.equal(options.format, OutputFormat.ESM);
      assert.equal(options.target, 'node22');
      assert.match(options.banner ?? '', /createRequire/);
    });
  }

  it('points at the two handler modules', () => {
    for (const name of ['webhook', 'worker'] as const) assert.ok(existsSync(entryOf(name)), entryOf(name));
  });
});
