// A FileSource over a plain directory, for tests: the revision is ignored, paths are repository-
// relative. Counts reads so tests can check that each file is read at most once.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DirectoryEntry, EntryKind, FileSource } from '../../lambdas/core/file-source';

export class DirectoryFileSource implements FileSource {
  /** How many times each path was read with readFile. */
  readonly reads = new Map<string, number>();

  constructor(private readonly root: string) {}

  async kindOf(_revision: string, path: string): Promise<EntryKind | undefined> {
    try {
      const info = await stat(join(this.root, path));
      if (info.isFile()) return 'file';
      return info.isDirectory() ? 'directory' : undefined;
    } catch (e: unknown) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async readFile(_revision: string, path: string): Promise<string> {
    this.reads.set(path, (this.reads.get(path) ?? 0) + 1);
    return readFile(join(this.root, path), 'utf8');
  }

  async listDirectory(_revision: string, path: string): Promise<readonly DirectoryEntry[]> {
    const entries = await readdir(join(this.root, path), { withFileTypes: true });
    return entries
      .filter((entry) => entry.isFile() || entry.isDirectory())
      .map((entry): DirectoryEntry => ({ name: entry.name, kind: entry.isFile() ? 'file' : 'directory' }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}

function isNotFound(e: unknown): boolean {
  return e instanceof Error && 'code' in e && (e.code === 'ENOENT' || e.code === 'ENOTDIR');
}
