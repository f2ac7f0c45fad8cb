// The resolver's only window on the repository: a FileSource at one revision, each path asked at
// most once per resolution (kinds, texts and parsed YAML are memoized), within the resolution's
// budgets (files, bytes, bytes per file: config `planning`) and its deadline (an AbortSignal).
// Never caches across revisions or calls: a new OverlayFiles is made for every resolution.
import type { PlanningLimits } from '../config';
import { DEFAULT_PLANNING_LIMITS } from '../planning-limits';
import { PlanningLimitError } from '../errors';
import type { DirectoryEntry, EntryKind, FileSource } from '../file-source';
import { AliasBudget, parseYamlDocuments } from './yaml-documents';
import type { ParseOptions, YamlDocument } from './yaml-documents';

export type FileLimits = Pick<PlanningLimits, 'maxFiles' | 'maxBytes' | 'maxFileBytes'>;

export class OverlayFiles {
  private readonly kinds = new Map<string, Promise<EntryKind | undefined>>();
  private readonly texts = new Map<string, Promise<string>>();
  private readonly documents = new Map<string, Promise<readonly YamlDocument[]>>();
  private readonly listings = new Map<string, Promise<readonly DirectoryEntry[]>>();
  private readonly taken = new Set<string>();
  /** Aliased YAML nodes, every file and inline patch of the resolution together. */
  readonly aliases = new AliasBudget();

  private filesRead = 0;
  private bytesRead = 0;

  constructor(
    private readonly source: FileSource,
    private readonly revision: string,
    private readonly limits: FileLimits = DEFAULT_PLANNING_LIMITS,
    /** The deadline: once aborted, every read throws its reason. */
    readonly signal?: AbortSignal,
  ) {}

  kindOf(path: string): Promise<EntryKind | undefined> {
    return memoize(this.kinds, path, () => {
      this.signal?.throwIfAborted();
      return this.source.kindOf(this.revision, path);
    });
  }

  listDirectory(path: string): Promise<readonly DirectoryEntry[]> {
    return memoize(this.listings, path, () => {
      this.signal?.throwIfAborted();
      return this.source.listDirectory(this.revision, path);
    });
  }

  readText(path: string): Promise<string> {
    return memoize(this.texts, path, async () => {
      this.signal?.throwIfAborted();
      const { maxFiles, maxBytes, maxFileBytes } = this.limits;
      // Counted before reading, so a flood of files stops at the limit, not after it.
      if (++this.filesRead > maxFiles) {
        throw new PlanningLimitError(
          path,
          'planning.maxFiles',
          `more than ${maxFiles} files read for one overlay`,
        );
      }
      const text = await this.source.readFile(this.revision, path);
      this.signal?.throwIfAborted();
      const bytes = utf8Length(text, maxFileBytes);
      if (bytes > maxFileBytes) {
        throw new PlanningLimitError(path, 'planning.maxFileBytes', `file is over ${maxFileBytes} bytes`);
      }
      this.bytesRead += bytes;
      if (this.bytesRead > maxBytes) {
        throw new PlanningLimitError(
          path,
          'planning.maxBytes',
          `more than ${maxBytes} bytes read for one overlay`,
        );
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
      return { documents: parseYamlDocuments(path, text, undefined, this.aliases), owned: true };
    }
    return { documents: await this.readYaml(path), owned: false };
  }

  /** Every YAML document of the file, parsed once. The values are shared: callers must copy
   * before mutating. */
  readYaml(path: string, options?: ParseOptions): Promise<readonly YamlDocument[]> {
    return memoize(this.documents, `${options?.duplicateKeys ?? 'error'}:${path}`, async () =>
      parseYamlDocuments(path, await this.readText(path), options, this.aliases),
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

function utf8Length(text: string, limit: number): number {
  // Cheap bound first: a UTF-16 unit is at least 1 UTF-8 byte.
  if (text.length > limit) return text.length;
  return Buffer.byteLength(text, 'utf8');
}
