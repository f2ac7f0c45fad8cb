// Reads a local git repository's objects straight from its .git directory — loose objects and pack
// files (version 2 indexes, offset and reference deltas) — and resolves plain revisions (a full
// object id, HEAD, branch, tag and remote names through loose refs and packed-refs), so that
// `image-promoter images` starts no git process in the usual case (each start of git costs more than
// reading the few objects an overlay needs). It answers only when it is sure: `undefined` means
// "ask the git CLI" — an unusual repository (alternates, SHA-256, reftable, a GIT_* override,
// another owner, which git's safe.directory check may refuse), a revision expression (`HEAD~1`, a
// short id), an object it cannot find. Formats: git's Documentation/gitformat-pack.txt and
// gitrepository-layout.txt. Synchronous file reads: a CLI adapter, never used by the Lambdas.
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { constants, inflateSync } from 'node:zlib';

export type GitObjectType = 'commit' | 'tree' | 'blob' | 'tag';

export interface GitObject {
  readonly type: GitObjectType;
  readonly size: number;
  /** Undefined when the object is over the size asked for (it was not inflated). */
  readonly content?: Buffer;
}

const TYPES: readonly (GitObjectType | undefined)[] = [undefined, 'commit', 'tree', 'blob', 'tag'];
const OFS_DELTA = 6;
const REF_DELTA = 7;
const MAX_DELTA_DEPTH = 10_000;
const OBJECT_ID = /^[0-9a-f]{40}$/;
// Plain ref names only (git check-ref-format, stricter): anything else goes to the git CLI.
const REF_NAME = /^(?!.*\.\.)(?!.*\/\.)(?!\.)(?!.*\.lock$)(?!.*\/$)[A-Za-z0-9._/-]+$/;

interface PackIndex {
  readonly pack: string;
  readonly index: Buffer;
  readonly count: number;
  fd?: number;
  size?: number;
}

export class GitObjectStore {
  private packs: PackIndex[] | undefined;
  private readonly baseCache = new Map<string, { type: GitObjectType; content: Buffer }>();
  private baseCacheBytes = 0;

  private constructor(
    /** The repository's own git directory (HEAD of a worktree lives here). */
    private readonly gitDir: string,
    /** Where objects, refs and packed-refs live (the main repository's for a worktree). */
    private readonly commonDir: string,
  ) {}

  /** The store of the repository containing `directory`, or undefined when git must be asked. */
  static open(directory: string): GitObjectStore | undefined {
    const env = process.env;
    if (env['GIT_DIR'] || env['GIT_OBJECT_DIRECTORY'] || env['GIT_ALTERNATE_OBJECT_DIRECTORIES'])
      return undefined;
    if (env['GIT_COMMON_DIR'] || env['GIT_CEILING_DIRECTORIES'] || env['GIT_DISCOVERY_ACROSS_FILESYSTEM']) {
      return undefined;
    }
    try {
      const gitDir = findGitDir(resolve(directory));
      if (gitDir === undefined) return undefined;
      const commonFile = join(gitDir, 'commondir');
      const commonDir = existsSync(commonFile)
        ? resolve(gitDir, readFileSync(commonFile, 'utf8').trim())
        : gitDir;
      // git refuses a repository another user owns unless safe.directory says otherwise: let it judge.
      if (typeof process.getuid === 'function' && statSync(commonDir).uid !== process.getuid())
        return undefined;
      const config = readFileSync(join(commonDir, 'config'), 'utf8').toLowerCase();
      if (/objectformat|refstorage|worktreeconfig|partialclone|precious/.test(config)) return undefined;
      if (existsSync(join(commonDir, 'objects', 'info', 'alternates'))) return undefined;
      return new GitObjectStore(gitDir, commonDir);
    } catch {
      return undefined;
    }
  }

  /** The commit a plain revision names (annotated tags peeled), or undefined. */
  resolveCommit(revision: string): string | undefined {
    try {
      let id = OBJECT_ID.test(revision) ? revision : this.resolveRef(revision);
      for (let hops = 0; id !== undefined && hops < 10; hops++) {
        const object = this.read(id);
        if (object?.content === undefined) return undefined;
        if (object.type === 'commit') return id;
        if (object.type !== 'tag') return undefined;
        id = /^object ([0-9a-f]{40})$/m.exec(object.content.toString('latin1'))?.[1];
      }
      return undefined;
    } catch {
      return undefined;
    }
  }

