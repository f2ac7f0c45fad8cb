// `npm run bench:bundle [-- --runs N]`: the four Lambda bundles exactly as the CDK app deploys them
// (synthesized in-process with bundling, read from the cloud assembly), next to the same app
// synthesized with `bundleAwsSdk` (the AWS SDK bundled: the alternative), and their module-init time: each
// bundle imported in a fresh node process with the function's environment, several runs, median,
// next to a baseline (importing an empty module) in the same run. A benchmark, not a test: it
// asserts nothing; it prints figures next to the targets (webhook <= 400 KB, worker <= 600 KB,
// reconcile and prune <= 700 KB, init <= 150 ms). The example config is synthesized with
// `prune.scheduled: true` (it is off by default), so the prune function is in the assembly too and writes them to bench/results/. Never calls AWS: every endpoint points at a
// closed loopback port.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { dump, load } from 'js-yaml';
import { NODE_OPTIONS, PROJECT_ROOT, type LambdaName } from '../infra/constructs/lambda-bundling';
import { assetDirOf, lambdaEnvironmentOf, scratchDirectory, synthesizeApp } from '../test/infra/synth-app';

const KB = 1000;
// The reconcile and prune bundles carry the worker's registry client and the GitHub one.
const TARGET_KB: Readonly<Record<LambdaName, number>> = {
  webhook: 400,
  worker: 600,
  reconcile: 700,
  prune: 700,
};
const TARGET_INIT_MS = 150;

/** Each function's logical-id prefix in the destination stack (infra/stacks/destination-stack.ts). */
const LOGICAL_ID_PREFIX: Readonly<Record<LambdaName, string>> = {
  webhook: 'WebhookFunction',
  worker: 'WorkerFunction',
  reconcile: 'ReconcileFunction',
  prune: 'PruneFunction',
};

/**
 * The example config with the prune schedule on, so every function is synthesized. Prune needs an
 * allowlist on every environment; one without gets `**` (the bundle does not depend on it).
 */
function exampleWithPruneScheduled(text: string): string {
  const config = load(text) as {
    prune?: Record<string, unknown>;
    environments: Record<string, unknown>[];
  };
  config.prune = { ...config.prune, scheduled: true };
  for (const environment of config.environments) environment['repositories'] ??= ['**'];
  return dump(config);
}

interface Variant {
  readonly lambda: LambdaName | 'baseline';
  readonly label: string;
  readonly file: string;
  readonly env: NodeJS.ProcessEnv;
}

interface Sample {
  /** Wall-clock ms of `import()` inside a fresh process. */
  readonly wallMs: number;
  /** User + system CPU ms the process spent in that import: robust to a busy machine. */
  readonly cpuMs: number;
}

