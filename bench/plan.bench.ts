// `npm run bench:plan [-- --runs N]`: resolving 50 Kustomize overlays of 20 resources each from a local
// git repository (target <= 1 s), and planning a push over 50 environments (both revisions), next to
// two baselines measured in the same process on the same files: raw `git cat-file --batch` of every
// blob involved (the I/O floor) and `kubectl kustomize` on a few overlays (extrapolated to 50).
// Each run uses a fresh GitFileSource (cold caches). Prints a Markdown table and writes it to
// bench/results/plan.md. A benchmark, not a test: it asserts nothing but reports whether the
// resolver agreed with kustomize on the overlays both rendered.
import { execFile, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs, promisify } from 'node:util';
import { GitFileSource } from '../lambdas/adapters/git-file-source';
import { parseConfig } from '../lambdas/core/config';
import { resolveOverlayImages } from '../lambdas/core/overlay/resolve-overlay-images';
import { planPush } from '../lambdas/core/plan';
import { createGitRepo, type GitRepo } from '../test/support/git-repo';

const run = promisify(execFile);
const OVERLAYS = 50;
const RESOURCES = 20;
const KUSTOMIZE_SAMPLES = 5;
const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const DST = '222222222222.dkr.ecr.us-east-1.amazonaws.com';

const { values: flags } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const RUNS = Number(flags.runs);

const pad = (n: number): string => String(n).padStart(2, '0');

/** One resource of a base: Deployments, StatefulSets and CronJobs with init and regular containers. */
function resource(app: number, index: number): string {
  const name = `svc-${pad(index)}`;
  const containers = [
    `        - name: main\n          image: ${name}`,
    `        - name: sidecar\n          image: docker.io/library/envoy:1.${index % 3}`,
  ].join('\n');
  const podSpec = (indent: string): string =>
    [
      'spec:',
      '  initContainers:',
      `    - name: init\n      image: ${name}-init`,
      '  containers:',
      containers.replaceAll('        ', '    '),
    ]
      .map((line) => line.replaceAll('\n', `\n${indent}`))
      .map((line) => `${indent}${line}`)
      .join('\n');
  const kind = ['Deployment', 'StatefulSet', 'CronJob'][index % 3]!;
  const header = `apiVersion: ${kind === 'CronJob' ? 'batch/v1' : 'apps/v1'}\nkind: ${kind}\nmetadata:\n  name: app${pad(app)}-${name}\n  labels: {app: app${pad(app)}}\n`;
  if (kind === 'CronJob') {
    return `${header}spec:\n  schedule: "0 * * * *"\n  jobTemplate:\n    spec:\n      template:\n${podSpec('        ')}\n`;
  }
  return `${header}spec:\n  replicas: 2\n  template:\n    metadata:\n      labels: {app: app${pad(app)}}\n${podSpec('    ')}\n`;
}

function repositoryFiles(version: (app: number) => string): Record<string, string> {
  const files: Record<string, string> = {};
  for (let app = 0; app < OVERLAYS; app++) {
    const base = `bases/app-${pad(app)}`;
    const resources: string[] = [];
    for (let index = 0; index < RESOURCES; index++) {
      files[`${base}/svc-${pad(index)}.yaml`] = resource(app, index);
      resources.push(`  - svc-${pad(index)}.yaml`);
    }
    files[`${base}/kustomization.yaml`] = `resources:\n${resources.join('\n')}\n`;
    const images: string[] = [];
    for (let index = 0; index < RESOURCES; index++) {
      images.push(
        `  - name: svc-${pad(index)}\n    newName: ${DST}/shop/app${pad(app)}-svc-${pad(index)}\n    newTag: "${version(app)}"`,
      );
      images.push(`  - name: svc-${pad(index)}-init\n    newName: ${DST}/shop/migrate\n    newTag: "3"`);
    }
    files[`overlays/env-${pad(app)}/kustomization.yaml`] = [
      'namePrefix: prod-',
      'resources:',
      `  - ../../${base}`,
      'patches:',
      '  - path: replicas.yaml',
      `    target: {kind: Deployment}`,
      'images:',
      ...images,
      '',
    ].join('\n');
    files[`overlays/env-${pad(app)}/replicas.yaml`] = [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata: {name: any}',
      'spec:',
      '  replicas: 5',
      '',
    ].join('\n');
  }
  return files;
}