  /** The root tree of a commit. */
  treeOf(commit: string): string | undefined {
    const object = this.read(commit);
    if (object?.type !== 'commit' || object.content === undefined) return undefined;
    return /^tree ([0-9a-f]{40})$/m.exec(object.content.toString('latin1'))?.[1];
  }

  /** The object, inflated unless its size is over `maxBytes`; undefined when it is not found here. */
  read(id: string, maxBytes = Number.POSITIVE_INFINITY): GitObject | undefined {
    try {
      return this.readLoose(id, maxBytes) ?? this.readPacked(id, maxBytes, 0);
    } catch {
      return undefined;
    }
  }

  close(): void {
    for (const pack of this.packs ?? []) {
      if (pack.fd !== undefined) closeSync(pack.fd);
      pack.fd = undefined;
    }
    this.packs = undefined;
    this.baseCache.clear();
    this.baseCacheBytes = 0;
  }

  private resolveRef(name: string): string | undefined {
    if (!REF_NAME.test(name) && name !== 'HEAD') return undefined;
    // git rev-parse's order (Documentation/revisions.txt): $GIT_DIR/<name>, refs/<name>,
    // refs/tags/<name>, refs/heads/<name>, refs/remotes/<name>, refs/remotes/<name>/HEAD.
    const candidates =
      name === 'HEAD' || name.startsWith('refs/')
        ? [name]
        : [
            name,
            `refs/${name}`,
            `refs/tags/${name}`,
            `refs/heads/${name}`,
            `refs/remotes/${name}`,
            `refs/remotes/${name}/HEAD`,
          ];
    for (const candidate of candidates) {
      const found = this.readRef(candidate, 0);
      if (found !== null) return found;
    }
    return undefined;
  }

  /** A ref's object id; null when there is no such ref; undefined when unsure. */
  private readRef(name: string, depth: number): string | null | undefined {
    if (depth > 5) return undefined;
    // Pseudo-refs and HEAD belong to the worktree; everything under refs/ to the common directory.
    const loose = join(name.startsWith('refs/') ? this.commonDir : this.gitDir, name);
    if (existsSync(loose) && statSync(loose).isFile()) {
      const text = readFileSync(loose, 'utf8').trim();
      if (OBJECT_ID.test(text)) return text;
      const target = /^ref: (\S+)$/.exec(text)?.[1];
      if (target === undefined || !target.startsWith('refs/')) return undefined;
      const resolved = this.readRef(target, depth + 1);
      return resolved === null ? undefined : resolved;
    }
    if (!name.startsWith('refs/')) return null;
    const packed = join(this.commonDir, 'packed-refs');
    if (!existsSync(packed)) return null;
    for (const line of readFileSync(packed, 'utf8').split('\n')) {
      if (line.length > 41 && line[40] === ' ' && line.slice(41) === name) {
        const id = line.slice(0, 40);
        return OBJECT_ID.test(id) ? id : undefined;
      }
    }
    return null;
  }

  private readLoose(id: string, maxBytes: number): GitObject | undefined {
    const path = join(this.commonDir, 'objects', id.slice(0, 2), id.slice(2));
    let compressed: Buffer;
    try {
      compressed = readFileSync(path);
    } catch {
      return undefined;
    }
    // The header ("<type> <size>\0") from the first inflated bytes, before inflating it all.
    const head = inflateSync(compressed.subarray(0, 256), { finishFlush: constants.Z_SYNC_FLUSH });
    const nul = head.indexOf(0);
    const match = /^(commit|tree|blob|tag) (\d+)$/.exec(head.subarray(0, nul).toString('latin1'));
    if (nul === -1 || match === null) throw new Error(`malformed loose object ${id}`);
    const type = match[1] as GitObjectType;
    const size = Number(match[2]);
    if (size > maxBytes) return { type, size };
    const whole = inflateSync(compressed);
    const content = whole.subarray(nul + 1);
    if (content.length !== size) throw new Error(`loose object ${id}: size mismatch`);
    return { type, size, content };
  }

