// The one YAML reader of the config, the overlays and the CLI: js-yaml, for values and for lines.
// Pure: text in, documents (or the reason and line of the first fault) out; never reads files.
//
// Values come from one js-yaml load. Lines are asked for rarely (an error or a warning), so the
// line of a node is found only then, by loading the text a second time with js-yaml's `listener`,
// which reports each node the loader composes as it opens and closes: its position on opening, its
// value on closing. From these events a tree of frames is built and walked along the path.
//
// Aliases are bounded the way kustomize's YAML library (go-yaml v3) bounds them: a small file whose
// anchors nest ("billion laughs"), or an anchor that holds an alias of itself, is refused before
// anything walks its values.
import * as jsYaml from 'js-yaml';
import { CORE_SCHEMA, YAMLException, loadAll } from 'js-yaml';
import type { LoadOptions, State, Type } from 'js-yaml';

export interface YamlDocument {
  /** The document as plain JSON-like data (maps, arrays, strings, numbers, booleans, null). */
  readonly value: unknown;
  /** 1-based line of the node at `path` (map keys and sequence indexes), or of the nearest parent. */
  lineOf(path: readonly (string | number)[]): number;
}

export interface YamlOptions {
  /** `last-wins`: a repeated key replaces the earlier one (kustomize reads kustomization files so);
   * `error`: it is a fault (resources, patches, the config). */
  readonly duplicateKeys: 'last-wins' | 'error';
  /** Merge keys (`<<`), which kustomize's yaml.v3 honours in overlays, and any tag read as the plain
   * node it tags; the config takes `<<` literally and refuses tags it does not know. */
  readonly mergeKeys: boolean;
}

export type YamlRead =
  | {
      readonly ok: true;
      readonly documents: readonly YamlDocument[];
      /** Nodes the documents' aliases stand for, expanded (go-yaml's aliased decodes): what a deep
       * copy of the values materializes beyond the text. 0 without aliases. */
      readonly aliasedNodes: number;
    }
  | {
      readonly ok: false;
      /** One line, without the file: what is wrong. */
      readonly reason: string;
      /** 1-based, where the fault was found. */
      readonly line: number | undefined;
    };

// YAML 1.2 core schema (null, booleans, numbers; no timestamps), and merge keys where asked for.
// The merge type must be an implicit one: it resolves the plain scalar `<<`. (`extend([type])`
// adds explicit types only, which left `<<` a literal key; `types` exists at run time but is
// missing from @types/js-yaml.)
// Overlays: any other tag (`!!binary`, `!!set`, `!!omap`, `!!timestamp`, `!custom`, `!!js/...`)
// leaves its node the plain scalar, list or map it is written as. kubectl kustomize builds such files
// and keeps the tags; js-yaml alone refused them ("unknown tag"), and the `yaml` package read before
// took them as plain values too. Nothing is ever constructed from a tag. (A `multi` type matches
// every tag starting with its own, here the empty string; exact types such as `!!str` come first.)
const ANY_TAG: readonly Type[] = (['scalar', 'sequence', 'mapping'] as const).map(
  (kind) => new jsYaml.Type('', { kind, multi: true, construct: (data: unknown) => data }),
);

const MERGE_SCHEMA = CORE_SCHEMA.extend({
  implicit: [(jsYaml as unknown as { readonly types: { readonly merge: Type } }).types.merge],
  explicit: [...ANY_TAG],
});

const EXCESSIVE_ALIASING =
  'excessive aliasing: its YAML aliases expand to far more nodes than the file holds ' +
  '(refused by the rule of go-yaml v3, the YAML library of kustomize); write the values out';
const SELF_ALIAS =
  'excessive aliasing: an anchor holds an alias of itself, which expands without end; write the values out';

// Nesting: js-yaml refuses a text nested deeper than 100 levels (its `maxDepth`), but an alias
// nests its anchor's whole value where it stands, so a chain of anchors, each nesting the previous
// one 99 levels down, builds values thousands of levels deep from a few kilobytes within the alias
// budget. The resolver's walks recurse (copies, merges, the image walk): at ~4,000 levels one of
// them overflowed the call stack. 1,000 levels is ten times js-yaml's own limit.
const MAX_EXPANDED_DEPTH = 1000;
const TOO_DEEP =
  `nesting too deep: with its aliases expanded the YAML nests more than ${MAX_EXPANDED_DEPTH} levels; ` +
  'write the values out';

