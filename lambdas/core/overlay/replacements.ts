// kustomize's replacements (the `replacements:` field and the builtin ReplacementTransformer):
// copy one field of one source resource into fields of every selected target. Reproduced from
// kustomize v5.5, sigs.k8s.io/kustomize/api/filters/replacement/replacement.go, and the path walk
// of kyaml (yaml/match.go PathMatcher for targets, PathGetter for the source), checked against
// `kubectl kustomize`:
// - the source must be exactly one resource (any of its current or previous identities selected:
//   "multiple matches for selector" / "nothing selected by"); its field must be there and neither
//   null nor an empty map or list ("fieldPath ... is missing for replacement source");
// - `source.options.delimiter`/`index` take one part of the source's text (index out of bounds is
//   an error);
// - a target is every resource with an identity its `select` selects (group, version, kind, name,
//   namespace compared exactly, never as patterns) and its label/annotation selectors match, and
//   none of whose identities a `reject` selects;
// - field paths are `.`-separated (text in `[...]` is one part; `[key.with.dots]` is a map key,
//   `[name=re]` the list elements whose `name` matches the unanchored regular expression re), with
//   `0`-style indexes and `*` for every element; empty parts are dropped (`.spec.x` is `spec.x`);
// - a path that reaches nothing is an error ("unable to find field ... in replacement target"),
//   and so is an index past the end; `options.create` creates missing maps, lists, a `[name=x]`
//   element, the element at index len(list), and the last field ("" before the value is set);
// - `options.delimiter`/`index` on a target replace part `index` of the target's text split by the
//   delimiter (index < 0 prepends, index past the end appends);
// - a scalar target keeps its type and takes the value's text; a map or list target takes a copy.
// kustomize runs the `replacements:` field after `images:` (api/internal/target/kusttarget.go,
// configureBuiltinTransformers) and a ReplacementTransformer config in `transformers:` order. A
// source number is taken as JavaScript prints it (`1.10` written unquoted reads as `1.1`; kustomize
// keeps the text): quote such values. Pure; throws a plain Error the caller places.
import { allIdsOf, copyJson, isJsonMap, metadataOf, ownValue, sameNamespace, setOwn } from './resource';
import type { JsonMap, ResId, Resource } from './resource';
import { parseLabelSelector } from './select-resources';

export interface ReplacementSelector {
  readonly group?: string;
  readonly version?: string;
  readonly kind?: string;
  readonly name?: string;
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly annotationSelector?: string;
}

export interface FieldOptions {
  readonly delimiter: string;
  readonly index: number;
  readonly create: boolean;
}

export interface Replacement {
  readonly source: ReplacementSelector & { readonly fieldPath: string; readonly options: FieldOptions };
  readonly targets: readonly {
    readonly select: ReplacementSelector;
    readonly reject: readonly ReplacementSelector[];
    readonly fieldPaths: readonly string[];
    readonly options: FieldOptions;
  }[];
}

// types.DefaultReplacementFieldPath
const DEFAULT_FIELD_PATH = 'metadata.name';

/** The replacements of one `replacements:` entry's file or of an inline entry: a list of them or
 * a single one (kustomize accepts both in a file). Throws a plain Error for a malformed one. */
export function readReplacements(value: unknown): Replacement[] {
  const items = Array.isArray(value) ? value : [value];
  return items.map((item: unknown, index) => readReplacement(item, items.length > 1 ? `[${index}]` : ''));
}

function readReplacement(value: unknown, where: string): Replacement {
  const fail = (reason: string): never => {
    throw new Error(`replacement${where}: ${reason}`);
  };
  if (!isJsonMap(value)) return fail('must be a map');
  const source = value['source'];
  const targets = value['targets'];
  // kustomize: `r.Source == nil || r.Targets == nil`
  if (!isJsonMap(source) || targets === undefined || targets === null) {
    return fail('replacements must specify a source and at least one target');
  }
  if (!Array.isArray(targets)) return fail('targets must be a list');
  return {
    source: {
      ...readSelector(source, 'source', fail),
      fieldPath: readString(source['fieldPath'], 'source.fieldPath', fail) || DEFAULT_FIELD_PATH,
      options: readOptions(source['options'], 'source.options', fail),
    },
    targets: targets.map((target: unknown, index) => {
      const at = `targets[${index}]`;
      if (!isJsonMap(target)) return fail(`${at} must be a map`);
      if (!isJsonMap(target['select'])) return fail('target must specify resources to select');
      const reject = target['reject'] ?? [];
      if (!Array.isArray(reject)) return fail(`${at}.reject must be a list`);
      const paths = target['fieldPaths'] ?? [];
      if (!Array.isArray(paths)) return fail(`${at}.fieldPaths must be a list`);
      const fieldPaths = paths.map((path, i) => readString(path, `${at}.fieldPaths[${i}]`, fail) ?? '');
      return {
        select: readSelector(target['select'], `${at}.select`, fail),
        reject: reject.map((r: unknown, i) => {
          if (!isJsonMap(r)) return fail(`${at}.reject[${i}] must be a map`);
          return readSelector(r, `${at}.reject[${i}]`, fail);
        }),
        fieldPaths: fieldPaths.length === 0 ? [DEFAULT_FIELD_PATH] : fieldPaths,
        options: readOptions(target['options'], `${at}.options`, fail),
      };
    }),
  };
}

