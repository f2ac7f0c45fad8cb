// How both Lambdas are built: the local esbuild (never Docker), one minified ESM file with a source
// map, the AWS SDK v3 left to the runtime. Shared by the function constructs, the infra tests and
// bench/bundle.bench.ts so that what is measured is what is deployed. Never adds per-function tweaks:
// a difference between the two bundles must be a difference in their sources.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import {
  LogLevel,
  OutputFormat,
  type BundlingOptions,
  type NodejsFunctionProps,
} from 'aws-cdk-lib/aws-lambda-nodejs';

/** Repository root (the directory holding package.json and package-lock.json). */
export const PROJECT_ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

export const LAMBDA_RUNTIME = Runtime.NODEJS_24_X;
export const LAMBDA_ARCHITECTURE = Architecture.ARM_64;
/** Syntax level of the bundle: the oldest runtime it must still load on. */
export const BUNDLE_TARGET = 'node22';

/** The runtime ships AWS SDK v3 (and its @smithy core). Bundling the clients adds ~350 KB per
 * function and misses the size targets (webhook <= 400 KB, worker <= 600 KB), but loads faster (one
 * file) and pins package-lock's SDK version; bench/bundle.bench.ts prints both variants. Default:
 * left to the runtime; `-c bundleAwsSdk=true` bundles it. */
export const RUNTIME_PROVIDED_MODULES: readonly string[] = ['@aws-sdk/*', '@smithy/*'];

/** ESM output: bundled CommonJS dependencies still call `require` for Node built-ins. */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __ipCreateRequire } from 'node:module'; const require = __ipCreateRequire(import.meta.url);";

export type LambdaName = 'webhook' | 'worker' | 'reconcile' | 'prune';

/** The handler module of a Lambda (exports `handler`). */
export function entryOf(name: LambdaName): string {
  return join(PROJECT_ROOT, 'lambdas', name, 'handler.ts');
}

export interface BundlingChoices {
  /** Bundle @aws-sdk/* and @smithy/* instead of using the runtime's copy. */
  readonly bundleAwsSdk?: boolean;
}

export function createBundlingOptions(choices: BundlingChoices = {}): BundlingOptions {
  return {
    forceDockerBundling: false,
    minify: true,
    sourceMap: true,
    sourcesContent: false,
    target: BUNDLE_TARGET,
    format: OutputFormat.ESM,
    mainFields: ['module', 'main'],
    banner: ESM_REQUIRE_BANNER,
    externalModules: choices.bundleAwsSdk === true ? [] : [...RUNTIME_PROVIDED_MODULES],
    logLevel: LogLevel.ERROR,
  };
}

/** What every image-promoter function is built from: its handler module, the runtime and
 * architecture, and the one bundling. Each function construct adds only what is its own (memory,
 * timeout, role, environment). */
export function functionBuildProps(
  name: LambdaName,
  choices: BundlingChoices = {},
): Pick<NodejsFunctionProps, 'entry' | 'handler' | 'projectRoot' | 'runtime' | 'architecture' | 'bundling'> {
  return {
    entry: entryOf(name),
    handler: 'handler',
    projectRoot: PROJECT_ROOT,
    runtime: LAMBDA_RUNTIME,
    architecture: LAMBDA_ARCHITECTURE,
    bundling: createBundlingOptions(choices),
  };
}

/** Environment both functions get: source-mapped stack traces in logs. */
export const NODE_OPTIONS = '--enable-source-maps';
