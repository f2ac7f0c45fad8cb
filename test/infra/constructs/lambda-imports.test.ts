// Which AWS SDK clients each Lambda loads with its module (its init, a cold start's cost) and which
// only on first use. Each client imported from the runtime's SDK costs ~50-150 ms of CPU at load
// (bench:bundle), so a client that a function needs only on some invocations is imported where it
// is used (`await import(...)`), and esbuild keeps it a dynamic import. Built with the functions'
// own settings (infra/constructs/lambda-bundling.ts), read from esbuild's metafile.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { build } from 'esbuild';
import {
  BUNDLE_TARGET,
  entryOf,
  PROJECT_ROOT,
  RUNTIME_PROVIDED_MODULES,
  type LambdaName,
} from '../../../infra/constructs/lambda-bundling';

/** The SDK clients each function imports at load (every invocation needs them); the rest only on use. */
const CASES: readonly {
  readonly name: LambdaName;
  readonly atLoad: readonly string[];
  readonly onUse: readonly string[];
}[] = [
  // Secrets on every delivery (signature), DynamoDB for each claim; SQS only when a plan has jobs,
  // ECR only for the destination check of a plan's images.
  {
    name: 'webhook',
    atLoad: ['client-dynamodb', 'client-secrets-manager'],
    onUse: ['client-ecr', 'client-sqs'],
  },
  // STS only for an environment with a roleArn.
  {
    name: 'worker',
    atLoad: ['client-dynamodb', 'client-ecr', 'client-secrets-manager'],
    onUse: ['client-sts'],
  },
  // SQS only when drift makes jobs; STS only for an environment with a roleArn.
  {
    name: 'reconcile',
    atLoad: ['client-dynamodb', 'client-ecr', 'client-secrets-manager'],
    onUse: ['client-sqs', 'client-sts'],
  },
  { name: 'prune', atLoad: ['client-ecr', 'client-secrets-manager'], onUse: [] },
];

async function sdkImportsOf(name: LambdaName): Promise<{ atLoad: string[]; onUse: string[] }> {
  const result = await build({
    entryPoints: [entryOf(name)],
    absWorkingDir: PROJECT_ROOT,
    bundle: true,
    write: false,
    outfile: 'index.mjs',
    platform: 'node',
    format: 'esm',
    target: BUNDLE_TARGET,
    mainFields: ['module', 'main'],
    external: [...RUNTIME_PROVIDED_MODULES],
    metafile: true,
    logLevel: 'error',
  });
  const output = Object.values(result.metafile.outputs).find((o) => o.entryPoint !== undefined)!;
  const sdk = output.imports.filter((i) => i.external && i.path.startsWith('@aws-sdk/client-'));
  const names = (kind: (k: string) => boolean): string[] =>
    [...new Set(sdk.filter((i) => kind(i.kind)).map((i) => i.path.slice('@aws-sdk/'.length)))].sort();
  return {
    atLoad: names((k) => k !== 'dynamic-import'),
    onUse: names((k) => k === 'dynamic-import').filter(
      (n) => !names((k) => k !== 'dynamic-import').includes(n),
    ),
  };
}

describe('AWS SDK clients each Lambda imports at load', () => {
  for (const { name, atLoad, onUse } of CASES) {
    it(`${name}: ${atLoad.join(', ')} at load; ${onUse.join(', ') || 'nothing'} on first use`, async () => {
      // Act
      const imports = await sdkImportsOf(name);
      // Assess
      assert.deepEqual(imports, { atLoad: [...atLoad], onUse: [...onUse] });
    });
  }
});