// Documents: each costs the reader and the resolver a little whatever it holds; 8 MiB of `---` lines
// (two million empty documents) took 6.4 s and 958 MiB of RSS to resolve (the webhook has 512 MB).
// Real multi-document files hold a few hundred; an overlay may not accumulate more than 10,000
// resources by default (`planning.maxResources`) anyway. kustomize has no such limit.
const MAX_DOCUMENTS = 10_000;
const TOO_MANY_DOCUMENTS = `more than ${MAX_DOCUMENTS} YAML documents in one file`;
// Each document takes at most two marker lines (`---` and `...`) at the start of a line.
const DOCUMENT_MARKER = /^(?:---|\.\.\.)(?=[ \t\r\n]|$)/gm;

/** Reads every document of a (multi-document) YAML text. Empty documents are `null` values. */
export function readYaml(text: string, options: YamlOptions): YamlRead {
  const loadOptions: LoadOptions = {
    schema: options.mergeKeys ? MERGE_SCHEMA : CORE_SCHEMA,
    json: options.duplicateKeys === 'last-wins',
  };
  // Refused before parsing where the markers alone prove the bound crossed.
  const crossing = markerPosition(text, 2 * MAX_DOCUMENTS + 1);
  if (crossing !== undefined) {
    return { ok: false, reason: TOO_MANY_DOCUMENTS, line: lineAt(text, crossing) };
  }
  let values: unknown[];
  try {
    values = loadAll(text, undefined, loadOptions);
  } catch (e: unknown) {
    return { ok: false, ...malformed(e) };
  }
  let frames: Composed | undefined;
  const composed = (): Composed => (frames ??= composeFrames(text, loadOptions));
  if (values.length > MAX_DOCUMENTS) {
    const root = composed().roots[MAX_DOCUMENTS];
    const line = root === undefined ? undefined : lineOfPath(composed(), root, []) + 1;
    return { ok: false, reason: TOO_MANY_DOCUMENTS, line };
  }
  // No `*` in the text, no alias: the budget walk is skipped for the usual file, multi-megabyte
  // CRDs included.
  const totals = { aliased: 0 };
  if (text.includes('*')) {
    for (let index = 0; index < values.length; index++) {
      let verdict: ReturnType<typeof aliasBudget> | 'deep' = aliasBudget(values[index], totals);
      if (verdict === 'within' && expandedDepth(values[index]) > MAX_EXPANDED_DEPTH) verdict = 'deep';
      if (verdict !== 'within') {
        const line = firstAliasLine(text, loadOptions, index);
        return {
          ok: false,
          reason: verdict === 'cycle' ? SELF_ALIAS : verdict === 'deep' ? TOO_DEEP : EXCESSIVE_ALIASING,
          line: line === undefined ? undefined : line + 1,
        };
      }
    }
  }
  return {
    ok: true,
    aliasedNodes: totals.aliased,
    documents: values.map((value, index) => ({
      value: value === undefined ? null : value,
      lineOf: (path) => {
        const frames = composed();
        const root = frames.roots[index];
        return root === undefined ? 1 : lineOfPath(frames, root, path) + 1;
      },
    })),
  };
}

/** Where the `count`-th document marker line starts, if there are that many. */
function markerPosition(text: string, count: number): number | undefined {
  if (!text.includes('---') && !text.includes('...')) return undefined;
  DOCUMENT_MARKER.lastIndex = 0;
  let seen = 0;
  for (let match = DOCUMENT_MARKER.exec(text); match !== null; match = DOCUMENT_MARKER.exec(text)) {
    if (++seen === count) return match.index;
  }
  return undefined;
}

/** The 1-based line of a position in the text. */
function lineAt(text: string, position: number): number {
  let line = 1;
  for (let p = text.indexOf('\n'); p !== -1 && p < position; p = text.indexOf('\n', p + 1)) line++;
  return line;
}