  private packIndexes(): PackIndex[] {
    if (this.packs === undefined) {
      const directory = join(this.commonDir, 'objects', 'pack');
      const names = existsSync(directory) ? readdirSync(directory).filter((n) => n.endsWith('.idx')) : [];
      this.packs = [];
      for (const name of names) {
        const index = readFileSync(join(directory, name));
        // Version 2 only: "\377tOc", version 2, 256 fan-out entries.
        if (index.readUInt32BE(0) !== 0xff744f63 || index.readUInt32BE(4) !== 2) {
          throw new Error(`pack index ${name}: not version 2`);
        }
        this.packs.push({
          pack: join(directory, `${name.slice(0, -4)}.pack`),
          index,
          count: index.readUInt32BE(8 + 255 * 4),
        });
      }
    }
    return this.packs;
  }

  private readPacked(id: string, maxBytes: number, depth: number): GitObject | undefined {
    const wanted = Buffer.from(id, 'hex');
    for (const pack of this.packIndexes()) {
      const offset = findInIndex(pack, wanted);
      if (offset !== undefined) return this.readAt(pack, offset, maxBytes, depth);
    }
    return undefined;
  }

  private readAt(pack: PackIndex, offset: number, maxBytes: number, depth: number): GitObject {
    if (depth > MAX_DELTA_DEPTH) throw new Error('delta chain too long');
    const key = `${pack.pack}:${offset}`;
    const cached = this.baseCache.get(key);
    if (cached !== undefined)
      return { type: cached.type, size: cached.content.length, content: cached.content };
    if (pack.fd === undefined) {
      pack.fd = openSync(pack.pack, 'r');
      pack.size = statSync(pack.pack).size;
    }
    const header = readBytes(pack, offset, 32);
    let byte = header[0]!;
    const typeNumber = (byte >> 4) & 7;
    let size = byte & 15;
    let shift = 4;
    let at = 1;
    while (byte & 0x80) {
      byte = header[at++]!;
      size += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    }
    let base: GitObject;
    if (typeNumber === OFS_DELTA) {
      byte = header[at++]!;
      let distance = byte & 0x7f;
      while (byte & 0x80) {
        byte = header[at++]!;
        distance = (distance + 1) * 128 + (byte & 0x7f);
      }
      base = this.readAt(pack, offset - distance, Number.POSITIVE_INFINITY, depth + 1);
    } else if (typeNumber === REF_DELTA) {
      const baseId = header.subarray(at, at + 20).toString('hex');
      at += 20;
      const found =
        this.readLoose(baseId, Number.POSITIVE_INFINITY) ??
        this.readPacked(baseId, Number.POSITIVE_INFINITY, depth + 1);
      if (found === undefined) throw new Error(`delta base ${baseId} not found`);
      base = found;
    } else {
      const type = TYPES[typeNumber];
      if (type === undefined) throw new Error(`unknown pack object type ${typeNumber}`);
      if (size > maxBytes) return { type, size };
      const content = inflateAt(pack, offset + at, size);
      return { type, size, content };
    }
    const delta = inflateAt(pack, offset + at, size);
    const content = applyDelta(base.content!, delta);
    if (content.length > maxBytes) return { type: base.type, size: content.length };
    this.remember(key, base.type, content);
    return { type: base.type, size: content.length, content };
  }

  /** Keeps delta results (the bases of later deltas in the chain), up to 64 MiB in all. */
  private remember(key: string, type: GitObjectType, content: Buffer): void {
    if (content.length > 16 * 1024 * 1024) return;
    while (this.baseCacheBytes + content.length > 64 * 1024 * 1024 && this.baseCache.size > 0) {
      const [oldest, entry] = this.baseCache.entries().next().value as [string, { content: Buffer }];
      this.baseCache.delete(oldest);
      this.baseCacheBytes -= entry.content.length;
    }
    this.baseCache.set(key, { type, content });
    this.baseCacheBytes += content.length;
  }
}

/** The git directory of the repository containing `directory` (git's discovery: `.git` directory
 * or `gitdir:` file, walking up; a bare repository is its own). */
