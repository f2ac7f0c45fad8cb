// `npm run bench:bundle [-- --runs N] [--baseline-ref <git-ref> [--baseline-install]]`: the four
// Lambda bundles exactly as the CDK app deploys them (synthesized in-process with bundling, read from the cloud assembly), next to the same app
// synthesized with `bundleAwsSdk` (the AWS SDK bundled: the alternative), and their module-init time: each
// bundle imported in a fresh node process with the function's environment, several runs, median,
// next to a baseline (importing an empty module) in the same run. A benchmark, not a test: it
// asserts nothing; it prints figures next to the targets (webhook <= 400 KB, worker <= 600 KB,
// reconcile and prune <= 700 KB, init <= 150 ms). The example config is synthesized with
// `prune.scheduled: true` (it is off by default), so the prune function is in the assembly too and writes them to bench/results/. Never calls AWS: every endpoint points at a
// closed loopback port.
//
// With `--baseline-ref <git-ref>`: before → after instead. The ref is checked out into a temporary git
// worktree (bench/support/baseline-ref.ts; always removed again), its bundles are built by its own
// synth path (its test/infra/synth-app.ts and infra/, so its own esbuild settings and its functions'
// environments, from its own example config), and both sets are imported alternately in fresh
// processes with the empty module, same runs, medians.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { dump, load } from 'js-yaml';
import { NODE_OPTIONS, PROJECT_ROOT, type LambdaName } from '../infra/constructs/lambda-bundling';
import {
  BaselineRefError,
  commitSubject,
  parseBundleBenchArgs,
  withRefWorktree,
  type BundleBenchArgs,
  type RefWorktree,
} from './support/baseline-ref';
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

/**
 * Run inside the baseline ref's worktree (through tsx, the ref's own tsconfig): synthesizes the app
 * with bundling by the ref's own test/infra/synth-app.ts, the way this file does for this checkout,
 * and writes each function's bundle and environment as JSON. The assembly stays in the worktree's
 * .tmp/ and goes with the worktree.
 */
const REF_SYNTH_DRIVER = `
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assetDirOf, lambdaEnvironmentOf, synthesizeApp } from '../test/infra/synth-app';
const [configFile, outFile, prefixesJson] = process.argv.slice(2);
const prefixes = JSON.parse(prefixesJson);
const synth = synthesizeApp(readFileSync(configFile, 'utf8'), { bundle: true, nag: false });
const template = synth.templates.get(synth.stacks.destinations[0].stackName);
const functions = {};
for (const [name, prefix] of Object.entries(prefixes)) {
  const found = Object.keys(template.findResources('AWS::Lambda::Function')).some((id) => id.startsWith(prefix));
  if (!found) continue;
  functions[name] = {
    file: join(assetDirOf(synth.outdir, template, prefix), 'index.mjs'),
    env: lambdaEnvironmentOf(template, prefix),
  };
}
writeFileSync(outFile, JSON.stringify(functions));
`;

type BundleSet = Partial<Record<LambdaName, { readonly file: string; readonly env: NodeJS.ProcessEnv }>>;

/** The baseline ref's bundles, built by its own synth path in its worktree. */
function refBundles(worktree: RefWorktree, ref: string): { bundles: BundleSet; synthMs: number } {
  const dir = join(worktree.dir, '.tmp');
  mkdirSync(dir, { recursive: true });
  const driver = join(dir, 'bench-baseline-synth.ts');
  const configFile = join(dir, 'bench-baseline-config.yaml');
  const outFile = join(dir, 'bench-baseline-bundles.json');
  writeFileSync(driver, REF_SYNTH_DRIVER);
  writeFileSync(
    configFile,
    exampleWithPruneScheduled(readFileSync(join(worktree.dir, 'image-promoter.example.yaml'), 'utf8')),
  );
  const started = performance.now();
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', driver, configFile, outFile, JSON.stringify(LOGICAL_ID_PREFIX)],
    { cwd: worktree.dir, encoding: 'utf8', env: { ...process.env, NODE_NO_WARNINGS: '1' } },
  );
  const synthMs = performance.now() - started;
  if (result.status !== 0) {
    const last = (result.stderr || result.stdout || String(result.signal))
      .trim()
      .split('\n')
      .slice(-5)
      .join(' | ');
    throw new Error(
      `synthesizing ${ref} (${worktree.commit.slice(0, 12)}) with its own test/infra/synth-app.ts failed: ${last}`,
    );
  }
  return { bundles: JSON.parse(readFileSync(outFile, 'utf8')) as BundleSet, synthMs };
}

function beforeAfter(before: number | undefined, after: number, digits: number): string {
  if (before === undefined) return `— → ${after.toFixed(digits)}`;
  const delta = after - before;
  const sign = delta >= 0 ? '+' : '−';
  return `${before.toFixed(digits)} → ${after.toFixed(digits)} (${sign}${Math.abs(delta).toFixed(digits)})`;
}

