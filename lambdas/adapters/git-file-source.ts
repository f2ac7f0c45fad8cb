// FileSource over a local git repository. Objects are read straight from the .git directory
// (git-object-store.ts: loose objects, packs, plain revisions), tree by tree as paths are looked up,
// with no git process; whatever that store cannot answer for certain goes to the git CLI (no shell):
// one `git ls-tree` per revision lists the whole tree with blob sizes, and one long-lived
// `git cat-file --batch` reads blobs. Each blob is read at most once (cached by object id, so a file
// unchanged between two revisions is read once). Never reads the working tree or the index, never
// writes to the repository, never inflates a file over its maxFileBytes: its size (from the object
// header, or from ls-tree) rejects it first.
import type * as ChildProcesses from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Socket } from 'node:net';
import { DEFAULT_PLANNING_LIMITS } from '../core/planning-limits';
import { GitError, OverlayError, PlanningLimitError } from '../core/errors';
import type { DirectoryEntry, EntryKind, FileSource } from '../core/file-source';
import { GitObjectStore, parseTree } from './git-object-store';

const MAX_SYMLINK_HOPS = 40;

type ChildProcessModule = typeof ChildProcesses;
let childProcessModule: Promise<ChildProcessModule> | undefined;

/** node:child_process (which loads net, dgram and more) is loaded only when git is run at all:
 * reading straight from .git, `image-promoter images` starts faster without it. */
function childProcess(): Promise<ChildProcessModule> {
  return (childProcessModule ??= import('node:child_process'));
}

type GitEntryKind = 'file' | 'directory' | 'symlink' | 'submodule';

interface TreeEntry {
  readonly kind: GitEntryKind;
  readonly objectId: string;
  /** Blob size in bytes (from ls-tree); 0 for trees and submodules; -1 when not known yet (read
   * from the object store: its object header has it). */
  readonly size: number;
}

interface RevisionTree {
  /** The entry at a path ('' is not asked: the root is ROOT). */
  entry(path: string): TreeEntry | undefined;
  /** Names of what is directly inside a directory ('' = root), sorted. */
  children(directory: string): readonly string[];
}

/** The object store could not answer after all (an object missing from it): ask git. */
class StoreMiss extends Error {}

const ROOT: TreeEntry = { kind: 'directory', objectId: '', size: 0 };

export interface GitFileSourceOptions {
  /** Path of the git executable (default `git` on PATH). */
  readonly git?: string;
  /** Files larger than this are an error, not read (config `planning.maxFileBytes`). */
  readonly maxFileBytes?: number;
  /** `files` (default): read objects from the .git directory where possible, the git CLI for the
   * rest; `git`: always the git CLI. */
  readonly objects?: 'files' | 'git';
}

/** Reads revisions of the repository containing `directory`; paths are relative to its root. Call
 * close() when done (an idle reader does not keep the process alive either way). */
export class GitFileSource implements FileSource {
  private readonly trees = new Map<string, Promise<RevisionTree>>();
  private readonly blobs = new Map<string, Promise<string>>();
  private readonly reader: BlobReader;
  private readonly git: string;
  private readonly maxFileBytes: number;
  /** The .git directory reader; null once it cannot serve (or is not wanted). */
  private store: GitObjectStore | null | undefined;

  constructor(
    readonly directory: string,
    options: GitFileSourceOptions = {},
  ) {
    this.git = options.git ?? 'git';
    this.maxFileBytes = options.maxFileBytes ?? DEFAULT_PLANNING_LIMITS.maxFileBytes;
    this.reader = new BlobReader(this.git, directory);
    if (options.objects === 'git') this.store = null;
  }

  private objectStore(): GitObjectStore | undefined {
    if (this.store === undefined) this.store = GitObjectStore.open(this.directory) ?? null;
    return this.store ?? undefined;
  }

  /** Gives up on the object store for good: every revision is listed again by git. */
  private dropStore(): void {
    this.store?.close();
    this.store = null;
    this.trees.clear();
  }

  async kindOf(revision: string, path: string): Promise<EntryKind | undefined> {
    const found = await this.lookup(revision, path);
    if (found === undefined) return undefined;
    return found.entry.kind === 'file' ? 'file' : 'directory';
  }