function findGitDir(directory: string): string | undefined {
  for (let current = directory; ;) {
    const dotGit = join(current, '.git');
    if (existsSync(dotGit)) {
      if (statSync(dotGit).isDirectory()) return dotGit;
      const target = /^gitdir: (.+)$/m.exec(readFileSync(dotGit, 'utf8'))?.[1]?.trim();
      if (target === undefined) return undefined;
      return isAbsolute(target) ? target : resolve(current, target);
    }
    if (
      existsSync(join(current, 'HEAD')) &&
      existsSync(join(current, 'objects')) &&
      existsSync(join(current, 'refs'))
    ) {
      return current;
    }
    const parent = dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}

/** The pack offset of an object id, by the index's fan-out table and a binary search. */
function findInIndex(pack: PackIndex, wanted: Buffer): number | undefined {
  const index = pack.index;
  const first = wanted[0]!;
  let low = first === 0 ? 0 : index.readUInt32BE(8 + (first - 1) * 4);
  let high = index.readUInt32BE(8 + first * 4);
  const names = 8 + 256 * 4;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const compared = index.compare(wanted, 0, 20, names + middle * 20, names + middle * 20 + 20);
    if (compared === 0) {
      const offsets = names + pack.count * 24; // after the names and the CRC32s
      const small = index.readUInt32BE(offsets + middle * 4);
      if ((small & 0x80000000) === 0) return small;
      const large = offsets + pack.count * 4 + (small & 0x7fffffff) * 8;
      return index.readUInt32BE(large) * 2 ** 32 + index.readUInt32BE(large + 4);
    }
    // index.compare(wanted, ...) < 0: the index's name sorts before the wanted one.
    if (compared < 0) low = middle + 1;
    else high = middle;
  }
  return undefined;
}

function readBytes(pack: PackIndex, offset: number, length: number): Buffer {
  const buffer = Buffer.alloc(Math.max(0, Math.min(length, pack.size! - offset)));
  let done = 0;
  while (done < buffer.length) {
    const read = readSync(pack.fd!, buffer, done, buffer.length - done, offset + done);
    if (read === 0) break;
    done += read;
  }
  return buffer;
}

/** Inflates the zlib stream at `offset` whose result is `size` bytes (deflate adds at most 5 bytes
 * per 16 KiB block and 6 of framing; the index gives no compressed length, trailing bytes are
 * ignored by zlib). */
function inflateAt(pack: PackIndex, offset: number, size: number): Buffer {
  const compressed = readBytes(pack, offset, size + Math.ceil(size / 16_384) * 5 + 64);
  const content = inflateSync(compressed);
  if (content.length !== size) throw new Error('pack object size mismatch');
  return content;
}

/** git's delta format: source and target sizes, then copy (from the base) and insert instructions. */
export function applyDelta(base: Buffer, delta: Buffer): Buffer {
  let at = 0;
  const varint = (): number => {
    let value = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = delta[at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return value;
  };
  if (varint() !== base.length) throw new Error('delta base size mismatch');
  const result = Buffer.alloc(varint());
  let written = 0;
  while (at < delta.length) {
    const instruction = delta[at++]!;
    if (instruction & 0x80) {
      let copyOffset = 0;
      let copySize = 0;
      for (let bit = 0; bit < 4; bit++)
        if (instruction & (1 << bit)) copyOffset += delta[at++]! * 2 ** (8 * bit);
      for (let bit = 0; bit < 3; bit++)
        if (instruction & (16 << bit)) copySize += delta[at++]! * 2 ** (8 * bit);
      if (copySize === 0) copySize = 0x10000;
      if (copyOffset + copySize > base.length || written + copySize > result.length)
        throw new Error('bad delta copy');
      base.copy(result, written, copyOffset, copyOffset + copySize);
      written += copySize;
    } else if (instruction > 0) {
      if (at + instruction > delta.length || written + instruction > result.length)
        throw new Error('bad delta insert');
      delta.copy(result, written, at, at + instruction);
      at += instruction;
      written += instruction;
    } else {
      throw new Error('delta instruction 0');
    }
  }
  if (written !== result.length) throw new Error('delta result size mismatch');
  return result;
}

/** The entries of a tree object: `<mode> <name>\0<20-byte id>` each. */
export function parseTree(
  content: Buffer,
): { readonly mode: string; readonly name: string; readonly id: string }[] {
  const entries: { mode: string; name: string; id: string }[] = [];
  let at = 0;
  while (at < content.length) {
    const space = content.indexOf(0x20, at);
    const nul = content.indexOf(0, space);
    if (space === -1 || nul === -1 || nul + 21 > content.length) throw new Error('malformed tree object');
    entries.push({
      mode: content.toString('latin1', at, space),
      name: content.toString('utf8', space + 1, nul),
      id: content.toString('hex', nul + 1, nul + 21),
    });
    at = nul + 21;
  }
  return entries;
}