/** `--baseline-ref`: the ref's bundles and this checkout's, alternately, with the empty module. */
async function mainAgainstRef(
  args: BundleBenchArgs & { baselineRef: string },
  configText: string,
  emptyModule: string,
): Promise<string> {
  return withRefWorktree(PROJECT_ROOT, args.baselineRef, { install: args.baselineInstall }, (worktree) => {
    const before = refBundles(worktree, args.baselineRef);
    const started = performance.now();
    const current = synthesizeApp(configText, { bundle: true, nag: false });
    const synthMs = performance.now() - started;
    try {
      const template = current.templates.get(current.stacks.destinations[0]!.stackName)!;
      const variants: Variant[] = [
        { lambda: 'baseline', label: 'baseline: empty module', file: emptyModule, env: process.env },
      ];
      const names = ['webhook', 'worker', 'reconcile', 'prune'] as const;
      for (const name of names) {
        const ref = before.bundles[name];
        if (ref !== undefined) variants.push({ lambda: name, label: `${name} before`, ...ref });
        const prefix = LOGICAL_ID_PREFIX[name];
        variants.push({
          lambda: name,
          label: `${name} after`,
          file: join(assetDirOf(current.outdir, template, prefix), 'index.mjs'),
          env: lambdaEnvironmentOf(template, prefix),
        });
      }
      const measured = measureAll(variants, args.runs);
      const wall = (m: Measured | undefined): number | undefined => m && median(m.plain.map((x) => x.wallMs));
      const cpu = (m: Measured | undefined): number | undefined => m && median(m.plain.map((x) => x.cpuMs));
      const maps = (m: Measured | undefined): number | undefined =>
        m && median(m.withMaps.map((x) => x.wallMs));
      const kb = (m: Measured | undefined): number | undefined => m && m.bytes / KB;
      const baseline = measured[0]!;
      const rows = names.map((name) => {
        const b = measured.find((m) => m.label === `${name} before`);
        const a = measured.find((m) => m.label === `${name} after`)!;
        return (
          `| ${name} | ${beforeAfter(kb(b), kb(a)!, 1)} | ${beforeAfter(b && b.gzipBytes / KB, a.gzipBytes / KB, 1)} | ` +
          `${beforeAfter(wall(b), wall(a)!, 1)} | ${beforeAfter(cpu(b), cpu(a)!, 1)} | ` +
          `${beforeAfter(maps(b), maps(a)!, 1)} | ${TARGET_KB[name]} KB / ${TARGET_INIT_MS} ms |`
        );
      });
      return [
        `bench:bundle --baseline-ref ${args.baselineRef} — ${new Date().toISOString()} — node ${process.version}, ` +
          `${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}, ${args.runs} runs per row (round-robin, ` +
          `before and after alternately), synth with bundling ${(before.synthMs / 1000).toFixed(1)} s (before, ` +
          `its own synth path, node_modules: ${worktree.nodeModules}) / ${(synthMs / 1000).toFixed(1)} s (after)`,
        '',
        `before: ${args.baselineRef} = ${worktree.commit.slice(0, 12)} "${commitSubject(PROJECT_ROOT, worktree.commit).slice(0, 100)}"; ` +
          `after: this checkout (${gitDescribeHead()})`,
        '',
        '| function | size KB, before → after | gzip KB | init wall ms, median | init CPU ms, median | ' +
          'init wall ms, --enable-source-maps | target |',
        '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
        `| baseline: empty module | 0.0 | 0.0 | ${wall(baseline)!.toFixed(1)} | ${cpu(baseline)!.toFixed(1)} | ` +
          `${maps(baseline)!.toFixed(1)} |  |`,
        ...rows,
      ].join('\n');
    } finally {
      current.cleanup();
    }
  });
}

function gitDescribeHead(): string {
  const head = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
  });
  return `${head.stdout.trim()}${dirty.stdout.trim() === '' ? '' : ' with uncommitted changes'}`;
}

async function main(): Promise<void> {
  const args = parseBundleBenchArgs(process.argv.slice(2));
  const runs = args.runs;
  const scratch = scratchDirectory('bench-bundle-');
  try {
    const configText = exampleWithPruneScheduled(
      readFileSync(join(PROJECT_ROOT, 'image-promoter.example.yaml'), 'utf8'),
    );
    const emptyModule = join(scratch, 'empty.mjs');
    writeFileSync(emptyModule, 'export {};\n');
    if (args.baselineRef !== undefined) {
      const report = await mainAgainstRef(
        { ...args, baselineRef: args.baselineRef },
        configText,
        emptyModule,
      );
      console.log(report);
      const resultsDir = join(PROJECT_ROOT, 'bench', 'results');
      mkdirSync(resultsDir, { recursive: true });
      writeFileSync(join(resultsDir, 'bundle-baseline-ref.md'), `${report}\n`);
      return;
    }
    const started = performance.now();
    const deployed = synthesizeApp(configText, { bundle: true, nag: false });
    const synthMs = performance.now() - started;
    const withSdk = synthesizeApp(configText, { bundle: true, nag: false, bundleAwsSdk: true });
    try {
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

try {
  await main();
} catch (error) {
  if (!(error instanceof BaselineRefError)) throw error;
  console.error(error.message);
  process.exitCode = 2;
}
