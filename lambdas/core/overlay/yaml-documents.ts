// Parsing YAML files of an overlay into plain values while keeping the line of every node, so
// errors can name file and line. Pure: text in, values out; never reads files itself.
import { LineCounter, isMap, isPair, isScalar, isSeq, parseAllDocuments } from 'yaml';
import type { Document } from 'yaml';
import { OverlayError } from '../errors';

export interface YamlDocument {
  /** The document as plain JSON-like data (maps, arrays, strings, numbers, booleans, null). */
  readonly value: unknown;
  /** 1-based line of the node at `path` (map keys and sequence indexes), or of the nearest parent. */
  lineOf(path: readonly (string | number)[]): number;
}

/** Parses every document of a (multi-document) YAML file. Throws OverlayError naming file and line
 * for malformed YAML. Empty documents are kept as `null` values. */
export function parseYamlDocuments(file: string, text: string): readonly YamlDocument[] {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter, merge: true, uniqueKeys: true, prettyErrors: false });
  const documents = Array.isArray(parsed) ? parsed : [];
  const result: YamlDocument[] = [];
  for (const document of documents) {
    const error = document.errors[0];
    if (error !== undefined) {
      const line = lineCounter.linePos(error.pos[0]).line;
      throw new OverlayError(file, `malformed YAML: ${firstLine(error.message)}`, line);
    }
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: 1000 });
    } catch (e: unknown) {
      throw new OverlayError(file, `malformed YAML: ${e instanceof Error ? e.message : String(e)}`);
    }
    result.push({ value, lineOf: (path) => lineOfPath(document, lineCounter, path) });
  }
  return result;
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
