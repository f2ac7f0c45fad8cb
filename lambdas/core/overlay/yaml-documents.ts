// Parsing YAML files of an overlay into plain values while still able to name the line of any
// node, so errors can name file and line. Values come from js-yaml (the hot path: about 8x faster
// than composing `yaml` Documents); the `yaml` package composes a file only when a line is asked
// for or the text is malformed. Pure: text in, values out; never reads files itself.
// Aliases are bounded the way kustomize's YAML library (go-yaml v3) bounds them: a small file whose
// anchors nest ("billion laughs") is refused before anything walks its values.
import * as jsYaml from 'js-yaml';
import { CORE_SCHEMA, YAMLException, loadAll } from 'js-yaml';
import type { Type } from 'js-yaml';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseAllDocuments, visit } from 'yaml';
import type { Document } from 'yaml';
import { OverlayError } from '../errors';

export interface YamlDocument {
  /** The document as plain JSON-like data (maps, arrays, strings, numbers, booleans, null). */
  readonly value: unknown;
  /** 1-based line of the node at `path` (map keys and sequence indexes), or of the nearest parent. */
  lineOf(path: readonly (string | number)[]): number;
}

// YAML 1.2 core schema plus merge keys (`<<`), like kustomize's yaml.v3; no timestamps.
// (`types` exists at run time but is missing from @types/js-yaml.)
const SCHEMA = CORE_SCHEMA.extend([
  (jsYaml as unknown as { readonly types: { readonly merge: Type } }).types.merge,
]);

export interface ParseOptions {
  /** kustomize reads kustomization files leniently (a repeated key: the last one wins) but
   * refuses repeated keys in resources and patches. */
  readonly duplicateKeys: 'last-wins' | 'error';
}

/** Parses every document of a (multi-document) YAML file. Throws OverlayError naming file and line
 * for malformed YAML. Empty documents are kept as `null` values. */
export function parseYamlDocuments(
  file: string,
  text: string,
  options: ParseOptions = { duplicateKeys: 'error' },
): readonly YamlDocument[] {
  const lastWins = options.duplicateKeys === 'last-wins';
  let values: unknown[];
  try {
    values = loadAll(text, undefined, { schema: SCHEMA, filename: file, json: lastWins });
  } catch (e: unknown) {
    throw malformed(file, text, e, !lastWins);
  }
  let composed: { documents: readonly Document[]; lineCounter: LineCounter } | undefined;
  const compose = (): { documents: readonly Document[]; lineCounter: LineCounter } => {
    if (composed === undefined) {
      const lineCounter = new LineCounter();
      composed = {
        documents: parseAllDocuments(text, { lineCounter, merge: true }) as Document[],
        lineCounter,
      };
    }
    return composed;
  };
  // No `*` in the text, no alias: the budget walk (a Set of every node) is skipped for the usual
  // file, multi-megabyte CRDs included.
  const mayAlias = text.includes('*');
  values.forEach((value, index) => {
    if (mayAlias && !withinAliasBudget(value)) {
      throw new OverlayError(
        file,
        'excessive aliasing: its YAML aliases expand to far more nodes than the file holds ' +
          '(refused by the rule of go-yaml v3, the YAML library of kustomize); write the values out',
        lineOfFirstAlias(compose(), index),
      );
    }
  });
  return values.map((value, index) => ({
    value: value === undefined ? null : value,
    lineOf: (path) => {
      const { documents, lineCounter } = compose();
      const document = documents[index];
      return document === undefined ? 1 : lineOfPath(document, lineCounter, path);
    },
  }));
}

/** The error for malformed YAML, with the `yaml` package's line and message when it agrees. */
function malformed(file: string, text: string, cause: unknown, uniqueKeys: boolean): OverlayError {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter, merge: true, uniqueKeys, prettyErrors: false });
  for (const document of Array.isArray(parsed) ? parsed : []) {
    const error = document.errors[0];
    if (error !== undefined) {
      return new OverlayError(
        file,
        `malformed YAML: ${firstLine(error.message)}`,
        lineCounter.linePos(error.pos[0]).line,
      );
    }
  }
  if (cause instanceof YAMLException) {
    return new OverlayError(file, `malformed YAML: ${cause.reason}`, cause.mark.line + 1);
  }
  return new OverlayError(file, `malformed YAML: ${cause instanceof Error ? cause.message : String(cause)}`);
}