  async readFile(revision: string, path: string): Promise<string> {
    const found = await this.lookup(revision, path);
    if (found === undefined) throw new OverlayError(path, `no such file at revision ${revision}`);
    if (found.entry.kind !== 'file') throw new OverlayError(path, `is a directory, not a file`);
    return this.readBlob(found.path, found.entry);
  }

  async listDirectory(revision: string, path: string): Promise<readonly DirectoryEntry[]> {
    const found = await this.lookup(revision, path);
    if (found === undefined) throw new OverlayError(path, `no such directory at revision ${revision}`);
    if (found.entry.kind === 'file') throw new OverlayError(path, `is a file, not a directory`);
    const names = await this.withTree(revision, (tree) => tree.children(found.path));
    const entries: DirectoryEntry[] = [];
    for (const name of names) {
      const child = await this.lookupInside(revision, join(found.path, name));
      // A dangling symbolic link, or one leaving the repository, points at nothing in it.
      if (child !== undefined)
        entries.push({ name, kind: child.entry.kind === 'file' ? 'file' : 'directory' });
    }
    return entries;
  }

  /** The commit SHA `revision` (a branch, tag, `HEAD~1`...) names; GitError when it names none. */
  async resolveCommit(revision: string): Promise<string> {
    if (revision === '' || revision.startsWith('-') || /[\s\0]/.test(revision)) {
      throw new GitError(`invalid revision "${revision}"`);
    }
    const commit = this.objectStore()?.resolveCommit(revision);
    if (commit !== undefined) return commit;
    const { execFile } = await childProcess();
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        this.git,
        ['-C', this.directory, 'rev-parse', '--verify', '--quiet', `${revision}^{commit}`],
        { encoding: 'utf8' },
        (error, stdout, stderr) => {
          // --quiet: an unknown revision is exit status 1 with nothing on stderr.
          if (error && stderr.trim() === '' && (error as { code?: unknown }).code === 1) {
            reject(new GitError(`unknown revision "${revision}" in ${this.directory}`, { cause: error }));
          } else if (error) reject(describeGitFailure(error, stderr, this.directory, revision));
          else resolve(stdout);
        },
      );
    });
    return output.trim();
  }

  /** Up to `max` commits before `commit` along its first parents, newest first (`git rev-list
   * --first-parent`): the branch's own history, not the commits a merge brought in. */
  async firstParents(commit: string, max: number): Promise<readonly string[]> {
    const sha = await this.resolveCommit(commit);
    const { execFile } = await childProcess();
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        this.git,
        ['-C', this.directory, 'rev-list', '--first-parent', `--max-count=${max + 1}`, sha],
        { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) =>
          error ? reject(describeGitFailure(error, stderr, this.directory, sha)) : resolve(stdout),
      );
    });
    return output
      .split('\n')
      .filter((line) => line !== '')
      .slice(1, max + 1);
  }

  /** Stops the blob reader process. The source stays usable: a later read starts it again. */
  close(): void {
    this.reader.close();
    this.store?.close();
  }

  private async lookupInside(
    revision: string,
    path: string,
  ): Promise<{ readonly path: string; readonly entry: TreeEntry } | undefined> {
    try {
      return await this.lookup(revision, path);
    } catch (e: unknown) {
      if (e instanceof OverlayError) return undefined;
      throw e;
    }
  }

  /** The entry at `path`, following symbolic links inside the tree the way a checkout would. */
  private async lookup(
    revision: string,
    path: string,
    hops = 0,
  ): Promise<{ readonly path: string; readonly entry: TreeEntry } | undefined> {
    const tree = await this.tree(revision);
    try {
      return await this.walk(tree, revision, path, hops);
    } catch (e: unknown) {
      if (!(e instanceof StoreMiss)) throw e;
      this.dropStore();
      return this.lookup(revision, path, hops);
    }
  }

  /** Runs `use` on the revision's tree, again on git's listing when the object store misses. */
  private async withTree<T>(revision: string, use: (tree: RevisionTree) => T): Promise<T> {
    try {
      return use(await this.tree(revision));
    } catch (e: unknown) {
      if (!(e instanceof StoreMiss)) throw e;
      this.dropStore();
      return use(await this.tree(revision));
    }
  }

  private async walk(
    tree: RevisionTree,
    revision: string,
    path: string,
    hops: number,
  ): Promise<{ readonly path: string; readonly entry: TreeEntry } | undefined> {
    const parts = path.split('/').filter((part) => part !== '' && part !== '.');
    let current = '';
    let entry = ROOT;
    for (const [i, part] of parts.entries()) {
      if (part === '..') {
        if (current === '') return undefined; // above the repository root: nothing there
        current = parentOf(current);
        entry = current === '' ? ROOT : tree.entry(current)!;
        continue;
      }
      if (entry.kind === 'file') return undefined;
      const candidate = join(current, part);
      const next = tree.entry(candidate);
      if (next === undefined) return undefined;
      if (next.kind === 'symlink') {
        if (hops >= MAX_SYMLINK_HOPS) throw new OverlayError(candidate, 'too many levels of symbolic links');
        const target = await this.readBlob(candidate, next);
        if (target.startsWith('/')) {
          throw new OverlayError(candidate, `symbolic link to ${target} leaves the repository`);
        }
        const rest = parts.slice(i + 1);
        const resolved = [parentOf(candidate), target, ...rest].filter((p) => p !== '').join('/');
        if (escapesRoot(resolved)) {
          throw new OverlayError(candidate, `symbolic link to ${target} leaves the repository`);
        }
        return this.lookup(revision, resolved, hops + 1);
      }
      current = candidate;
      entry = next;
    }
    return { path: current, entry };
  }

  private readBlob(path: string, entry: TreeEntry): Promise<string> {
    if (entry.size > this.maxFileBytes) {
      return Promise.reject(
        new PlanningLimitError(
          path,
          'planning.maxFileBytes',
          `file is ${entry.size} bytes, over ${this.maxFileBytes}`,
        ),
      );
    }
    let blob = this.blobs.get(entry.objectId);
    if (blob === undefined) {
      const stored =
        entry.size === -1 ? this.objectStore()?.read(entry.objectId, this.maxFileBytes) : undefined;
      const tooBig = (size: number): PlanningLimitError =>
        new PlanningLimitError(
          path,
          'planning.maxFileBytes',
          `file is ${size} bytes, over ${this.maxFileBytes}`,
        );
      if (stored !== undefined && stored.content === undefined) return Promise.reject(tooBig(stored.size));
      blob =
        stored?.content !== undefined
          ? Promise.resolve(stored.content.toString('utf8'))
          : this.reader.read(entry.objectId).then((bytes) => {
              if (bytes.length > this.maxFileBytes) throw tooBig(bytes.length);
              return bytes.toString('utf8');
            });
      this.blobs.set(entry.objectId, blob);
      blob.catch(() => this.blobs.delete(entry.objectId));
    }
    return blob;
  }

  private tree(revision: string): Promise<RevisionTree> {
    let tree = this.trees.get(revision);
    if (tree === undefined) {
      tree = this.storeTree(revision) ?? this.listTree(revision);
      this.trees.set(revision, tree);
      tree.catch(() => this.trees.delete(revision));
    }
    return tree;
  }

  /** The revision's tree read lazily from the object store, or undefined when git must list it. */
  private storeTree(revision: string): Promise<RevisionTree> | undefined {
    if (revision === '' || revision.startsWith('-') || /[\s\0]/.test(revision)) return undefined;
    const store = this.objectStore();
    const commit = store?.resolveCommit(revision);
    const root = commit === undefined ? undefined : store!.treeOf(commit);
    if (root === undefined) return undefined;
    const listings = new Map<string, ReadonlyMap<string, TreeEntry> | undefined>();
    const listing = (directory: string): ReadonlyMap<string, TreeEntry> | undefined => {
      if (listings.has(directory)) return listings.get(directory);
      const entry =
        directory === '' ? { kind: 'directory', objectId: root, size: 0 } : lookupEntry(directory);
      let result: Map<string, TreeEntry> | undefined;
      if (entry?.kind === 'directory') {
        const object = store!.read(entry.objectId);
        if (object?.type !== 'tree' || object.content === undefined) throw new StoreMiss(entry.objectId);
        result = new Map();
        for (const { mode, name, id } of parseTree(object.content)) {
          result.set(name, {
            kind: kindOfMode(mode),
            objectId: id,
            size: kindOfMode(mode) === 'file' ? -1 : 0,
          });
        }
      }
      listings.set(directory, result);
      return result;
    };
    const lookupEntry = (path: string): TreeEntry | undefined =>
      listing(parentOf(path))?.get(path.slice(path.lastIndexOf('/') + 1));
    return Promise.resolve({
      entry: lookupEntry,
      children: (directory) => [...(listing(directory)?.keys() ?? [])].sort(byCodeUnits),
    });
  }

  private async listTree(revision: string): Promise<RevisionTree> {
    if (revision === '' || revision.startsWith('-') || /[\s\0]/.test(revision)) {
      throw new GitError(`invalid revision "${revision}"`);
    }
    const { execFile } = await childProcess();
    const output = await new Promise<Buffer>((resolve, reject) => {
      execFile(
        this.git,
        ['-C', this.directory, 'ls-tree', '-r', '-t', '-l', '--full-tree', '-z', revision],
        { encoding: 'buffer', maxBuffer: 512 * 1024 * 1024 },
        (error, stdout, stderr) => {
          if (error) reject(describeGitFailure(error, stderr.toString('utf8'), this.directory, revision));
          else resolve(stdout);
        },
      );
    });
    return parseLsTree(output.toString('utf8'));
  }
}

