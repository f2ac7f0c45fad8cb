// Strategic merge patches as kustomize v5 applies them (kyaml merge2): maps merge key by key, a
// `null` value deletes a key, `$patch: delete` deletes the map (or, at the top, the resource),
// `$patch: replace` replaces it, and lists merge element by element on `name` when their elements
// carry one (containers, initContainers, volumes, and any custom resource list), otherwise the
// patch's list replaces the target's. Pure, on JSON-like data; the target is mutated in place.
import { copyJson, isJsonMap } from './resource';
import type { JsonMap } from './resource';

/** What a patch asked for at the top level. */
export type MergeOutcome = 'merged' | 'deleted';

const DIRECTIVE = '$patch';
const MERGE_KEY = 'name';

/** Merges `patch` into `target`. Returns 'deleted' when the patch deletes the whole object. */
export function applyStrategicMergePatch(target: JsonMap, patch: JsonMap): MergeOutcome {
  if (patch[DIRECTIVE] === 'delete') return 'deleted';
  if (patch[DIRECTIVE] === 'replace') {
    for (const key of Object.keys(target)) Reflect.deleteProperty(target, key);
    Object.assign(target, withoutDirectives(patch));
    return 'merged';
  }
  mergeMap(target, patch);
  return 'merged';
}

function mergeMap(target: JsonMap, patch: JsonMap): void {
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) continue;
    if (value === null) {
      Reflect.deleteProperty(target, key);
      continue;
    }
    const merged = mergeValue(target[key], value);
    if (merged === DELETE) Reflect.deleteProperty(target, key);
    else target[key] = merged;
  }
}

const DELETE = Symbol('delete');

function mergeValue(target: unknown, patch: unknown): unknown {
  if (isJsonMap(patch)) {
    if (patch[DIRECTIVE] === 'delete') return DELETE;
    if (patch[DIRECTIVE] === 'replace' || !isJsonMap(target)) return withoutDirectives(patch);
    mergeMap(target, patch);
    return target;
  }
  if (Array.isArray(patch)) {
    if (!Array.isArray(target)) return patch.filter((item) => !isDirectiveOnly(item)).map(withoutDirectives);
    return mergeList(target, patch);
  }
  return patch;
}

function mergeList(target: unknown[], patch: readonly unknown[]): unknown[] {
  if (
    patch.some((item) => isJsonMap(item) && item[DIRECTIVE] === 'replace' && Object.keys(item).length === 1)
  ) {
    return patch.filter((item) => !isDirectiveOnly(item)).map(withoutDirectives);
  }
  if (!isAssociative(target) && !isAssociative(patch)) return patch.map(withoutDirectives);
  const result = [...target];
  for (const item of patch) {
    if (!isJsonMap(item)) continue;
    const key = item[MERGE_KEY];
    const index = result.findIndex((existing) => isJsonMap(existing) && existing[MERGE_KEY] === key);
    if (item[DIRECTIVE] === 'delete') {
      if (index !== -1) result.splice(index, 1);
      continue;
    }
    if (index === -1) {
      result.push(withoutDirectives(item));
      continue;
    }
    result[index] = mergeValue(result[index], item);
  }
  return result;
}

/** kyaml's inference: a list is associative when all its elements are maps carrying `name`. */
function isAssociative(list: readonly unknown[]): boolean {
  const elements = list.filter((item) => item !== null);
  return elements.length > 0 && elements.every((item) => isJsonMap(item) && item[MERGE_KEY] !== undefined);
}

function isDirectiveOnly(item: unknown): boolean {
  return isJsonMap(item) && Object.keys(item).every((key) => key.startsWith('$'));
}

function withoutDirectives<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item: unknown) => withoutDirectives(item)) as T;
  if (isJsonMap(value)) {
    const result: JsonMap = {};
    for (const [key, item] of Object.entries(value)) {
      if (!key.startsWith('$') && item !== null) result[key] = withoutDirectives(item);
    }
    return result as T;
  }
  return copyJson(value);
}
