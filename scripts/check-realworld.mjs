#!/usr/bin/env node
// `npm run check:realworld`: the overlay resolver against `kubectl kustomize` on real repositories.
// Runs ../shared/realworld-overlays/compare.sh (a corpus of public GitOps/operator repositories kept
// beside the checkout, never inside it) over this checkout, then prints how fast the whole
// `image-promoter images` process is next to `kubectl kustomize` on the same directories (medians;
// compare.sh times one directory at a time). Exit 0 when every directory kubectl renders is equal,
// 1 otherwise; without the corpus, one line and exit 0. Env: REALWORLD_CORPUS (another corpus
// folder), ONLY (regex on repo/dir), RESULTS (where results go). Not part of `npm test`: the corpus
// has ~330 directories and takes minutes.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const checkout = resolve(import.meta.dirname, '..');
const corpus = process.env.REALWORLD_CORPUS ?? resolve(checkout, '..', 'shared', 'realworld-overlays');
const script = join(corpus, 'compare.sh');
if (!existsSync(script)) {
  console.log(`check:realworld skipped: no corpus at ${corpus} (compare.sh missing)`);
  process.exit(0);
}
// compare.sh runs bin/image-promoter.cjs, which runs the bundle in dist/cli/: build it from these
// sources first so the check measures them (and the whole process as users start it).
const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: checkout, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const results = process.env.RESULTS ?? mkdtempSync(join(tmpdir(), 'realworld-compare.'));
const run = spawnSync('bash', [script, checkout, results], { stdio: 'inherit', env: process.env });
if (run.status !== 0) process.exit(run.status ?? 1);

const rows = readFileSync(join(results, 'results.jsonl'), 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line));
const rendered = rows.filter((r) => r.verdict !== 'oracle-failed');
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
if (rendered.length > 0) {
  const ip = median(rendered.map((r) => r.ip_s));
  const kubectl = median(rendered.map((r) => r.kubectl_s));
  const ratios = median(rendered.map((r) => r.ip_s / r.kubectl_s));
  console.log(
    `speed over ${rendered.length} rendered dirs: image-promoter images median ${ip.toFixed(3)} s, ` +
      `kubectl kustomize median ${kubectl.toFixed(3)} s: ratio of medians ${(ip / kubectl).toFixed(2)}x, ` +
      `median per-dir ratio ${ratios.toFixed(2)}x (whole processes, one at a time; a shared machine is noisy)`,
  );
}
const equal = rendered.filter((r) => r.verdict === 'equal').length;
process.exit(equal === rendered.length ? 0 : 1);