function lineOfPath(
  document: Document,
  lineCounter: LineCounter,
  path: readonly (string | number)[],
): number {
  let node: unknown = document.contents;
  let offset = rangeStart(node) ?? 0;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isPair(item) && isScalar(item.key) && item.key.value === segment,
      );
      if (pair === undefined) break;
      offset = rangeStart(pair.key) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment];
      offset = rangeStart(node) ?? offset;
    } else {
      break;
    }
  }
  return lineCounter.linePos(offset).line;
}

function rangeStart(node: unknown): number | undefined {
  if (node !== null && typeof node === 'object' && 'range' in node) {
    const range = (node as { range?: readonly number[] | null }).range;
    return range?.[0];
  }
  return undefined;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

// go-yaml v3's rule (decode.go, `allowedAliasRatio` and `decoder.unmarshal`), which kustomize's kyaml
// decodes with: every node decoded counts, and every node decoded inside an alias also counts as
// aliased; once more than 100 aliased nodes and more than 1,000 nodes in all were decoded, the
// document is refused when the aliased share is over 99% (up to 400,000 nodes), falling linearly to
// 10% at 4,000,000 nodes and staying there ("document contains excessive aliasing"). The numbers are
// go-yaml's: ~5 KB of dense declarations at 10,000% expansion, or ~100 MB of allocations at worst.
const ALIAS_RATIO_RANGE_LOW = 400_000;
const ALIAS_RATIO_RANGE_HIGH = 4_000_000;

function allowedAliasRatio(decodeCount: number): number {
  if (decodeCount <= ALIAS_RATIO_RANGE_LOW) return 0.99;
  if (decodeCount >= ALIAS_RATIO_RANGE_HIGH) return 0.1;
  return (
    0.99 - (0.89 * (decodeCount - ALIAS_RATIO_RANGE_LOW)) / (ALIAS_RATIO_RANGE_HIGH - ALIAS_RATIO_RANGE_LOW)
  );
}

/** Whether a value js-yaml loaded stays within go-yaml v3's alias budget. js-yaml does not expand
 * aliases: an aliased map or list is the same object met again. So the walk visits each object once,
 * and counts a second meeting as decoding its whole expanded subtree (sizes memoized by identity),
 * which is what go-yaml would decode there. Linear in the file, whatever the expansion. */
export function withinAliasBudget(value: unknown): boolean {
  const expandedSizes = new Map<object, number>();
  const expandedSize = (node: unknown): number => {
    if (node === null || typeof node !== 'object') return 1;
    const known = expandedSizes.get(node);
    if (known !== undefined) return known;
    let size = 1;
    if (Array.isArray(node)) for (const item of node) size += expandedSize(item);
    // A key is a decoded node too.
    else for (const child of Object.values(node)) size += 1 + expandedSize(child);
    expandedSizes.set(node, size);
    return size;
  };
  const seen = new Set<object>();
  let decodeCount = 0;
  let aliasCount = 0;
  const visit = (node: unknown): boolean => {
    decodeCount++;
    if (node === null || typeof node !== 'object') return true;
    if (seen.has(node)) {
      // An alias: the alias node itself, then everything below its anchor, all of it aliased.
      const size = expandedSize(node);
      decodeCount += size;
      aliasCount += size;
      // Within one expansion the aliased share only grows and the allowed share only shrinks, so
      // checking at its end is checking at every node of it, as go-yaml does.
      return !(
        aliasCount > 100 &&
        decodeCount > 1000 &&
        aliasCount / decodeCount > allowedAliasRatio(decodeCount)
      );
    }
    seen.add(node);
    const children = Array.isArray(node) ? node : Object.values(node);
    for (const child of children) {
      if (!Array.isArray(node)) decodeCount++;
      if (!visit(child)) return false;
    }
    return true;
  };
  return visit(value);
}

/** The line of the first alias (`*name`) of document `index`, where a refused file is to be fixed. */
function lineOfFirstAlias(
  composed: { readonly documents: readonly Document[]; readonly lineCounter: LineCounter },
  index: number,
): number | undefined {
  const document = composed.documents[index];
  if (document === undefined) return undefined;
  let offset: number | undefined;
  visit(document, {
    Alias: (_key, node) => {
      offset = node.range?.[0];
      return visit.BREAK;
    },
  });
  return offset === undefined ? undefined : composed.lineCounter.linePos(offset).line;
}
