// `npm run bench:bundle [-- --runs N]`: the two Lambda bundles exactly as the CDK app deploys them
// (synthesized in-process with bundling, read from the cloud assembly), next to the same entry
// points bundled WITH the AWS SDK (the alternative we rejected), and their module-init time: each
// bundle imported in a fresh node process with the function's environment, several runs, median,
// next to a baseline (importing an empty module) in the same run. A benchmark, not a test: it
// asserts nothing; it prints figures next to the targets (webhook <= 400 KB, worker <= 600 KB,
// init <= 150 ms) and writes them to bench/results/. Never calls AWS: every endpoint points at a
// closed loopback port.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import {
  BUNDLE_TARGET,
  entryOf,
  ESM_REQUIRE_BANNER,
  NODE_OPTIONS,
  PROJECT_ROOT,
  type LambdaName,
} from '../infra/constructs/lambda-bundling';
import { assetDirOf, lambdaEnvironmentOf, synthesizeApp } from '../test/infra/synth-app';

const KB = 1000;
const TARGET_KB: Readonly<Record<LambdaName, number>> = { webhook: 400, worker: 600 };
const TARGET_INIT_MS = 150;

interface Variant {
  readonly lambda: LambdaName | 'baseline';
  readonly label: string;
  readonly file: string;
  readonly env: NodeJS.ProcessEnv;
}

interface Measured extends Variant {
  readonly bytes: number;
  readonly gzipBytes: number;
  readonly mapBytes: number;
  /** Import time inside a fresh process, ms, one per run. */
  readonly initMs: readonly number[];
  /** Same with --enable-source-maps (what the functions run with). */
  readonly initWithMapsMs: readonly number[];
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Milliseconds `import(file)` takes in a fresh node process. */
function measureImport(file: string, env: NodeJS.ProcessEnv, nodeOptions: string): number {
  const probe =
    'const t0 = performance.now();' +
    `const m = await import(${JSON.stringify(file)});` +
    'const t1 = performance.now();' +
    "if (m.handler !== undefined && typeof m.handler !== 'function') throw new Error('handler is not a function');" +
    'process.stdout.write(String(t1 - t0));';
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', probe], {
    cwd: PROJECT_ROOT,
    env: { ...env, NODE_OPTIONS: nodeOptions },
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`import of ${file} failed: ${result.stderr}`);
  return Number(result.stdout);
}

async function bundleWithSdk(name: LambdaName, outdir: string): Promise<string> {
  const outfile = join(outdir, `${name}-with-sdk`, 'index.mjs');
  await build({
    entryPoints: [entryOf(name)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: BUNDLE_TARGET,
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    mainFields: ['module', 'main'],
    banner: { js: ESM_REQUIRE_BANNER },
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

function sizeOf(file: string): { bytes: number; gzipBytes: number; mapBytes: number } {
  const bytes = statSync(file).size;
  let mapBytes = 0;
  try {
    mapBytes = statSync(`${file}.map`).size;
  } catch {
    mapBytes = 0;
  }
  return { bytes, gzipBytes: gzipSync(readFileSync(file)).length, mapBytes };
}

function measure(variant: Variant, runs: number): Measured {
  const initMs: number[] = [];
  const initWithMapsMs: number[] = [];
  measureImport(variant.file, variant.env, ''); // warm the page cache
  for (let i = 0; i < runs; i++) {
    initMs.push(measureImport(variant.file, variant.env, ''));
    initWithMapsMs.push(measureImport(variant.file, variant.env, NODE_OPTIONS));
  }
  return { ...variant, ...sizeOf(variant.file), initMs, initWithMapsMs };
}

function formatKb(bytes: number): string {
  return (bytes / KB).toFixed(1);
}

function formatRow(m: Measured, baselineMs: number): string {
  const target = m.lambda === 'baseline' ? '' : `${TARGET_KB[m.lambda]} KB / ${TARGET_INIT_MS} ms`;
  const init = median(m.initMs);
  const withMaps = median(m.initWithMapsMs);
  return (
    `| ${m.label} | ${formatKb(m.bytes)} | ${formatKb(m.gzipBytes)} | ${formatKb(m.mapBytes)} | ` +
    `${init.toFixed(1)} (${Math.min(...m.initMs).toFixed(1)}–${Math.max(...m.initMs).toFixed(1)}) | ` +
    `${withMaps.toFixed(1)} | ${(init - baselineMs).toFixed(1)} | ${target} |`
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '9' } } });
  const runs = Number(values.runs);
  const scratch = mkdtempSync(join(PROJECT_ROOT, '.tmp', 'bench-bundle-'));
  try {
    const configText = readFileSync(join(PROJECT_ROOT, 'image-promoter.example.yaml'), 'utf8');
    const started = performance.now();
    const synth = synthesizeApp(configText, { bundle: true, nag: false });
    const synthMs = performance.now() - started;
    try {
      const [stack] = synth.stacks.destinations;
      const template = synth.templates.get(stack!.stackName)!;
      const emptyModule = join(scratch, 'empty.mjs');
      writeFileSync(emptyModule, 'export {};\n');

      const variants: Variant[] = [
        { lambda: 'baseline', label: 'baseline: empty module', file: emptyModule, env: process.env },
      ];
      for (const name of ['webhook', 'worker'] as const) {
        const prefix = name === 'webhook' ? 'WebhookFunction' : 'WorkerFunction';
        const env = lambdaEnvironmentOf(template, prefix);
        variants.push({
          lambda: name,
          label: `${name} (deployed: AWS SDK from the runtime)`,
          file: join(assetDirOf(synth.outdir, template, prefix), 'index.mjs'),
          env,
        });
        variants.push({
          lambda: name,
          label: `${name} (alternative: AWS SDK bundled)`,
          file: await bundleWithSdk(name, scratch),
          env,
        });
      }

      const measured = variants.map((v) => measure(v, runs));
      const baselineMs = median(measured[0]!.initMs);
      const lines = [
        `bench:bundle — ${new Date().toISOString()} — node ${process.version}, ${cpus().length} CPUs, ` +
          `load ${loadavg()[0]!.toFixed(2)}, ${runs} runs per row, synth with bundling ${(synthMs / 1000).toFixed(1)} s`,
        '',
        '| bundle | size KB | gzip KB | map KB | init ms, median (min–max) | init ms with --enable-source-maps | init − baseline ms | target |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
        ...measured.map((m) => formatRow(m, baselineMs)),
      ];
      const report = lines.join('\n');
      console.log(report);
      const resultsDir = join(PROJECT_ROOT, 'bench', 'results');
      mkdirSync(resultsDir, { recursive: true });
      writeFileSync(join(resultsDir, 'bundle.md'), `${report}\n`);
    } finally {
      synth.cleanup();
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