/** Parses `git ls-tree -r -t -l -z` output: `<mode> <type> <object> <size>\t<path>\0`. */
function parseLsTree(text: string): RevisionTree {
  const entries = new Map<string, TreeEntry>();
  const children = new Map<string, string[]>([['', []]]);
  for (const record of text.split('\0')) {
    if (record === '') continue;
    const tab = record.indexOf('\t');
    const [mode, type, objectId, size] = record.slice(0, tab).split(/ +/);
    const path = record.slice(tab + 1);
    const kind: GitEntryKind =
      type === 'tree'
        ? 'directory'
        : type === 'commit'
          ? 'submodule'
          : mode === '120000'
            ? 'symlink'
            : 'file';
    entries.set(path, { kind, objectId: objectId!, size: size === '-' ? 0 : Number(size) });
    if (kind === 'directory' || kind === 'submodule') children.set(path, children.get(path) ?? []);
    const parent = parentOf(path);
    let siblings = children.get(parent);
    if (siblings === undefined) {
      siblings = [];
      children.set(parent, siblings);
    }
    siblings.push(path.slice(parent === '' ? 0 : parent.length + 1));
  }
  for (const names of children.values()) names.sort(byCodeUnits);
  return { entry: (path) => entries.get(path), children: (directory) => children.get(directory) ?? [] };
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A tree entry's kind from its mode: 40000 tree, 160000 gitlink, 120000 symbolic link, else blob. */
function kindOfMode(mode: string): GitEntryKind {
  if (mode === '40000') return 'directory';
  if (mode === '160000') return 'submodule';
  if (mode === '120000') return 'symlink';
  return 'file';
}

function describeGitFailure(error: Error, stderr: string, directory: string, revision: string): GitError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new GitError('git is not installed (not found on PATH)', { cause: error });
  if (/not a git repository/i.test(stderr)) {
    return new GitError(`${directory} is not a git repository`, { cause: error });
  }
  if (/cannot change to|No such file or directory/i.test(stderr)) {
    return new GitError(`${directory} does not exist`, { cause: error });
  }
  if (/not a valid object name|unknown revision|bad revision/i.test(stderr)) {
    return new GitError(`unknown revision "${revision}" in ${directory}`, { cause: error });
  }
  if (/not a tree object/i.test(stderr)) {
    // What git says for a full object id it does not have, and for one of a blob.
    return new GitError(`unknown revision "${revision}" in ${directory} (no commit or tree by that id)`, {
      cause: error,
    });
  }
  const firstLine = stderr.split('\n').find((line) => line.trim() !== '') ?? error.message;
  return new GitError(`git ls-tree ${revision} failed in ${directory}: ${firstLine}`, { cause: error });
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '' : path.slice(0, slash);
}