interface Measured extends Variant {
  readonly bytes: number;
  readonly gzipBytes: number;
  readonly mapBytes: number;
  readonly plain: readonly Sample[];
  /** With --enable-source-maps (what the functions run with). */
  readonly withMaps: readonly Sample[];
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One `import(file)` in a fresh node process. */
function measureImport(file: string, env: NodeJS.ProcessEnv, nodeOptions: string): Sample {
  const probe =
    'const c0 = process.cpuUsage(); const t0 = performance.now();' +
    `const m = await import(${JSON.stringify(file)});` +
    'const t1 = performance.now(); const c1 = process.cpuUsage(c0);' +
    "if (m.handler !== undefined && typeof m.handler !== 'function') throw new Error('handler is not a function');" +
    'process.stdout.write(JSON.stringify({ wallMs: t1 - t0, cpuMs: (c1.user + c1.system) / 1000 }));';
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', probe], {
    cwd: PROJECT_ROOT,
    env: { ...env, NODE_OPTIONS: nodeOptions },
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`import of ${file} failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Sample;
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

/** Round-robin over the variants, so a burst of load on the shared machine hits all of them. */
function measureAll(variants: readonly Variant[], runs: number): Measured[] {
  const plain = variants.map((): Sample[] => []);
  const withMaps = variants.map((): Sample[] => []);
  for (const v of variants) measureImport(v.file, v.env, ''); // warm the page cache
  for (let run = 0; run < runs; run++) {
    variants.forEach((v, i) => {
      plain[i]!.push(measureImport(v.file, v.env, ''));
      withMaps[i]!.push(measureImport(v.file, v.env, NODE_OPTIONS));
    });
  }
  return variants.map((v, i) => ({ ...v, ...sizeOf(v.file), plain: plain[i]!, withMaps: withMaps[i]! }));
}

function formatKb(bytes: number): string {
  return (bytes / KB).toFixed(1);
}

function formatRow(m: Measured, baseline: Measured): string {
  const target = m.lambda === 'baseline' ? '' : `${TARGET_KB[m.lambda]} KB / ${TARGET_INIT_MS} ms`;
  const wall = median(m.plain.map((x) => x.wallMs));
  const cpu = median(m.plain.map((x) => x.cpuMs));
  const walls = m.plain.map((x) => x.wallMs);
  return (
    `| ${m.label} | ${formatKb(m.bytes)} | ${formatKb(m.gzipBytes)} | ${formatKb(m.mapBytes)} | ` +
    `${wall.toFixed(1)} (${Math.min(...walls).toFixed(1)}–${Math.max(...walls).toFixed(1)}) | ` +
    `${cpu.toFixed(1)} | ${median(m.withMaps.map((x) => x.wallMs)).toFixed(1)} | ` +
    `${(wall - median(baseline.plain.map((x) => x.wallMs))).toFixed(1)} | ` +
    `${(cpu - median(baseline.plain.map((x) => x.cpuMs))).toFixed(1)} | ${target} |`
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '9' } } });
  const runs = Number(values.runs);
  const scratch = scratchDirectory('bench-bundle-');
  try {
    const configText = exampleWithPruneScheduled(
      readFileSync(join(PROJECT_ROOT, 'image-promoter.example.yaml'), 'utf8'),
    );
    const started = performance.now();
    const deployed = synthesizeApp(configText, { bundle: true, nag: false });
    const synthMs = performance.now() - started;
    const withSdk = synthesizeApp(configText, { bundle: true, nag: false, bundleAwsSdk: true });
    try {
      const emptyModule = join(scratch, 'empty.mjs');
      writeFileSync(emptyModule, 'export {};\n');
      const variants: Variant[] = [
        { lambda: 'baseline', label: 'baseline: empty module', file: emptyModule, env: process.env },
      ];
      for (const name of ['webhook', 'worker', 'reconcile', 'prune'] as const) {
        const prefix = LOGICAL_ID_PREFIX[name];
        for (const [synth, label] of [
          [deployed, `${name} (default: AWS SDK from the runtime)`],
          [withSdk, `${name} (-c bundleAwsSdk=true)`],
        ] as const) {
          const template = synth.templates.get(synth.stacks.destinations[0]!.stackName)!;
          variants.push({
            lambda: name,
            label,
            file: join(assetDirOf(synth.outdir, template, prefix), 'index.mjs'),
            env: lambdaEnvironmentOf(template, prefix),
          });
        }
      }

      const measured = measureAll(variants, runs);
      const baseline = measured[0]!;
      const lines = [
        `bench:bundle — ${new Date().toISOString()} — node ${process.version}, ${cpus().length} CPUs, ` +
          `load ${loadavg()[0]!.toFixed(2)}, ${runs} runs per row (round-robin), ` +
          `synth with bundling ${(synthMs / 1000).toFixed(1)} s`,
        '',
        '| bundle | size KB | gzip KB | map KB | init wall ms, median (min–max) | init CPU ms | ' +
          'init wall ms, --enable-source-maps | wall − baseline | CPU − baseline | target |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
        ...measured.map((m) => formatRow(m, baseline)),
      ];
      const report = lines.join('\n');
      console.log(report);
      const resultsDir = join(PROJECT_ROOT, 'bench', 'results');
      mkdirSync(resultsDir, { recursive: true });
      writeFileSync(join(resultsDir, 'bundle.md'), `${report}\n`);
    } finally {
      deployed.cleanup();
      withSdk.cleanup();
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