function readString(value: unknown, what: string, fail: (reason: string) => never): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') return fail(`${what} must be a string`);
  return value;
}

function readSelector(map: JsonMap, what: string, fail: (reason: string) => never): ReplacementSelector {
  const field = (name: string): string | undefined => readString(map[name], `${what}.${name}`, fail);
  return {
    group: field('group'),
    version: field('version'),
    kind: field('kind'),
    name: field('name'),
    namespace: field('namespace'),
    labelSelector: field('labelSelector'),
    annotationSelector: field('annotationSelector'),
  };
}

function readOptions(value: unknown, what: string, fail: (reason: string) => never): FieldOptions {
  if (value === undefined || value === null) return { delimiter: '', index: 0, create: false };
  if (!isJsonMap(value)) return fail(`${what} must be a map`);
  const index = value['index'] ?? 0;
  if (typeof index !== 'number' || !Number.isInteger(index)) return fail(`${what}.index must be an integer`);
  const create = value['create'] ?? false;
  if (typeof create !== 'boolean') return fail(`${what}.create must be true or false`);
  return { delimiter: readString(value['delimiter'], `${what}.delimiter`, fail) ?? '', index, create };
}

/** Applies the replacements, in order, to the resources (mutated in place). Throws a plain Error
 * with kustomize's reason when kustomize fails the build. */
export function applyReplacements(
  resources: readonly Resource[],
  replacements: readonly Replacement[],
): void {
  for (const replacement of replacements) {
    const value = sourceValue(resources, replacement.source);
    for (const target of replacement.targets) {
      const select = selectorTest(target.select);
      const rejects = target.reject.map(metadataTest);
      for (const resource of resources) {
        if (!select(resource)) continue;
        const ids = allIdsOf(resource);
        // kustomize (selectByAnnoAndLabel, containsRejectId): a reject's label/annotation
        // selectors reject when they match; its id parts reject when any identity matches them.
        const rejected = target.reject.some(
          (reject, i) =>
            ((reject.labelSelector || reject.annotationSelector) && rejects[i]!(resource)) ||
            (hasIdParts(reject) && ids.some((id) => idSelected(id, reject))),
        );
        if (rejected) continue;
        for (const fieldPath of target.fieldPaths) {
          const fields = findFields(resource.object, fieldPath, target.options.create ? value : undefined);
          if (fields.length === 0) {
            throw new Error(
              target.options.create
                ? `unable to find or create field "${fieldPath}" in replacement target`
                : `unable to find field "${fieldPath}" in replacement target`,
            );
          }
          for (const field of fields) setField(field, value, target.options);
        }
      }
    }
  }
}

function hasIdParts(selector: ReplacementSelector): boolean {
  return Boolean(selector.group || selector.version || selector.kind || selector.name || selector.namespace);
}

/** resid.ResId.IsSelectedBy: each non-empty part equal (the namespace as kustomize compares it). */
function idSelected(id: ResId, selector: ReplacementSelector): boolean {
  if (selector.group && selector.group !== id.group) return false;
  if (selector.version && selector.version !== id.version) return false;
  if (selector.kind && selector.kind !== id.kind) return false;
  if (selector.name && selector.name !== id.name) return false;
  if (selector.namespace) {
    const selectorId: ResId = {
      group: '',
      version: '',
      kind: selector.kind ?? '',
      name: '',
      namespace: selector.namespace,
    };
    if (!sameNamespace(selectorId, id)) return false;
  }
  return true;
}

/** True when the resource's metadata matches the selector's label and annotation selectors. */
function metadataTest(selector: ReplacementSelector): (resource: Resource) => boolean {
  const labels = selector.labelSelector ? parseLabelSelector(selector.labelSelector) : undefined;
  const annotations = selector.annotationSelector
    ? parseLabelSelector(selector.annotationSelector)
    : undefined;
  return (resource) => {
    const metadata = metadataOf(resource.object);
    if (labels && !labels(stringMap(metadata['labels']))) return false;
    if (annotations && !annotations(stringMap(metadata['annotations']))) return false;
    return true;
  };
}

