// The resolver's only window on the repository: a FileSource at one revision, each path asked at
// most once per resolution (kinds, texts and parsed YAML are memoized), files over 1 MB refused.
// Never caches across revisions or calls: a new OverlayFiles is made for every resolution.
import { OverlayError } from '../errors';
import type { DirectoryEntry, EntryKind, FileSource } from '../file-source';
import { parseYamlDocuments } from './yaml-documents';
import type { ParseOptions, YamlDocument } from './yaml-documents';

export const MAX_FILE_BYTES = 1024 * 1024;

export class OverlayFiles {
  private readonly kinds = new Map<string, Promise<EntryKind | undefined>>();
  private readonly texts = new Map<string, Promise<string>>();
  private readonly documents = new Map<string, Promise<readonly YamlDocument[]>>();
  private readonly listings = new Map<string, Promise<readonly DirectoryEntry[]>>();
  private readonly taken = new Set<string>();

  constructor(
    private readonly source: FileSource,
    private readonly revision: string,
  ) {}

  kindOf(path: string): Promise<EntryKind | undefined> {
    return memoize(this.kinds, path, () => this.source.kindOf(this.revision, path));
  }

  listDirectory(path: string): Promise<readonly DirectoryEntry[]> {
    return memoize(this.listings, path, () => this.source.listDirectory(this.revision, path));
  }

  readText(path: string): Promise<string> {
    return memoize(this.texts, path, async () => {
      const text = await this.source.readFile(this.revision, path);
      if (utf8Length(text) > MAX_FILE_BYTES) {
        throw new OverlayError(path, `file is larger than 1 MB; split it into smaller files`);
      }
      return text;
    });
  }

  /** The documents of a file for a caller that will mutate them (resources). The first caller
   * gets a parse of its own, not shared (`owned`: no copy needed — most files are loaded once per
   * resolution, and copying a multi-megabyte CRD costs as much as parsing it); later callers get
   * the shared parse and must copy. */
  async takeYaml(
    path: string,
  ): Promise<{ readonly documents: readonly YamlDocument[]; readonly owned: boolean }> {
    const text = await this.readText(path);
    // A YAML alias (`*name`) makes two places one object: only a copy separates them.
    if (!this.taken.has(path) && !this.documents.has(`error:${path}`) && !text.includes('*')) {
      this.taken.add(path);
      return { documents: parseYamlDocuments(path, text), owned: true };
    }
    return { documents: await this.readYaml(path), owned: false };
  }

  /** Every YAML document of the file, parsed once. The values are shared: callers must copy
   * before mutating. */
  readYaml(path: string, options?: ParseOptions): Promise<readonly YamlDocument[]> {
    return memoize(this.documents, `${options?.duplicateKeys ?? 'error'}:${path}`, async () =>
      parseYamlDocuments(path, await this.readText(path), options),
    );
  }
}

function memoize<T>(cache: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
  let promise = cache.get(key);
  if (promise === undefined) {
    promise = load();
    cache.set(key, promise);
  }
  return promise;
}

function utf8Length(text: string): number {
  // Cheap bounds first: a UTF-16 unit is at least 1 and at most 3 UTF-8 bytes.
  if (text.length * 3 <= MAX_FILE_BYTES) return text.length;
  if (text.length > MAX_FILE_BYTES) return text.length;
  return new TextEncoder().encode(text).length;
}
