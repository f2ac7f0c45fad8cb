// kustomize's field specs: where a builtin transformer writes (`fieldSpecs:` of a transformer
// config, and the defaults kustomize gives the kustomization fields). A spec selects objects by
// group/version/kind (empty parts match anything) and names a path of map keys, `/`-separated
// (`\/` escapes a slash inside a key); a list met on the way is walked element by element whatever
// the path says (`containers[]` and `containers` are the same), as sigs.k8s.io/kustomize/api/
// filters/fieldspec does. With `create`, missing maps on the way and the last field are created.
// Pure, on JSON-like data.
import { isJsonMap, ownValue, setOwn } from './resource';
import type { JsonMap } from './resource';

export interface FieldSpec {
  readonly group?: string;
  readonly version?: string;
  readonly kind?: string;
  readonly path: string;
  readonly create?: boolean;
}

/** True when the spec's group/version/kind (empty = any) select the object's current one. */
export function fieldSpecSelects(spec: FieldSpec, object: JsonMap): boolean {
  if (!spec.group && !spec.version && !spec.kind) return true;
  const apiVersion = typeof object['apiVersion'] === 'string' ? object['apiVersion'] : '';
  const slash = apiVersion.lastIndexOf('/');
  const group = slash === -1 ? '' : apiVersion.slice(0, slash);
  const version = slash === -1 ? apiVersion : apiVersion.slice(slash + 1);
  if (spec.group && spec.group !== group) return false;
  if (spec.version && spec.version !== version) return false;
  if (spec.kind && spec.kind !== object['kind']) return false;
  return true;
}

interface PathKey {
  readonly key: string;
  /** Written `key[]`: a list is expected there, so a missing one is never created. */
  readonly list: boolean;
}

const pathCache = new Map<string, readonly PathKey[]>();

/** The keys of a field spec path: `a/b[]/c` -> a, b (a list), c; `x\/y` is one key. */
function fieldSpecPath(path: string): readonly PathKey[] {
  let keys = pathCache.get(path);
  if (keys === undefined) {
    keys = path
      .split(/(?<!\\)\//)
      .filter((key) => key !== '')
      .map((key) => ({ key: key.replace(/\\\//g, '/').replace(/\[\]$/, ''), list: key.endsWith('[]') }));
    pathCache.set(path, keys);
  }
  return keys;
}

/** What to create for a missing last field when the spec says `create`; undefined: never create. */
export type CreateValue = () => unknown;

/**
 * Calls `visit(holder, key)` for every field the spec's path reaches in `object` (the spec's
 * group/version/kind are not checked here). With `spec.create` and `createLast`, missing maps on
 * the way are created and a missing last field is set to `createLast()` before the visit.
 */
export function visitFieldSpec(
  object: JsonMap,
  spec: FieldSpec,
  visit: (holder: JsonMap, key: string) => void,
  createLast?: CreateValue,
): void {
  const keys = fieldSpecPath(spec.path);
  if (keys.length === 0) return;
  walk(object, keys, 0, spec.create === true && createLast !== undefined, visit, createLast);
}

function walk(
  node: unknown,
  keys: readonly PathKey[],
  index: number,
  create: boolean,
  visit: (holder: JsonMap, key: string) => void,
  createLast: CreateValue | undefined,
): void {
  if (Array.isArray(node)) {
    for (const item of node) walk(item, keys, index, create, visit, createLast);
    return;
  }
  if (!isJsonMap(node)) return;
  const { key, list } = keys[index]!;
  const last = index === keys.length - 1;
  const value = ownValue(node, key);
  if (last) {
    if (value === undefined || value === null) {
      if (!create || list) return;
      setOwn(node, key, createLast!());
    }
    visit(node, key);
    return;
  }
  if (value === undefined || value === null) {
    // A list hint (`key[]`) never creates; kustomize creates only maps on the way.
    if (!create || list) return;
    setOwn(node, key, {});
  }
  walk(ownValue(node, key), keys, index + 1, create, visit, createLast);
}