/** True when one of the resource's identities is selected and its metadata matches. */
function selectorTest(selector: ReplacementSelector): (resource: Resource) => boolean {
  const metadata = metadataTest(selector);
  return (resource) => metadata(resource) && allIdsOf(resource).some((id) => idSelected(id, selector));
}

function stringMap(value: unknown): ReadonlyMap<string, string> {
  const map = new Map<string, string>();
  if (isJsonMap(value)) for (const [key, item] of Object.entries(value)) map.set(key, scalarText(item));
  return map;
}

function describeSelector(selector: ReplacementSelector): string {
  const parts = (['group', 'version', 'kind', 'name', 'namespace'] as const)
    .filter((key) => selector[key])
    .map((key) => `${key} ${selector[key]}`);
  return parts.length === 0 ? 'an empty selector' : parts.join(', ');
}

function sourceValue(resources: readonly Resource[], source: Replacement['source']): unknown {
  const matches = resources.filter((resource) => allIdsOf(resource).some((id) => idSelected(id, source)));
  if (matches.length > 1) {
    throw new Error(`replacement source (${describeSelector(source)}): more than one resource matches`);
  }
  if (matches.length === 0) {
    throw new Error(`replacement source (${describeSelector(source)}): no resource matches`);
  }
  const value = getField(matches[0]!.object, source.fieldPath);
  if (
    value === undefined ||
    value === null ||
    (Array.isArray(value) && value.length === 0) ||
    (isJsonMap(value) && Object.keys(value).length === 0)
  ) {
    throw new Error(
      `fieldPath "${source.fieldPath}" is missing for replacement source (${describeSelector(source)})`,
    );
  }
  if (source.options.delimiter === '') return value;
  if (isJsonMap(value) || Array.isArray(value)) {
    throw new Error('delimiter option can only be used with scalar nodes');
  }
  const parts = scalarText(value).split(source.options.delimiter);
  const index = source.options.index;
  if (index < 0 || index >= parts.length) {
    throw new Error(`options.index ${index} is out of bounds for value ${scalarText(value)}`);
  }
  return parts[index];
}

/** The text of a scalar as kustomize reads it (maps and lists have none). */
function scalarText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined || typeof value === 'object') return '';
  return String(value);
}

type PathPart =
  | { readonly kind: 'field'; readonly key: string }
  | { readonly kind: 'index'; readonly index: number }
  | { readonly kind: 'match'; readonly field: string; readonly pattern: RegExp; readonly value: string }
  | { readonly kind: 'every' };

/** kyaml's SmarterPathSplitter (text in brackets is one part; brackets without `=` removed) and
 * cleanPath (blank parts dropped), then each part classified as PathMatcher does. */
function parsePath(path: string): PathPart[] {
  const raw: string[] = [];
  let current = '';
  let depth = 0;
  for (const c of path) {
    if (c === '[') depth++;
    else if (c === ']' && depth > 0) depth--;
    if (c === '.' && depth === 0) {
      raw.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  raw.push(current);
  return raw
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part): PathPart => {
      if (/^\d+$/.test(part)) return { kind: 'index', index: Number(part) };
      if (part === '*') return { kind: 'every' };
      if (part.startsWith('[') && part.endsWith(']')) {
        const inner = part.slice(1, -1);
        const equals = inner.indexOf('=');
        if (equals === -1) return { kind: 'field', key: inner };
        const value = inner.slice(equals + 1);
        let pattern: RegExp;
        try {
          pattern = new RegExp(value);
        } catch {
          throw new Error(`invalid regular expression in field path part ${part}`);
        }
        return { kind: 'match', field: inner.slice(0, equals), pattern, value };
      }
      return { kind: 'field', key: part };
    });
}

/** The source field (kyaml PathGetter: no wildcard; the first matching list element). */
function getField(object: JsonMap, fieldPath: string): unknown {
  let node: unknown = object;
  for (const part of parsePath(fieldPath)) {
    if (node === undefined || node === null) return undefined;
    switch (part.kind) {
      case 'every':
        throw new Error(
          `error looking up replacement source: wildcard is not supported in PathGetter (${fieldPath})`,
        );
      case 'field':
        if (!isJsonMap(node)) throw new Error(`fieldPath "${fieldPath}": ${part.key} is not in a map`);
        node = node[part.key];
        break;
      case 'index':
        if (!Array.isArray(node))
          throw new Error(`fieldPath "${fieldPath}": index ${part.index} of a non-list`);
        node = node[part.index];
        break;
      case 'match':
        if (!Array.isArray(node)) throw new Error(`fieldPath "${fieldPath}": ${part.field}= on a non-list`);
        node = node.find((item) => elementMatches(item, part));
        break;
    }
  }
  return node;
}

