// Real git repositories for tests, made with the git CLI in temporary directories: write files, commit,
// get the SHA. Used by the git FileSource, CLI, webhook and demo tests. Never touches the user's git
// config or any remote: identity and settings are passed on each command line.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Repository-relative path -> file content, or null to delete the file. */
export type FileChanges = Readonly<Record<string, string | null>>;

export interface GitRepo {
  /** Absolute path of the working tree. */
  readonly dir: string;
  /** Runs `git <args>` in the repository; resolves to stdout. */
  git(...args: readonly string[]): Promise<string>;
  /** Writes (or, for null, deletes) files in the working tree. */
  writeFiles(files: FileChanges): Promise<void>;
  /** Stages everything and commits; resolves to the new commit's full SHA. */
  commit(message?: string, options?: CommitOptions): Promise<string>;
  /** writeFiles + commit in one step. */
  commitFiles(files: FileChanges, message?: string, options?: CommitOptions): Promise<string>;
  /** Deletes the repository directory. */
  remove(): Promise<void>;
}

export interface CommitOptions {
  /** Allow a commit that changes nothing (default false). */
  readonly allowEmpty?: boolean;
}

const IDENTITY = [
  '-c',
  'user.name=image-promoter tests',
  '-c',
  'user.email=tests@image-promoter.invalid',
  '-c',
  'commit.gpgsign=false',
  '-c',
  'core.autocrlf=false',
];

// Fixed dates keep commit SHAs reproducible for identical content; no global/system config is read.
const GIT_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z',
  GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z',
  GIT_TERMINAL_PROMPT: '0',
};

/** Runs git in `dir`; rejects with git's stderr in the message. */
export async function runGit(dir: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run('git', [...IDENTITY, ...args], {
      cwd: dir,
      env: GIT_ENV,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (e: unknown) {
    const stderr = (e as { stderr?: string }).stderr ?? '';
    throw new Error(`git ${args.join(' ')} failed in ${dir}: ${stderr.trim() || String(e)}`, { cause: e });
  }
}

/** A new empty repository (branch `main`) in a fresh temporary directory, optionally with a first
 * commit of `files`. */
export async function createGitRepo(files?: FileChanges): Promise<GitRepo> {
  const dir = await mkdtemp(join(tmpdir(), 'image-promoter-git-'));
  await runGit(dir, ['init', '--quiet', '--initial-branch=main']);
  const repo: GitRepo = {
    dir,
    git: (...args) => runGit(dir, args),
    writeFiles: (changes) => writeFiles(dir, changes),
    commit: (message, options) => commit(dir, message, options),
    commitFiles: async (changes, message, options) => {
      await writeFiles(dir, changes);
      return commit(dir, message, options);
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
  if (files !== undefined) await repo.commitFiles(files, 'initial commit');
  return repo;
}

/** Writes (or, for null, deletes) files below `dir`, creating directories as needed. */
export async function writeFiles(dir: string, files: FileChanges): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const target = join(dir, path);
    if (content === null) {
      await rm(target, { recursive: true, force: true });
    } else {
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, content);
    }
  }
}

/** Stages every change in `dir` and commits; resolves to the commit's full SHA. */
export async function commit(dir: string, message = 'change', options: CommitOptions = {}): Promise<string> {
  await runGit(dir, ['add', '--all']);
  await runGit(dir, [
    'commit',
    '--quiet',
    '--no-verify',
    ...(options.allowEmpty === true ? ['--allow-empty'] : []),
    '-m',
    message,
  ]);
  return (await runGit(dir, ['rev-parse', 'HEAD'])).trim();
}
