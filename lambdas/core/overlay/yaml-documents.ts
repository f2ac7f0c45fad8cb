// Parsing YAML files of an overlay into plain values while still able to name the line of any
// node, so errors can name file and line. Values come from js-yaml (the hot path: about 8x faster
// than composing `yaml` Documents); the `yaml` package composes a file only when a line is asked
// for or the text is malformed. Pure: text in, values out; never reads files itself.
import * as jsYaml from 'js-yaml';
import { CORE_SCHEMA, YAMLException, loadAll } from 'js-yaml';
import type { Type } from 'js-yaml';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseAllDocuments } from 'yaml';
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