function elementMatches(item: unknown, part: Extract<PathPart, { kind: 'match' }>): boolean {
  if (part.field === '')
    return !isJsonMap(item) && !Array.isArray(item) && part.pattern.test(scalarText(item));
  if (!isJsonMap(item)) return false;
  const value = item[part.field];
  if (value === undefined || value === null) return false;
  return part.pattern.test(
    isJsonMap(value) || Array.isArray(value) ? JSON.stringify(value) : scalarText(value),
  );
}

/** A field found in a target: the map or list holding it and its key or index. */
interface FoundField {
  readonly holder: JsonMap | unknown[];
  readonly key: string | number;
}

/** Every field the path reaches (kyaml PathMatcher), creating what is missing when `created` (the
 * value to be set, whose kind a created last field takes) is given. */
function findFields(object: JsonMap, fieldPath: string, created: unknown): FoundField[] {
  const parts = parsePath(fieldPath);
  const found: FoundField[] = [];
  const create = created !== undefined;
  const newNode = (next: PathPart | undefined): unknown => {
    if (next === undefined) return isJsonMap(created) ? {} : Array.isArray(created) ? [] : '';
    return next.kind === 'index' || next.kind === 'match' ? [] : {};
  };
  const wrongKind = (expected: string): never => {
    throw new Error(`unable to find field "${fieldPath}" in replacement target: ${expected} expected`);
  };
  const walk = (holder: JsonMap | unknown[], key: string | number, index: number): void => {
    if (index === parts.length) {
      found.push({ holder, key });
      return;
    }
    const node = slotValue(holder, key);
    const part = parts[index]!;
    const next = parts[index + 1];
    switch (part.kind) {
      case 'field': {
        if (node === undefined || node === null) return;
        if (!isJsonMap(node)) return wrongKind('a map');
        if (ownValue(node, part.key) === undefined) {
          if (!create) return;
          setOwn(node, part.key, newNode(next));
        }
        walk(node, part.key, index + 1);
        return;
      }
      case 'index': {
        if (!Array.isArray(node)) return wrongKind('a list');
        if (part.index === node.length && create) node.push(newNode(next));
        if (part.index >= node.length) {
          throw new Error(`index ${part.index} specified but only ${node.length} elements found`);
        }
        walk(node, part.index, index + 1);
        return;
      }
      case 'match': {
        if (!Array.isArray(node)) return wrongKind('a list');
        let matched = false;
        for (const [i, item] of node.entries()) {
          if (!elementMatches(item, part)) continue;
          matched = true;
          walk(node, i, index + 1);
        }
        if (!matched && create) {
          node.push(part.field === '' ? part.value : { [part.field]: part.value });
          walk(node, node.length - 1, index + 1);
        }
        return;
      }
      case 'every': {
        if (!Array.isArray(node)) return wrongKind('a list');
        for (const i of node.keys()) walk(node, i, index + 1);
        return;
      }
    }
  };
  walk({ root: object }, 'root', 0);
  return found;
}

/** The value in a list's position or a map's own key. */
function slotValue(holder: JsonMap | unknown[], key: string | number): unknown {
  return Array.isArray(holder) ? holder[key as number] : ownValue(holder, String(key));
}

function setField(field: FoundField, value: unknown, options: FieldOptions): void {
  const { holder, key } = field;
  const set = (value: unknown): void => {
    if (Array.isArray(holder)) holder[key as number] = value;
    else setOwn(holder, String(key), value);
  };
  const current = slotValue(holder, key);
  let text = scalarText(value);
  let replacement: unknown = value;
  if (options.delimiter !== '') {
    if (isJsonMap(current) || Array.isArray(current)) {
      throw new Error('delimiter option can only be used with scalar nodes');
    }
    const parts = scalarText(current).split(options.delimiter);
    if (options.index < 0) parts.unshift(text);
    else if (options.index >= parts.length) parts.push(text);
    else parts[options.index] = text;
    text = parts.join(options.delimiter);
    replacement = text;
  }
  if (isJsonMap(current) || Array.isArray(current)) {
    set(copyJson(replacement));
    return;
  }
  // A scalar keeps its type and takes the value's text (a map or list value has none: "").
  if (typeof current === 'number' && text.trim() !== '' && Number.isFinite(Number(text))) {
    set(Number(text));
  } else if (typeof current === 'boolean' && (text === 'true' || text === 'false')) {
    set(text === 'true');
  } else {
    set(text);
  }
}
