// bench:bundle's `--baseline-ref` plumbing (bench/support/baseline-ref.ts) on a small real git
// repository: argument handling, ref validation, the lock-file rule and that the temporary worktree is
// always removed (also when the work inside it fails) without touching this side's node_modules. No
// benchmark runs here.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  BaselineRefError,
  parseBundleBenchArgs,
  resolveCommit,
  sameLockFile,
  withRefWorktree,
} from '../../bench/support/baseline-ref';
import { PROJECT_ROOT } from '../../infra/constructs/lambda-bundling';

describe('parseBundleBenchArgs', () => {
  it('keeps the default run when no baseline is asked for', () => {
    assert.deepEqual(parseBundleBenchArgs([]), { runs: 9, baselineRef: undefined, baselineInstall: false });
    assert.deepEqual(parseBundleBenchArgs(['--runs', '3', '--baseline-ref', 'main', '--baseline-install']), {
      runs: 3,
      baselineRef: 'main',
      baselineInstall: true,
    });
  });

  it('refuses what it cannot use with one line', () => {
    for (const argv of [
      ['--baseline-ref', ''],
      ['--baseline-install'],
      ['--runs', '0'],
      ['--runs', 'many'],
      ['--baseline-ref'],
      ['--no-such-option'],
    ]) {
      assert.throws(
        () => parseBundleBenchArgs(argv),
        (error: unknown) => error instanceof BaselineRefError && !error.message.includes('\n'),
        argv.join(' '),
      );
    }
  });
});

describe('withRefWorktree', () => {
  let root: string;
  let repo: string;
  let first: string;
  let second: string;
  const git = (...args: string[]): string =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.test', ...args], {
      cwd: repo,
      encoding: 'utf8',
    }).trim();
  const worktrees = (): string[] =>
    git('worktree', 'list', '--porcelain')
      .split('\n')
      .filter((line) => line.startsWith('worktree '));

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'baseline-ref-test-'));
    repo = join(root, 'repo');
    mkdirSync(repo);
    git('init', '--quiet', '--initial-branch=main');
    writeFileSync(join(repo, '.gitignore'), 'node_modules/\n');
    writeFileSync(join(repo, 'package-lock.json'), '{"lockfileVersion":3,"packages":{}}\n');
    writeFileSync(join(repo, 'source.txt'), 'one\n');
    git('add', '.');
    git('commit', '--quiet', '-m', 'first');
    first = git('rev-parse', 'HEAD');
    writeFileSync(join(repo, 'source.txt'), 'two\n');
    git('commit', '--quiet', '-am', 'second: same lock file');
    second = git('rev-parse', 'HEAD');
    writeFileSync(join(repo, 'package-lock.json'), '{"lockfileVersion":3,"packages":{"":{}}}\n');
    git('commit', '--quiet', '-am', 'third: another lock file');
    mkdirSync(join(repo, 'node_modules'));
    writeFileSync(join(repo, 'node_modules', 'marker'), 'ours\n');
  });

  after(() => rmSync(root, { recursive: true, force: true }));

  it('rejects an unknown ref, and one that reads as an option, before creating anything', async () => {
    for (const ref of ['no-such-ref', '--help', 'HEAD~99']) {
      assert.throws(
        () => resolveCommit(repo, ref),
        (error: unknown) => error instanceof BaselineRefError && error.message.includes(JSON.stringify(ref)),
      );
      await assert.rejects(
        withRefWorktree(repo, ref, { parentDir: root }, () => assert.fail('must not run')),
        BaselineRefError,
      );
    }
    assert.equal(worktrees().length, 1);
  });

  it('checks the ref out with this node_modules linked and removes it afterwards, also on failure', async () => {
    assert.equal(sameLockFile(repo, second), false); // the third commit changed the lock file
    // The rule compares with this side's working tree: give it the first two commits' lock file.
    writeFileSync(join(repo, 'package-lock.json'), '{"lockfileVersion":3,"packages":{}}\n');
    assert.equal(sameLockFile(repo, second), true);
    let seen: string | undefined;
    await assert.rejects(
      withRefWorktree(repo, second.slice(0, 10), { parentDir: root }, (worktree) => {
        seen = worktree.dir;
        assert.equal(worktree.commit, second);
        assert.equal(worktree.nodeModules, 'symlink');
        assert.equal(readFileSync(join(worktree.dir, 'source.txt'), 'utf8'), 'two\n');
        assert.ok(lstatSync(join(worktree.dir, 'node_modules')).isSymbolicLink());
        assert.equal(readlinkSync(join(worktree.dir, 'node_modules')), join(repo, 'node_modules'));
        assert.equal(worktrees().length, 2);
        writeFileSync(join(worktree.dir, 'build-output.txt'), 'left behind by the build\n');
        throw new Error('the build failed');
      }),
      /the build failed/,
    );
    assert.ok(seen !== undefined && !existsSync(seen));
    assert.equal(worktrees().length, 1);
    assert.equal(readFileSync(join(repo, 'node_modules', 'marker'), 'utf8'), 'ours\n');

    const result = await withRefWorktree(repo, first, { parentDir: root }, (worktree) => {
      seen = worktree.dir;
      return readFileSync(join(worktree.dir, 'source.txt'), 'utf8');
    });
    assert.equal(result, 'one\n');
    assert.ok(!existsSync(seen));
    assert.equal(worktrees().length, 1);
    git('checkout', '--quiet', '--', 'package-lock.json');
  });

  it('removes the worktree when the run is interrupted (SIGINT) while working in it', async () => {
    const script = join(root, 'interrupted.mts');
    writeFileSync(
      script,
      `import { withRefWorktree } from ${JSON.stringify(join(PROJECT_ROOT, 'bench', 'support', 'baseline-ref.ts'))};\n` +
        `await withRefWorktree(${JSON.stringify(repo)}, 'HEAD', { parentDir: ${JSON.stringify(root)} }, (worktree) =>\n` +
        `  new Promise(() => { process.stdout.write(worktree.dir + '\\n'); setInterval(() => {}, 1000); }));\n`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const dir = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('\n')) resolve(stdout.trim());
      });
      child.on('exit', () => reject(new Error(`exited before working: ${stderr}`)));
    });
    assert.ok(existsSync(dir));
    assert.equal(worktrees().length, 2);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    assert.equal(await exited, 130, stderr);
    assert.match(stderr, /interrupted \(SIGINT\); removed the temporary worktree/);
    assert.ok(!existsSync(dir));
    assert.equal(worktrees().length, 1);
    assert.equal(readFileSync(join(repo, 'node_modules', 'marker'), 'utf8'), 'ours\n');
  });

  it('refuses a ref whose package-lock.json differs, in one line, without a worktree', async () => {
    await assert.rejects(
      withRefWorktree(repo, first, { parentDir: root }, () => assert.fail('must not run')),
      (error: unknown) =>
        error instanceof BaselineRefError &&
        /package-lock\.json differs/.test(error.message) &&
        !error.message.includes('\n'),
    );
    assert.equal(worktrees().length, 1);
  });
});
