// A FileSource over an in-memory map of repository paths to file contents, for table tests that
// need many tiny repositories. Directories are implied by the file paths; the revision is ignored.
import type { DirectoryEntry, EntryKind, FileSource } from '../../../lambdas/core/file-source';

export class MemoryFileSource implements FileSource {
  private readonly files: ReadonlyMap<string, string>;

  constructor(files: Readonly<Record<string, string>>) {
    this.files = new Map(Object.entries(files));
  }

  kindOf(_revision: string, path: string): Promise<EntryKind | undefined> {
    if (this.files.has(path)) return Promise.resolve('file');
    const prefix = path === '' ? '' : `${path}/`;
    const isDirectory = [...this.files.keys()].some((file) => file.startsWith(prefix));
    return Promise.resolve(isDirectory ? 'directory' : undefined);
  }

  readFile(_revision: string, path: string): Promise<string> {
    const text = this.files.get(path);
    return text === undefined ? Promise.reject(new Error(`${path}: not a file`)) : Promise.resolve(text);
  }

  listDirectory(_revision: string, path: string): Promise<readonly DirectoryEntry[]> {
    const prefix = path === '' ? '' : `${path}/`;
    const entries = new Map<string, EntryKind>();
    for (const file of this.files.keys()) {
      if (!file.startsWith(prefix)) continue;
      const rest = file.slice(prefix.length);
      const slash = rest.indexOf('/');
      entries.set(slash === -1 ? rest : rest.slice(0, slash), slash === -1 ? 'file' : 'directory');
    }
    return Promise.resolve(
      [...entries]
        .map(([name, kind]): DirectoryEntry => ({ name, kind }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    );
  }
}