/** The reason and line of js-yaml's error, said once on one line. */
function malformed(cause: unknown): { readonly reason: string; readonly line: number | undefined } {
  if (!(cause instanceof YAMLException)) {
    return {
      reason: `malformed YAML: ${cause instanceof Error ? cause.message : String(cause)}`,
      line: undefined,
    };
  }
  const mark = (cause as YAMLException & { readonly mark?: Mark }).mark;
  let reason = cause.reason;
  // js-yaml puts the mark on the repeated key, but does not name it.
  if (reason === 'duplicated mapping key' && mark !== undefined) {
    const key = keyAt(mark.buffer, mark.position);
    if (key !== undefined) reason = `${reason} "${key}"`;
  }
  return { reason: `malformed YAML: ${reason}`, line: mark === undefined ? undefined : mark.line + 1 };
}

interface Mark {
  readonly buffer: string;
  readonly position: number;
  readonly line: number;
}

/** The key written at `position` (plain or quoted, up to its `:`), if it reads as one; a long one
 * cut to its first 80 characters. Linear in the line (a regex with a lazy run before `\s*:` was
 * quadratic in a key's blanks: 80 KB of spaces took 0.9 s). */
function keyAt(input: string, position: number): string | undefined {
  const end = input.indexOf('\n', position);
  const rest = input.slice(position, end === -1 ? undefined : end);
  let key: string | undefined;
  const quote = rest.charAt(0);
  if (quote === '"' || quote === "'") {
    const close = rest.indexOf(quote, 1);
    if (close > 0 && /^[ \t]*:/.test(rest.slice(close + 1))) key = rest.slice(1, close);
  } else if (rest !== '' && !/^[\s:,{}[\]#]/.test(rest)) {
    const colon = /:(?:\s|$)/.exec(rest);
    const written = colon === null ? undefined : rest.slice(0, colon.index).trimEnd();
    if (written !== undefined && !/[#,{}[\]]/.test(written)) key = written;
  }
  return key !== undefined && key.length > MAX_KEY_SHOWN ? `${key.slice(0, MAX_KEY_SHOWN)}...` : key;
}

const MAX_KEY_SHOWN = 80;

// ---- Lines ----------------------------------------------------------------------------------

/** One node as the loader composed it. */
interface Frame {
  /** 0-based line where the loader began the node. Keys and sequence entries begin at their first
   * character; a map value may begin at the end of its key's line, before the separating break. */
  readonly line: number;
  readonly start: number;
  end: number;
  result: unknown;
  kind: string | null;
  /** A map key: the node is followed by `:` on its line, or follows an explicit `? `. */
  key: boolean;
  /** Whether it was an alias (`*name`): js-yaml gives an alias no kind, only its value. */
  alias: boolean;
  children: Frame[] | undefined;
  /** A map's entries by key (the last of a repeated key), built on the first lookup. */
  byKey?: ReadonlyMap<string, Entry>;
  /** A list's items, built on the first lookup. */
  items?: readonly Item[];
}

interface Composed {
  /** One frame per document. Past MAX_LINE_FRAMES nodes, only these (see composeFrames). */
  readonly roots: readonly Frame[];
  /** The text as the loader read it (a BOM dropped, a final break added): frames' positions are in it. */
  readonly input: string;
}

// Lines: a frame is kept for every node of the file, ~170 bytes each. An 8 MiB map of short keys
// (524,000 of them: over a million nodes, within planning.maxFileBytes) took ~180 MB more RSS for its
// first line than for its values, beside the webhook's 512 MB. Past this many nodes only each
// document's own frame is kept, and a line asked for in such a file is its document's.
export const MAX_LINE_FRAMES = 200_000;

/** Loads the text again with a listener. Only called for text that has loaded once already, so it
 * cannot fail. */
function composeFrames(text: string, options: LoadOptions): Composed {
  const roots: Frame[] = [];
  let input = '';
  const open: Frame[] = [];
  let frames = 0;
  // Past MAX_LINE_FRAMES: the depth of the node being read, and only documents get frames.
  let depth: number | undefined;
  loadAll(text, undefined, {
    ...options,
    listener: (event: 'open' | 'close', state: State) => {
      input = state.input;
      if (depth === undefined && event === 'open' && ++frames > MAX_LINE_FRAMES) {
        for (const root of roots) root.children = undefined;
        depth = open.length;
      }
      if (depth !== undefined) {
        if (event === 'open' && depth++ === 0) {
          roots.push({
            line: state.line,
            start: state.position,
            end: state.position,
            result: null,
            kind: null,
            key: false,
            alias: false,
            children: undefined,
          });
        } else if (event === 'close' && --depth === 0) {
          const root = roots[roots.length - 1]!;
          root.end = state.position;
          root.kind = (state as { kind: string | null }).kind;
          // Kept only to tell an empty document (its line is its `---`); never the document's value.
          root.result = state.result === null || state.result === undefined ? null : true;
        }
        return;
      }
      if (event === 'open') {
        const parent = open[open.length - 1];
        const frame: Frame = {
          line: state.line,
          start: state.position,
          end: state.position,
          result: null,
          kind: null,
          key: explicitKeyBefore(state.input, state.position),
          alias: false,
          children: undefined,
        };
        if (parent !== undefined) {
          const siblings = (parent.children ??= []);
          // tryReadBlockMappingFromProperty restores the loader's position and reads a node again:
          // the events of an abandoned attempt are followed by a frame that starts before they
          // ended. Only the second reading counts.
          while (siblings.length > 0 && siblings[siblings.length - 1]!.end > frame.start) siblings.pop();
          siblings.push(frame);
        } else {
          roots.push(frame);
        }
        open.push(frame);
      } else {
        const frame = open.pop()!;
        frame.end = state.position;
        frame.result = state.result;
        frame.kind = (state as { kind: string | null }).kind;
        frame.alias = frame.kind === null && state.result !== null && aliasAt(state.input, frame.start);
        if (!frame.key) frame.key = colonAfter(state.input, state.position);
      }
    },
  });
  return { roots, input };
}

/** Whether the first node character at or after `position` (past blanks, breaks and comments) is `*`. */
function aliasAt(input: string, position: number): boolean {
  return input.charCodeAt(nodeStart(input, position)) === 0x2a;
}

function nodeStart(input: string, position: number): number {
  let p = position;
  for (;;) {
    const c = input.charCodeAt(p);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) p++;
    else if (c === 0x23) {
      while (p < input.length && input.charCodeAt(p) !== 0x0a) p++;
    } else return p;
  }
}

/** Whether a `:` follows on the same line (past blanks): the node was an implicit key. */
function colonAfter(input: string, position: number): boolean {
  let p = position;
  while (input.charCodeAt(p) === 0x20 || input.charCodeAt(p) === 0x09) p++;
  return input.charCodeAt(p) === 0x3a;
}

/** Whether the node opening at `position` follows an explicit-key indicator (`? `). */
function explicitKeyBefore(input: string, position: number): boolean {
  let p = position - 1;
  while (p >= 0 && (input.charCodeAt(p) === 0x20 || input.charCodeAt(p) === 0x09)) p--;
  if (p < 0 || input.charCodeAt(p) !== 0x3f) return false;
  const before = p === 0 ? 0x0a : input.charCodeAt(p - 1);
  return (
    before === 0x20 ||
    before === 0x09 ||
    before === 0x0a ||
    before === 0x0d ||
    before === 0x2c ||
    before === 0x7b ||
    before === 0x5b
  );
}

/** A collection's frame, past frames that only wrap it: the loader composes a flow collection, or a
 * document's only scalar, as a node inside the node it was asked for. */
function unwrap(frame: Frame): Frame {
  let current = frame;
  while (
    current.children?.length === 1 &&
    current.children[0]!.result === current.result &&
    typeof current.result === 'object' &&
    current.result !== null
  ) {
    current = current.children[0]!;
  }
  return current;
}

interface Entry {
  /** The key's frame in a map, the entry's own in a list. */
  readonly at: Frame;
  /** The value's frame (undefined for a key without one). */
  readonly value: Frame | undefined;
}

/** A collection frame's entries: key and value pairs in a map, items (single pairs included) in a list. */
function entries(frame: Frame): Entry[] {
  const found: Entry[] = [];
  let key: Frame | undefined;
  for (const child of frame.children ?? []) {
    if (child.key) {
      if (key !== undefined) found.push({ at: key, value: undefined });
      key = child;
    } else if (key !== undefined) {
      found.push({ at: key, value: child });
      key = undefined;
    } else if (frame.kind === 'sequence') {
      found.push({ at: child, value: child });
    }
    // Otherwise a node that ended the map (a document end marker, a line less indented): no entry.
  }
  if (key !== undefined) found.push({ at: key, value: undefined });
  return found;
}

/** A map frame's entries by js-yaml's key, the last of a repeated key kept (built once: a file may
 * ask for the line of each of its many keys). */
function entryByKey(frame: Frame): ReadonlyMap<string, Entry> {
  if (frame.byKey === undefined) {
    const byKey = new Map<string, Entry>();
    for (const entry of entries(frame)) byKey.set(keyString(entry.at.result), entry);
    frame.byKey = byKey;
  }
  return frame.byKey;
}

/** js-yaml's key of a map entry: its value as a string. */
function keyString(key: unknown): string {
  return typeof key === 'object' && key !== null && !Array.isArray(key) ? '[object Object]' : String(key);
}

/** The 0-based line of the node at `path`, or of the nearest parent that exists. */
function lineOfPath(composed: Composed, root: Frame, path: readonly (string | number)[]): number {
  let frame = unwrap(root);
  let line = root.kind === null && root.result === null ? emptyDocumentLine(composed, root) : frame.line;
  for (const segment of path) {
    const value = frame.result;
    let next: Entry | undefined;
    if (frame.kind === 'mapping' && !Array.isArray(value)) {
      // A repeated key (last-wins files): the value kept is the last one's.
      next = entryByKey(frame).get(String(segment));
    } else if (frame.kind === 'sequence' && Array.isArray(value) && typeof segment === 'number') {
      const item = segment < value.length ? itemsOf(composed, frame)[segment] : undefined;
      if (item === undefined) break;
      line = item.line;
      if (item.value === undefined) break;
      frame = unwrap(item.value);
      continue;
    }
    if (next === undefined) break;
    line = next.at.line;
    if (next.value === undefined) break;
    frame = unwrap(next.value);
  }
  return line;
}

/** An empty document's node opens where the loader stopped looking for it: at the next document
 * marker. Its line is that of the `---` that began it, past blank and comment lines. */
function emptyDocumentLine(composed: Composed, root: Frame): number {
  const { input } = composed;
  let line = root.line;
  let lineStart = input.lastIndexOf('\n', root.start - 1) + 1;
  if (lineStart < root.start && input.slice(lineStart, root.start).trim() !== '') return root.line;
  while (lineStart > 0) {
    const previous = input.lastIndexOf('\n', lineStart - 2) + 1;
    const text = input.slice(previous, lineStart - 1);
    line--;
    if (/^---(?:\s|$)/.test(text)) return line;
    if (text.trim() !== '' && !text.trimStart().startsWith('#')) return root.line;
    lineStart = previous;
  }
  return root.line;
}

interface Item {
  readonly line: number;
  readonly value: Frame | undefined;
}

/** A list's items, with their lines (built once per list: a file may ask for the line of each of
 * its many items). In a flow list (`[a, b]`) each item is a node the loader composed. In a block list
 * a `-` with nothing after it is a null item that has no node: there the items are the lines whose
 * first character is a `-` in the list's column, and an item's node is the one that starts after its
 * `-` and before the next. */
function itemsOf(composed: Composed, frame: Frame): readonly Item[] {
  if (frame.items !== undefined) return frame.items;
  const { input } = composed;
  const first = nodeStart(input, frame.start);
  if (input.charCodeAt(first) !== 0x2d) {
    frame.items = entries(frame).map((entry) => ({ line: entry.at.line, value: entry.value }));
    return frame.items;
  }
  const column = first - (input.lastIndexOf('\n', first - 1) + 1);
  let line = frame.line;
  for (let p = frame.start; p < first; p++) if (input.charCodeAt(p) === 0x0a) line++;
  const dashes = [{ position: first, line }];
  for (let dash = first; ;) {
    const next = nextDash(input, dash, column, frame.end);
    if (next === undefined) break;
    line += next.breaks;
    dash = next.position;
    dashes.push({ position: dash, line });
  }
  const children = frame.children ?? [];
  let child = 0;
  frame.items = dashes.map((dash, index) => {
    const limit = dashes[index + 1]?.position ?? frame.end + 1;
    while (child < children.length && children[child]!.start <= dash.position) child++;
    const candidate = children[child];
    return {
      line: dash.line,
      value: candidate !== undefined && candidate.start < limit ? candidate : undefined,
    };
  });
  return frame.items;
}

/** The next line after `from`, before `end`, whose first character is a `-` entry indicator in
 * `column`; with the line breaks passed. */
function nextDash(
  input: string,
  from: number,
  column: number,
  end: number,
): { readonly position: number; readonly breaks: number } | undefined {
  let breaks = 0;
  let lineStart = input.indexOf('\n', from);
  while (lineStart !== -1 && lineStart < end) {
    lineStart++;
    breaks++;
    let p = lineStart;
    while (input.charCodeAt(p) === 0x20) p++;
    const following = input.charCodeAt(p + 1);
    if (
      p - lineStart === column &&
      input.charCodeAt(p) === 0x2d &&
      (following === 0x20 || following === 0x09 || following === 0x0a || following === 0x0d)
    ) {
      return p < end ? { position: p, breaks } : undefined;
    }
    lineStart = input.indexOf('\n', lineStart);
  }
  return undefined;
}

/** The 0-based line of the first alias in a document, where a refused file is to be fixed. The text
 * is read again with a listener that stops at that alias (its node closes first: an alias has no
 * children), not composed whole: 8 MiB of aliases took 2.7 s to refuse that way, most of it frames. */
function firstAliasLine(text: string, options: LoadOptions, index: number): number | undefined {
  const found = new Error('first alias found');
  let line: number | undefined;
  let documents = -1;
  const opened: { readonly line: number; readonly start: number }[] = [];
  try {
    loadAll(text, undefined, {
      ...options,
      listener: (event: 'open' | 'close', state: State) => {
        if (event === 'open') {
          if (opened.length === 0) documents++;
          opened.push({ line: state.line, start: state.position });
          return;
        }
        const node = opened.pop()!;
        const kind = (state as { kind: string | null }).kind;
        if (documents !== index || kind !== null || state.result === null) return;
        if (!aliasAt(state.input, node.start)) return;
        // A map value opens at the end of its key's line: count the breaks before its `*`.
        const end = nodeStart(state.input, node.start);
        line = node.line;
        for (let p = node.start; p < end; p++) if (state.input.charCodeAt(p) === 0x0a) line++;
        throw found;
      },
    });
  } catch (e: unknown) {
    if (e !== found) throw e;
  }
  return line;
}

// ---- Alias budget ---------------------------------------------------------------------------

// go-yaml v3's rule (decode.go, `allowedAliasRatio` and `decoder.unmarshal`), which kustomize's kyaml
// decodes with: every node decoded counts, and every node decoded inside an alias also counts as
// aliased; once more than 100 aliased nodes and more than 1,000 nodes in all were decoded, the
// document is refused when the aliased share is over 99% (up to 400,000 nodes), falling linearly to
// 10% at 4,000,000 nodes and staying there ("document contains excessive aliasing"). The numbers are
// go-yaml's: ~5 KB of dense declarations at 10,000% expansion, or ~100 MB of allocations at worst.
// go-yaml also refuses an anchor whose value holds an alias of itself ("anchor '%s' value contains
// itself"): js-yaml makes that a value that contains itself.
const ALIAS_RATIO_RANGE_LOW = 400_000;
const ALIAS_RATIO_RANGE_HIGH = 4_000_000;

function allowedAliasRatio(decodeCount: number): number {
  if (decodeCount <= ALIAS_RATIO_RANGE_LOW) return 0.99;
  if (decodeCount >= ALIAS_RATIO_RANGE_HIGH) return 0.1;
  return (
    0.99 - (0.89 * (decodeCount - ALIAS_RATIO_RANGE_LOW)) / (ALIAS_RATIO_RANGE_HIGH - ALIAS_RATIO_RANGE_LOW)
  );
}

const KEY = Symbol('key');

function childrenOf(node: object): readonly unknown[] {
  return Array.isArray(node) ? node : Object.values(node);
}

/** Nodes go-yaml would decode for `node` with every alias below it expanded (a key counts as a
 * node), memoized by identity; undefined when the value contains itself. Iterative, as is the
 * walk below: no input reaches the limit of the call stack. */
function expandedSize(node: object, sizes: Map<object, number>): number | undefined {
  const onPath = new Set<object>();
  const stack: {
    readonly node: object;
    readonly children: readonly unknown[];
    next: number;
    size: number;
  }[] = [];
  const enter = (n: object): void => {
    onPath.add(n);
    stack.push({ node: n, children: childrenOf(n), next: 0, size: 1 });
  };
  enter(node);
  let finished = 0;
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next < top.children.length) {
      const child = top.children[top.next++];
      if (!Array.isArray(top.node)) top.size++;
      if (child === null || typeof child !== 'object') {
        top.size++;
        continue;
      }
      const known = sizes.get(child);
      if (known !== undefined) top.size += known;
      else if (onPath.has(child)) return undefined;
      else enter(child);
      continue;
    }
    stack.pop();
    onPath.delete(top.node);
    sizes.set(top.node, top.size);
    finished = top.size;
    const parent = stack[stack.length - 1];
    if (parent !== undefined) parent.size += top.size;
  }
  return finished;
}

