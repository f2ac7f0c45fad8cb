// GitFileSource reading objects straight from .git (git-object-store.ts) must give what git gives:
// every file of every commit, read through packs with offset deltas and then with reference deltas,
// loose objects beside packs, packed and loose refs, annotated tags, a linked worktree. And it must
// not start git for plain revisions (a logging git wrapper stays silent).
import assert from 'node:assert/strict';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GitFileSource } from '../../lambdas/adapters/git-file-source';
import { PlanningLimitError } from '../../lambdas/core/errors';
import { createGitRepo, type GitRepo } from '../support/git-repo';

/** A YAML file that changes a little in every commit, so that git stores it as deltas. */
function manifest(version: number): string {
  const lines = Array.from({ length: 400 }, (_, i) => `  key${i}: value-${i}-${i % 7 === 0 ? version : 0}`);
  return `kind: ConfigMap\nmetadata:\n  name: m\ndata:\n${lines.join('\n')}\n`;
}

describe('GitFileSource reading .git directly', () => {
  let repo: GitRepo;
  let log: string;
  let shim: string;
  let worktree: string;

  before(async () => {
    repo = await createGitRepo();
    for (let version = 1; version <= 6; version++) {
      await repo.commitFiles(
        {
          'overlays/app/kustomization.yaml': `resources: [m.yaml]\nnamePrefix: v${version}-\n`,
          'overlays/app/m.yaml': manifest(version),
          'big.txt': 'y'.repeat(70_000 + version),
          [`notes/n${version}.md`]: `note ${version}\n`,
        },
        `v${version}`,
      );
      if (version === 2) await repo.git('tag', '-a', 'release-2', '-m', 'annotated');
      if (version === 3) await repo.git('tag', 'light-3');
    }
    await repo.git('branch', 'feature');
    log = join(repo.dir, '..', `${repo.dir.split('/').pop()}-store-git.log`);
    shim = `${log}.sh`;
    await writeFile(shim, `#!/bin/sh\necho "$*" >> '${log}'\nexec git "$@"\n`);
    await chmod(shim, 0o755);
    worktree = `${repo.dir}-worktree`;
  });
  after(async () => {
    await Promise.all([
      repo?.remove(),
      rm(worktree, { recursive: true, force: true }),
      rm(log, { force: true }),
      rm(shim, { force: true }),
    ]);
  });

  /** Every (commit, file) of the repository, read by GitFileSource and by git cat-file. */
  async function assertAllFilesEqual(): Promise<void> {
    await rm(log, { force: true });
    const commits = (await repo.git('rev-list', '--all')).trim().split('\n');
    const source = new GitFileSource(repo.dir, { git: shim });
    let files = 0;
    for (const commit of commits) {
      const paths = (await repo.git('ls-tree', '-r', '--name-only', commit)).trim().split('\n');
      for (const path of paths) {
        const expected = await repo.git('cat-file', 'blob', `${commit}:${path}`);
        assert.equal(await source.readFile(commit, path), expected, `${commit}:${path}`);
        files++;
      }
    }
    source.close();
    assert.ok(files > 30, `only ${files} files`);
    await assert.rejects(readFile(log, 'utf8'), /ENOENT/, 'git was started');
  }

  it('reads loose objects like git', async () => {
    await assertAllFilesEqual();
  });

  it('reads packs with offset deltas (git gc), refs packed, and a loose commit beside them', async () => {
    // Prepare
    await repo.git('gc', '--aggressive', '--prune=now', '-q');
    const verify = await repo.git('verify-pack', '-v', ...(await packIndexes(repo)));
    assert.match(verify, /chain length = [1-9]/, 'no deltas in the pack: the case proves nothing');
    assert.ok((await packTypes(repo)).has(6), 'no offset delta in the pack');
    await repo.commitFiles({ 'overlays/app/m.yaml': manifest(7) }, 'loose after gc');

    // Act + Assess
    await assertAllFilesEqual();
  });

  it('reads packs with reference deltas', async () => {
    await repo.git('-c', 'repack.useDeltaBaseOffset=false', 'repack', '-a', '-d', '-f', '-q');
    assert.ok((await packTypes(repo)).has(7), 'no reference delta in the pack: the case proves nothing');
    await assertAllFilesEqual();
  });

  it('resolves plain revisions as git rev-parse does, without starting git', async () => {
    // Prepare
    await rm(log, { force: true });
    const source = new GitFileSource(repo.dir, { git: shim });
    const revisions = [
      'HEAD',
      'main',
      'feature',
      'refs/heads/feature',
      'release-2',
      'light-3',
      'tags/light-3',
    ];

    // Act
    const resolved = await Promise.all(revisions.map((r) => source.resolveCommit(r)));

    // Assess
    for (const [i, revision] of revisions.entries()) {
      assert.equal(resolved[i], (await repo.git('rev-parse', `${revision}^{commit}`)).trim(), revision);
    }
    await assert.rejects(readFile(log, 'utf8'), /ENOENT/, 'git was started');
    // A revision expression is git's to resolve.
    assert.equal(await source.resolveCommit('HEAD~2'), (await repo.git('rev-parse', 'HEAD~2')).trim());
    source.close();
  });

  it('refuses a packed file over maxFileBytes from its size, without inflating it', async () => {
    const source = new GitFileSource(repo.dir, { maxFileBytes: 70_000 });
    await assert.rejects(source.readFile('HEAD', 'big.txt'), (e: unknown) => {
      assert.ok(e instanceof PlanningLimitError);
      assert.match(e.message, /^big\.txt: planning\.maxFileBytes reached: file is 70006 bytes, over 70000$/);
      return true;
    });
    source.close();
  });

  it('reads a linked worktree: its own HEAD, the main repository objects', async () => {
    // Prepare
    await repo.git('worktree', 'add', '-q', '-b', 'in-worktree', worktree, 'release-2');
    await rm(log, { force: true });
    const source = new GitFileSource(worktree, { git: shim });

    // Act
    const head = await source.resolveCommit('HEAD');
    const kustomization = await source.readFile('HEAD', 'overlays/app/kustomization.yaml');

    // Assess
    assert.equal(head, (await repo.git('rev-parse', 'release-2^{commit}')).trim());
    assert.equal(kustomization, 'resources: [m.yaml]\nnamePrefix: v2-\n');
    await assert.rejects(readFile(log, 'utf8'), /ENOENT/, 'git was started');
    source.close();
  });
});

async function packIndexes(repo: GitRepo): Promise<string[]> {
  const listed = await repo.git('count-objects', '-v');
  assert.match(listed, /packs: [1-9]/);
  const { readdir } = await import('node:fs/promises');
  const directory = join(repo.dir, '.git', 'objects', 'pack');
  return (await readdir(directory)).filter((n) => n.endsWith('.idx')).map((n) => join(directory, n));
}

/** The object types (pack entry type numbers) present in the repository's packs. */
async function packTypes(repo: GitRepo): Promise<Set<number>> {
  const types = new Set<number>();
  for (const indexPath of await packIndexes(repo)) {
    const index = await readFile(indexPath);
    const pack = await readFile(indexPath.replace(/\.idx$/, '.pack'));
    const count = index.readUInt32BE(8 + 255 * 4);
    const offsets = 8 + 256 * 4 + count * 24;
    for (let i = 0; i < count; i++) types.add((pack[index.readUInt32BE(offsets + i * 4)]! >> 4) & 7);
  }
  return types;
}
