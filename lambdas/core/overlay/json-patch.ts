// JSON patches (RFC 6902) as kustomize applies them for `patches` with a JSON6902 body and for
// `patchesJson6902`: add, remove, replace, move, copy, test on JSON pointers (RFC 6901, `~0`, `~1`,
// `-` for the end of a list). A failing operation throws a plain Error; the caller names the file.
// Pure, on JSON-like data; the target is mutated in place.
import { copyJson, isJsonMap } from './resource';
import type { JsonMap } from './resource';

export interface JsonPatchOperation {
  readonly op: string;
  readonly path: string;
  readonly from?: string;
  readonly value?: unknown;
}

/** Validates the decoded body of a JSON patch: a list of operations. */
export function toJsonPatch(value: unknown): readonly JsonPatchOperation[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const operations: JsonPatchOperation[] = [];
  for (const item of value) {
    if (!isJsonMap(item) || typeof item['op'] !== 'string' || typeof item['path'] !== 'string')
      return undefined;
    operations.push({
      op: item['op'],
      path: item['path'],
      from: typeof item['from'] === 'string' ? item['from'] : undefined,
      value: item['value'],
    });
  }
  return operations;
}

export function applyJsonPatch(target: JsonMap, operations: readonly JsonPatchOperation[]): void {
  for (const operation of operations) applyOperation(target, operation);
}

function applyOperation(root: JsonMap, operation: JsonPatchOperation): void {
  switch (operation.op) {
    case 'add':
      return add(root, operation.path, copyJson(operation.value));
    case 'remove':
      remove(root, operation.path);
      return;
    case 'replace':
      return replace(root, operation.path, copyJson(operation.value));
    case 'move': {
      const value = remove(root, requireFrom(operation));
      return add(root, operation.path, value);
    }
    case 'copy':
      // kustomize's json-patch copies a missing key (whose parent exists) as null.
      return add(root, operation.path, copyJson(getOrNull(root, requireFrom(operation))));
    case 'test':
      if (!deepEqual(get(root, operation.path), operation.value)) {
        throw new Error(`test operation failed at ${operation.path}`);
      }
      return;
    default:
      throw new Error(`unknown JSON patch operation "${operation.op}"`);
  }
}

function requireFrom(operation: JsonPatchOperation): string {
  if (operation.from === undefined) throw new Error(`"${operation.op}" operation needs "from"`);
  return operation.from;
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`invalid JSON pointer "${pointer}"`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(root: JsonMap, pointer: string): { parent: unknown; token: string } {
  const tokens = parsePointer(pointer);
  const token = tokens.pop();
  if (token === undefined) throw new Error('cannot patch the whole document');
  let parent: unknown = root;
  for (const step of tokens) parent = child(parent, step, pointer);
  return { parent, token };
}

function child(container: unknown, token: string, pointer: string): unknown {
  if (Array.isArray(container)) {
    const index = arrayIndex(token, container.length - 1, pointer);
    return container[index];
  }
  if (isJsonMap(container) && Object.hasOwn(container, token)) return container[token];
  throw new Error(`path ${pointer} does not exist`);
}

function arrayIndex(token: string, max: number, pointer: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new Error(`invalid list index "${token}" in ${pointer}`);
  const index = Number(token);
  if (index > max) throw new Error(`list index ${index} out of range in ${pointer}`);
  return index;
}

function get(root: JsonMap, pointer: string): unknown {
  let node: unknown = root;
  for (const token of parsePointer(pointer)) node = child(node, token, pointer);
  return node;
}

function getOrNull(root: JsonMap, pointer: string): unknown {
  const { parent, token } = parentOf(root, pointer);
  if (isJsonMap(parent)) return Object.hasOwn(parent, token) ? parent[token] : null;
  return child(parent, token, pointer);
}

/** kustomize's json-patch: replacing a missing key of an existing map sets it; a missing parent or
 * list index is an error. */
function replace(root: JsonMap, pointer: string, value: unknown): void {
  const { parent, token } = parentOf(root, pointer);
  if (Array.isArray(parent)) {
    parent[arrayIndex(token, parent.length - 1, pointer)] = value;
    return;
  }
  if (!isJsonMap(parent)) throw new Error(`path ${pointer} does not exist`);
  parent[token] = value;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]))
    );
  }
  if (isJsonMap(a) || isJsonMap(b)) {
    if (!isJsonMap(a) || !isJsonMap(b)) return false;
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]))
    );
  }
  return a === b;
}

function add(root: JsonMap, pointer: string, value: unknown): void {
  const { parent, token } = parentOf(root, pointer);
  if (Array.isArray(parent)) {
    // `-1` appends too, as in kustomize's json-patch.
    if (token === '-' || token === '-1') parent.push(value);
    else parent.splice(arrayIndex(token, parent.length, pointer), 0, value);
    return;
  }
  if (!isJsonMap(parent)) throw new Error(`path ${pointer} does not exist`);
  parent[token] = value;
}

function remove(root: JsonMap, pointer: string): unknown {
  const { parent, token } = parentOf(root, pointer);
  if (Array.isArray(parent)) {
    const index = arrayIndex(token, parent.length - 1, pointer);
    return parent.splice(index, 1)[0];
  }
  if (!isJsonMap(parent) || !Object.hasOwn(parent, token)) throw new Error(`path ${pointer} does not exist`);
  const value = parent[token];
  Reflect.deleteProperty(parent, token);
  return value;
}
