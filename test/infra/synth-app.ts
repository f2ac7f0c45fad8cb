// Synthesizes the CDK app in-process for tests and benchmarks, the way `cdk synth` does (cdk.json
// context, nag plugin, same composition), into a throw-away directory under .tmp/ (inside the
// repository, so bundles with runtime-provided @aws-sdk imports still resolve from node_modules).
// Never touches cdk.out/ and never calls AWS.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../../lambdas/core/config';
import { PROJECT_ROOT } from '../../infra/constructs/lambda-bundling';
import { addPromoterStacks, type PromoterStacks } from '../../infra/promoter-app';

export interface SynthOptions {
  /** Run esbuild for the two functions (slow-ish); otherwise assets are placeholders. */
  readonly bundle?: boolean;
  readonly alarmTopicArns?: readonly string[];
  readonly nag?: boolean;
  readonly bundleAwsSdk?: boolean;
}

export interface SynthesizedApp {
  readonly app: App;
  readonly outdir: string;
  readonly stacks: PromoterStacks;
  /** Stack name -> template. */
  readonly templates: ReadonlyMap<string, Template>;
  /** Deletes the output directory. */
  readonly cleanup: () => void;
}

/** The context cdk.json gives the CLI (feature flags), so tests synthesize what `cdk synth` does. */
export function readCdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

/** A fresh directory under .tmp/ inside the project (so bundles resolve the project's node_modules);
 * .tmp/ is git-ignored, hence absent from a fresh clone and created here. */
export function scratchDirectory(prefix: string): string {
  const base = join(PROJECT_ROOT, '.tmp');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, prefix));
}

export function synthesizeApp(configText: string, options: SynthOptions = {}): SynthesizedApp {
  const outdir = scratchDirectory('cdk-test-');
  const context: Record<string, unknown> = { ...readCdkJsonContext() };
  if (options.bundle !== true) context['aws:cdk:bundling-stacks'] = [];
  const app = new App({ outdir, context });
  const stacks = addPromoterStacks(app, parseConfig(configText, 'test.yaml'), {
    file: 'test.yaml',
    alarmTopicArns: options.alarmTopicArns,
    nag: options.nag,
    bundleAwsSdk: options.bundleAwsSdk,
  });
  app.synth();
  const templates = new Map<string, Template>();
  for (const stack of [...stacks.destinations, ...stacks.sources]) {
    templates.set(stack.stackName, Template.fromStack(stack));
  }
  return { app, outdir, stacks, templates, cleanup: () => rmSync(outdir, { recursive: true, force: true }) };
}

/** The directory of the bundled code of a function (from its Code.S3Key `<hash>.zip`). */
export function assetDirOf(outdir: string, template: Template, logicalIdPrefix: string): string {
  const functions = template.findResources('AWS::Lambda::Function');
  const entry = Object.entries(functions).find(([id]) => id.startsWith(logicalIdPrefix));
  if (entry === undefined) throw new Error(`no function ${logicalIdPrefix}* in template`);
  const code = (entry[1] as { Properties: { Code: { S3Key: string } } }).Properties.Code;
  return join(outdir, `asset.${code.S3Key.replace(/\.zip$/, '')}`);
}

/** The environment of a machine with no AWS credentials and no metadata service. */
export function offlineEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('AWS_') && !key.startsWith('CDK_')) env[key] = value;
  }
  return {
    ...env,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: join(PROJECT_ROOT, '.tmp', 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(PROJECT_ROOT, '.tmp', 'no-aws-credentials'),
    NODE_NO_WARNINGS: '1',
  };
}

/** The environment a function gets in Lambda, from its template, with tokens (Ref/GetAtt) resolved
 * to plausible values and every AWS endpoint pointed at a closed loopback port: loading a bundle
 * with it can never reach AWS. */
export function lambdaEnvironmentOf(template: Template, logicalIdPrefix: string): NodeJS.ProcessEnv {
  const functions = template.findResources('AWS::Lambda::Function');
  const entry = Object.entries(functions).find(([id]) => id.startsWith(logicalIdPrefix));
  if (entry === undefined) throw new Error(`no function ${logicalIdPrefix}* in template`);
  const variables = (entry[1] as { Properties: { Environment: { Variables: Record<string, unknown> } } })
    .Properties.Environment.Variables;
  const resolved: Readonly<Record<string, string>> = {
    QUEUE_URL: 'http://127.0.0.1:9/222222222222/jobs',
    DELIVERIES_TABLE: 'deliveries',
    WEBHOOK_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:222222222222:secret:webhook-AbCdEf',
    GITHUB_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:222222222222:secret:github-AbCdEf',
  };
  const env: NodeJS.ProcessEnv = {
    ...offlineEnvironment(),
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_LAMBDA_FUNCTION_NAME: logicalIdPrefix,
  };
  for (const [key, value] of Object.entries(variables)) {
    env[key] = typeof value === 'string' ? value : resolved[key];
    if (env[key] === undefined) throw new Error(`no stand-in for ${key}`);
  }
  return env;
}