interface Measurement {
  readonly label: string;
  readonly runs: number;
  readonly measure: () => Promise<void>;
}

/** Median wall time of each measurement. Rounds alternate between measurements, so a burst of load
 * on the shared machine spreads over all of them instead of skewing one. */
async function medians(measurements: readonly Measurement[]): Promise<readonly number[]> {
  for (const m of measurements) await m.measure(); // warm-up: module loading, JIT, the page cache
  const samples = measurements.map((): number[] => []);
  const rounds = Math.max(...measurements.map((m) => m.runs));
  for (let round = 0; round < rounds; round++) {
    for (const [i, m] of measurements.entries()) {
      if (round >= m.runs) continue;
      const start = performance.now();
      await m.measure();
      samples[i]!.push(performance.now() - start);
    }
  }
  return measurements.map((m, i) => {
    const sorted = [...samples[i]!].sort((a, b) => a - b);
    const middle = sorted[Math.floor(sorted.length / 2)]!;
    process.stderr.write(
      `${m.label}: ${sorted.map((v) => v.toFixed(0)).join(', ')} ms -> median ${middle.toFixed(0)} ms\n`,
    );
    return middle;
  });
}

/** Every blob the overlays involve, read through one `git cat-file --batch`: the I/O floor. */
async function catFileAll(repo: GitRepo, revision: string): Promise<number> {
  const listing = await repo.git('ls-tree', '-r', revision);
  const ids = listing
    .trim()
    .split('\n')
    .map((line) => line.split(/\s+/)[2]!);
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['-C', repo.dir, 'cat-file', '--batch'], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    let bytes = 0;
    child.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
    child.once('error', reject);
    child.once('exit', () => resolve(bytes));
    child.stdin.end(`${ids.join('\n')}\n`);
  });
}