function join(directory: string, name: string): string {
  return directory === '' ? name : `${directory}/${name}`;
}

function escapesRoot(path: string): boolean {
  let depth = 0;
  for (const part of path.split('/')) {
    if (part === '..') depth--;
    else if (part !== '' && part !== '.') depth++;
    if (depth < 0) return true;
  }
  return false;
}

interface PendingRead {
  readonly resolve: (bytes: Buffer) => void;
  readonly reject: (error: Error) => void;
}

/** Blob reads through `git cat-file --batch`: one process at a time, started on the first read and
 * again after close() or a crash. */
class BlobReader {
  private process: CatFileProcess | undefined;

  constructor(
    private readonly git: string,
    private readonly directory: string,
  ) {}

  async read(objectId: string): Promise<Buffer> {
    const { spawn } = await childProcess();
    if (this.process === undefined || this.process.stopped) {
      this.process = new CatFileProcess(spawn, this.git, this.directory);
    }
    return this.process.read(objectId);
  }

  close(): void {
    this.process?.close();
    this.process = undefined;
  }
}

/** One `git cat-file --batch` process answering object ids in order. Its state (pending reads,
 * unparsed output) is its own, so a stopped process never answers for its successor. Referenced
 * (keeping the event loop alive) only while reads are pending. */
