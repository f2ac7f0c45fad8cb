// `npm run demo` as a newcomer runs it: the whole promotion on the local stack, then the lost
// delivery healed by the scheduled reconcile, must exit 0 and show the proof lines; a machine without a prerequisite gets one line naming the package, and a non-zero
// exit, before anything starts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = new URL('../..', import.meta.url).pathname;

function runDemo(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'demo/run-demo.ts'], {
      cwd: ROOT,
      env: { ...env, NODE_NO_WARNINGS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run demo', () => {
  const cases = [
    {
      name: 'skopeo',
      programs: ['git', 'docker-registry', 'moto_server'],
      line: /^image-promoter demo: missing skopeo; install with: apt-get install -y skopeo\n$/,
    },
    {
      name: 'moto_server and docker-registry',
      programs: ['git', 'skopeo'],
      line: /^image-promoter demo: missing docker-registry, moto_server; install with: apt-get install -y docker-registry && pip install 'moto\[server\]>=5'\n$/,
    },
  ];
  for (const c of cases) {
    it(`names the package to install when ${c.name} is missing, and exits non-zero`, async () => {
      // Prepare: a PATH holding only node and the listed programs.
      const bin = await mkdtemp(join(tmpdir(), 'ip-demo-path-'));
      try {
        const { execFileSync } = await import('node:child_process');
        for (const program of c.programs) {
          const path = execFileSync('sh', ['-c', `command -v ${program}`])
            .toString()
            .trim();
          await symlink(path, join(bin, program));
        }
        await symlink(process.execPath, join(bin, 'node'));
        // Act
        const result = await runDemo({ ...process.env, PATH: bin });
        // Assess
        assert.equal(result.code, 3);
        assert.match(result.stderr, c.line);
        assert.equal(result.stdout, '');
      } finally {
        await rm(bin, { recursive: true, force: true });
      }
    });
  }

  it('promotes the signed multi-arch image, heals a lost delivery on schedule, and exits 0 with the proof lines', async () => {
    // Act
    const result = await runDemo(process.env);
    // Assess
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    for (const line of [
      /ok {3}pull request head status success before the merge: 1 image promoted/,
      /ok {3}merge commit status success: 1 image already present \(0 uploads to prod\)/,
      /ok {3}index digest identical in dev and prod/,
      /ok {3}both platform manifests present in prod/,
      /ok {3}signature sha256-[0-9a-f]{64}\.sig identical in prod/,
      /ok {3}nothing else in prod/,
      /ok {3}dead-letter queue empty/,
      /ok {3}verify reported shop\/web:1\.4\.0 missing from prod \(exit 1\)/,
      /reconcile \(scheduled [0-9T:-]+Z\): production at [0-9a-f]{12}: 1 not in place, 1 enqueued/,
      /ok {3}the scheduled reconcile healed it: status success on [0-9a-f]{7}/,
      /ok {3}verify passes: prod holds the index dev has \(exit 0\)/,
      /ok {3}history: 1\.3\.0 by the pull request's promotion, 1\.4\.0 by the scheduled reconcile/,
      /ok {3}prune \(dry run\) would remove 1\.3\.0, no longer deployed, and keeps 1\.4\.0/,
      /promotion succeeded\n$/,
    ]) {
      assert.match(result.stdout, line);
    }
    assert.doesNotMatch(result.stdout, /FAIL/);
  });
});