async function kubectlImages(repo: GitRepo, overlay: string): Promise<readonly string[]> {
  const { stdout } = await run('kubectl', ['kustomize', join(repo.dir, overlay)], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const images = [...stdout.matchAll(/^\s*(?:- )?image: (\S+)$/gm)].map((m) =>
    m[1]!.replace(/^["']|["']$/g, ''),
  );
  return [...new Set(images)].sort();
}

async function main(): Promise<void> {
  const repo = await createGitRepo();
  try {
    process.stderr.write(`building a repository of ${OVERLAYS} overlays x ${RESOURCES} resources...\n`);
    const before = await repo.commitFiles(
      repositoryFiles(() => '1.0'),
      'before',
    );
    // The push: 10 of the 50 environments get a new version.
    const after = await repo.commitFiles(
      repositoryFiles((app) => (app % 5 === 0 ? '1.1' : '1.0')),
      'after',
    );
    const overlays = Array.from({ length: OVERLAYS }, (_, app) => `overlays/env-${pad(app)}`);
    const config = parseConfig(
      JSON.stringify({
        github: { repository: 'acme/k8s-overlays' },
        environments: overlays.map((overlay, app) => ({
          name: `env-${pad(app)}`,
          overlay,
          source: { registry: SRC },
          destination: { registry: DST },
        })),
      }),
    );

    const files = (await repo.git('ls-tree', '-r', '--name-only', after)).trim().split('\n');
    const sample = overlays.slice(0, KUSTOMIZE_SAMPLES);
    let imageCount = 0;
    let promotions = 0;
    let bytes = 0;
    const [resolve, readAll, plan, twice, catFile, kustomize] = (await medians([
      {
        label: 'resolve 50 overlays',
        runs: RUNS,
        measure: async () => {
          const source = new GitFileSource(repo.dir);
          const results = await Promise.all(overlays.map((o) => resolveOverlayImages(source, after, o)));
          imageCount = results.reduce((n, r) => n + r.images.length, 0);
          source.close();
        },
      },
      {
        label: 'GitFileSource, read every file (cold)',
        runs: RUNS,
        measure: async () => {
          const source = new GitFileSource(repo.dir);
          await Promise.all(files.map((file) => source.readFile(after, file)));
          source.close();
        },
      },
      {
        label: 'planPush 50 environments (2 revisions)',
        runs: RUNS,
        measure: async () => {
          const source = new GitFileSource(repo.dir);
          const results = await planPush(source, config, before, after);
          promotions = results.reduce((n, r) => n + (r.kind === 'planned' ? r.plan.promotions.length : 0), 0);
          source.close();
        },
      },
      {
        label: 'resolve 50 overlays at both revisions (no replay)',
        runs: RUNS,
        measure: async () => {
          const source = new GitFileSource(repo.dir);
          await Promise.all(
            [before, after].flatMap((revision) =>
              overlays.map((o) => resolveOverlayImages(source, revision, o)),
            ),
          );
          source.close();
        },
      },
      {
        label: 'git cat-file --batch, every blob',
        runs: RUNS,
        measure: async () => {
          bytes = await catFileAll(repo, after);
        },
      },
      {
        label: `kubectl kustomize, ${KUSTOMIZE_SAMPLES} overlays`,
        runs: Math.min(RUNS, 3),
        measure: async () => {
          for (const overlay of sample) await kubectlImages(repo, overlay);
        },
      },
    ])) as [number, number, number, number, number, number];

    // Agreement on the sampled overlays (the working tree is at `after`).
    const source = new GitFileSource(repo.dir);
    let agree = 0;
    for (const overlay of sample) {
      const [ours, theirs] = await Promise.all([
        resolveOverlayImages(source, after, overlay),
        kubectlImages(repo, overlay),
      ]);
      if (JSON.stringify(ours.images) === JSON.stringify(theirs)) agree++;
    }
    source.close();

    const extrapolated = (kustomize / KUSTOMIZE_SAMPLES) * OVERLAYS;
    const table = [
      `## bench:plan — ${OVERLAYS} overlays x ${RESOURCES} resources (${imageCount} image references), median of ${RUNS}`,
      '',
      `machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, load ${loadavg()[0]!.toFixed(2)}; node ${process.version}`,
      '',
      '| what | median | target / note |',
      '| --- | ---: | --- |',
      `| resolve 50 overlays at one revision (GitFileSource, cold) | ${resolve.toFixed(0)} ms | target <= 1000 ms: ${resolve <= 1000 ? 'met' : 'NOT met'} |`,
      `| of which: reading all ${files.length} files through GitFileSource (ls-tree + cat-file, cold) | ${readAll.toFixed(0)} ms | the rest is YAML parsing and kustomize semantics |`,
      `| planPush, 50 environments, before + after (${promotions} promotions) | ${plan.toFixed(0)} ms | 10 overlays changed: resolved twice; 40 unchanged: answers replayed at before, not re-resolved |`,
      `| baseline: resolving all 50 overlays at both revisions (planPush without the replay) | ${twice.toFixed(0)} ms | |`,
      `| baseline: git cat-file --batch of every blob (${(bytes / 1024).toFixed(0)} KiB) | ${catFile.toFixed(0)} ms | I/O floor |`,
      `| baseline: kubectl kustomize, ${KUSTOMIZE_SAMPLES} overlays | ${kustomize.toFixed(0)} ms | ~${extrapolated.toFixed(0)} ms for 50 (extrapolated) |`,
      '',
      `resolver = kubectl kustomize on ${agree}/${KUSTOMIZE_SAMPLES} sampled overlays`,
      '',
    ].join('\n');
    process.stdout.write(`\n${table}`);
    await mkdir('bench/results', { recursive: true });
    await writeFile('bench/results/plan.md', table);
  } finally {
    await repo.remove();
  }
}

await main();