/** Whether a value js-yaml loaded stays within go-yaml v3's alias budget. js-yaml does not expand
 * aliases: an aliased map or list is the same object met again. So the walk visits each object once,
 * and counts a second meeting as decoding its whole expanded subtree, which is what go-yaml would
 * decode there. Linear in the file, whatever the expansion. */
function aliasBudget(value: unknown, totals: { aliased: number }): 'within' | 'excessive' | 'cycle' {
  if (value === null || typeof value !== 'object') return 'within';
  const sizes = new Map<object, number>();
  const seen = new Set<object>();
  let decodeCount = 0;
  let aliasCount = 0;
  // Pre-order, as go-yaml decodes: a map's key is counted just before its value.
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    decodeCount++;
    if (node === KEY || node === null || typeof node !== 'object') continue;
    if (seen.has(node)) {
      // An alias: the alias node itself, then everything below its anchor, all of it aliased.
      const size = expandedSize(node, sizes);
      if (size === undefined) return 'cycle';
      decodeCount += size;
      aliasCount += size;
      // Within one expansion the aliased share only grows and the allowed share only shrinks, so
      // checking at its end is checking at every node of it, as go-yaml does.
      if (
        aliasCount > 100 &&
        decodeCount > 1000 &&
        aliasCount / decodeCount > allowedAliasRatio(decodeCount)
      ) {
        return 'excessive';
      }
      continue;
    }
    seen.add(node);
    const children = childrenOf(node);
    const map = !Array.isArray(node);
    for (let i = children.length - 1; i >= 0; i--) {
      stack.push(children[i]);
      if (map) stack.push(KEY);
    }
  }
  totals.aliased += aliasCount;
  return 'within';
}

/** Levels of nesting of a value whose aliases do not contain themselves (a scalar is 0, an empty
 * map or list 1), every alias expanded. Iterative and memoized by identity: linear in the file. */
function expandedDepth(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const depths = new Map<object, number>();
  const stack: {
    readonly node: object;
    readonly children: readonly unknown[];
    next: number;
    depth: number;
  }[] = [{ node: value, children: childrenOf(value), next: 0, depth: 1 }];
  let finished = 0;
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next < top.children.length) {
      const child = top.children[top.next++];
      if (child === null || typeof child !== 'object') continue;
      const known = depths.get(child);
      if (known !== undefined) top.depth = Math.max(top.depth, known + 1);
      else stack.push({ node: child, children: childrenOf(child), next: 0, depth: 1 });
      continue;
    }
    stack.pop();
    depths.set(top.node, top.depth);
    finished = top.depth;
    const parent = stack[stack.length - 1];
    if (parent !== undefined) parent.depth = Math.max(parent.depth, top.depth + 1);
  }
  return finished;
}