class CatFileProcess {
  stopped = false;
  private readonly child: ChildProcessWithoutNullStreams;
  private pending: PendingRead[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private stderr = '';

  constructor(
    spawn: ChildProcessModule['spawn'],
    git: string,
    private readonly directory: string,
  ) {
    const child = spawn(git, ['-C', directory, 'cat-file', '--batch'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout.on('data', (chunk: Buffer) => this.receive(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-4000);
    });
    child.stdin.on('error', () => undefined); // reported through 'exit' / 'error' below
    child.once('error', (e: Error) => {
      const code = (e as NodeJS.ErrnoException).code;
      this.stop(
        new GitError(
          code === 'ENOENT'
            ? 'git is not installed (not found on PATH)'
            : `git cat-file failed: ${e.message}`,
          { cause: e },
        ),
      );
    });
    child.once('exit', (status) => {
      const reason = this.stderr.split('\n').find((line) => line.trim() !== '') ?? `exit status ${status}`;
      this.stop(new GitError(`git cat-file in ${directory} stopped: ${reason}`));
    });
    this.setReferenced(false);
  }

  read(objectId: string): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.setReferenced(true);
      this.child.stdin.write(`${objectId}\n`);
    });
  }

  close(): void {
    this.child.stdin.end();
    this.stop(new GitError(`git cat-file in ${this.directory} was closed`));
  }

  private receive(chunk: Buffer): void {
    if (this.stopped) return;
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const newline = this.buffer.indexOf(0x0a);
      if (newline === -1) return;
      const header = this.buffer.subarray(0, newline).toString('utf8');
      const [objectId, type, size] = header.split(' ');
      const request = this.pending[0];
      if (type === 'missing' || type === 'ambiguous' || size === undefined) {
        this.buffer = this.buffer.subarray(newline + 1);
        this.pending.shift();
        request?.reject(new GitError(`git object ${objectId ?? header} is ${type ?? 'unreadable'}`));
      } else {
        const end = newline + 1 + Number(size);
        if (this.buffer.length < end + 1) return; // content and its trailing newline not all here yet
        const content = Buffer.from(this.buffer.subarray(newline + 1, end));
        this.buffer = this.buffer.subarray(end + 1);
        this.pending.shift();
        request?.resolve(content);
      }
      if (this.pending.length === 0) this.setReferenced(false);
    }
  }

  private stop(error: GitError): void {
    if (this.stopped) return;
    this.stopped = true;
    const pending = this.pending;
    this.pending = [];
    for (const request of pending) request.reject(error);
    this.setReferenced(false);
  }

  private setReferenced(referenced: boolean): void {
    const child = this.child;
    const handles = [child, child.stdin, child.stdout, child.stderr] as unknown as readonly Socket[];
    for (const handle of handles) {
      if (referenced && !this.stopped) handle.ref();
      else handle.unref();
    }
  }
}
