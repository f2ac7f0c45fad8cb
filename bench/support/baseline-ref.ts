// `bench:bundle --baseline-ref <git-ref>`: another revision of this repository, checked out into a
// temporary git worktree (`git worktree add --detach`) next to this checkout, so its Lambda bundles can
// be built by its own code and measured beside this checkout's in the same run. The worktree is always
// removed again: on success, on an error, and on Ctrl-C (SIGINT) or SIGTERM.
//
// Its node_modules is a symlink to this checkout's, and only when the ref's package-lock.json is
// byte-for-byte this checkout's: with other dependencies the bundles would be built from packages the
// ref never had. Otherwise the run is refused, unless `--baseline-install` asks for `npm ci` in the
// temporary worktree (the ref's own lock file, from the npm cache where possible).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

/** A bad argument or a baseline ref the run cannot use: printed as one line, exit status 2. */
export class BaselineRefError extends Error {
  override readonly name = 'BaselineRefError';
}

export interface BundleBenchArgs {
  readonly runs: number;
  readonly baselineRef?: string;
  readonly baselineInstall: boolean;
}

/** bench:bundle's arguments; BaselineRefError (one line) for anything it cannot use. */
export function parseBundleBenchArgs(argv: readonly string[]): BundleBenchArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        runs: { type: 'string', default: '9' },
        'baseline-ref': { type: 'string' },
        'baseline-install': { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    throw new BaselineRefError(`bench:bundle: ${(error as Error).message}`);
  }
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new BaselineRefError(`bench:bundle: --runs ${values.runs}: not a positive whole number`);
  }
  const baselineRef = values['baseline-ref'];
  if (baselineRef !== undefined && baselineRef.trim() === '') {
    throw new BaselineRefError('bench:bundle: --baseline-ref needs a git ref (a commit, branch or tag)');
  }
  if (values['baseline-install'] && baselineRef === undefined) {
    throw new BaselineRefError('bench:bundle: --baseline-install only goes with --baseline-ref');
  }
  return { runs, baselineRef, baselineInstall: values['baseline-install'] };
}

function git(
  cwd: string,
  args: readonly string[],
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('git', args, { cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (result.error !== undefined) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The commit `ref` names in the repository at `repoRoot`; BaselineRefError when it names none. */
export function resolveCommit(repoRoot: string, ref: string): string {
  // `--end-of-options` keeps a ref starting with `-` from being read as an option.
  const result = git(repoRoot, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`]);
  const commit = result.stdout.trim();
  if (ref === '' || result.status !== 0 || !/^[0-9a-f]{40,64}$/.test(commit)) {
    throw new BaselineRefError(`--baseline-ref ${JSON.stringify(ref)}: not a commit in ${repoRoot}`);
  }
  return commit;
}

/** The first line of the commit's message, for the report. */
export function commitSubject(repoRoot: string, commit: string): string {
  return git(repoRoot, ['log', '-1', '--format=%s', commit]).stdout.trim();
}

/** Whether the commit's package-lock.json is exactly the one in `repoRoot`'s working tree. */
export function sameLockFile(repoRoot: string, commit: string): boolean {
  const theirs = git(repoRoot, ['show', `${commit}:package-lock.json`]);
  if (theirs.status !== 0) return false;
  let ours: string;
  try {
    ours = readFileSync(join(repoRoot, 'package-lock.json'), 'utf8');
  } catch {
    return false;
  }
  return theirs.stdout === ours;
}

export interface RefWorktreeOptions {
  /** Run `npm ci` in the worktree when the lock files differ, instead of refusing. */
  readonly install?: boolean;
  /** Where the temporary directory goes (default: the OS temp directory). */
  readonly parentDir?: string;
  /** Progress lines (default: stderr). */
  readonly log?: (line: string) => void;
}

export interface RefWorktree {
  readonly commit: string;
  readonly dir: string;
  /** `symlink`: this checkout's node_modules; `npm ci`: installed from the ref's own lock file. */
  readonly nodeModules: 'symlink' | 'npm ci';
}

/**
 * Checks `ref` out into a temporary detached worktree of `repoRoot`, runs `use` with it and removes
 * the worktree afterwards whatever happens (also when the process is interrupted while `use` runs).
 */
export async function withRefWorktree<T>(
  repoRoot: string,
  ref: string,
  options: RefWorktreeOptions,
  use: (worktree: RefWorktree) => Promise<T> | T,
): Promise<T> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const commit = resolveCommit(repoRoot, ref);
  const sameLock = sameLockFile(repoRoot, commit);
  if (!sameLock && options.install !== true) {
    throw new BaselineRefError(
      `--baseline-ref ${ref}: its package-lock.json differs from this checkout's, so this node_modules ` +
        `cannot build its bundles; refusing (pass --baseline-install to run npm ci in the temporary worktree)`,
    );
  }
  const parent = mkdtempSync(join(options.parentDir ?? tmpdir(), 'image-promoter-baseline-'));
  const dir = join(parent, 'tree');
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    // The symlink goes first, so nothing below can ever reach this checkout's node_modules.
    const link = join(dir, 'node_modules');
    if (sameLock && existsSync(dir)) {
      try {
        unlinkSync(link);
      } catch {
        // not created yet
      }
    }
    git(repoRoot, ['worktree', 'remove', '--force', '--force', dir]);
    rmSync(parent, { recursive: true, force: true });
    git(repoRoot, ['worktree', 'prune']);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    remove();
    process.stderr.write(`bench: interrupted (${signal}); removed the temporary worktree ${dir}\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const added = git(repoRoot, ['worktree', 'add', '--detach', dir, commit]);
    if (added.status !== 0)
      throw new Error(`git worktree add ${dir} ${commit} failed: ${added.stderr.trim()}`);
    let nodeModules: RefWorktree['nodeModules'];
    if (sameLock) {
      symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
      nodeModules = 'symlink';
    } else {
      log(`bench: ${ref}'s package-lock.json differs from this checkout's: npm ci in ${dir}`);
      // --ignore-scripts: no `prepare` build of the CLI; esbuild's binary comes from its platform package.
      const installed = spawnSync(
        'npm',
        ['ci', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'],
        {
          cwd: dir,
          encoding: 'utf8',
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      if (installed.status !== 0) throw new Error(`npm ci in ${dir} failed: ${installed.stderr.trim()}`);
      nodeModules = 'npm ci';
    }
    return await use({ commit, dir, nodeModules });
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    remove();
  }
}
