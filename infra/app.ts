// The CDK app entry (cdk.json: `npx tsx infra/app.ts`). Reads the config named by `-c config=FILE`
// (default: the documented example, so `npx cdk synth` works on a fresh clone), the optional
// `-c alarmTopicArn=ARN[,ARN...]` and `-c bundleAwsSdk=true`, then composes the stacks. Wiring only;
// never calls AWS. A bad config ends the process with one line naming the file, the key and what to
// change.
import { resolve } from 'node:path';
import { App } from 'aws-cdk-lib';
import { loadConfigFile } from '../lambdas/adapters/config-source';
import { describeError } from '../lambdas/core/errors';
import { PROJECT_ROOT } from './constructs/lambda-bundling';
import { addPromoterStacks } from './promoter-app';

/** What `npx cdk synth` uses without `-c config=FILE`. */
export const EXAMPLE_CONFIG = resolve(PROJECT_ROOT, 'image-promoter.example.yaml');

async function main(): Promise<void> {
  const app = new App();
  const file = contextString(app, 'config') ?? EXAMPLE_CONFIG;
  const config = await loadConfigFile(file);
  const alarmTopicArns = (contextString(app, 'alarmTopicArn') ?? '')
    .split(',')
    .map((arn) => arn.trim())
    .filter((arn) => arn !== '');
  const bundleAwsSdk =
    contextString(app, 'bundleAwsSdk') === 'true' || app.node.tryGetContext('bundleAwsSdk') === true;
  addPromoterStacks(app, config, { file, alarmTopicArns, bundleAwsSdk });
  app.synth();
}

function contextString(app: App, key: string): string | undefined {
  const value: unknown = app.node.tryGetContext(key);
  return typeof value === 'string' && value !== '' ? value : undefined;
}

try {
  await main();
} catch (e: unknown) {
  console.error(`image-promoter cdk app: ${describeError(e)}`);
  process.exit(1);
}
