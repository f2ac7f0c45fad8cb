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
      remove(root, operation.path);
      return add(root, operation.path, copyJson(operation.value));
    case 'move': {
      const value = remove(root, requireFrom(operation));
      return add(root, operation.path, value);
    }
    case 'copy':
      return add(root, operation.path, copyJson(get(root, requireFrom(operation))));
    case 'test':
      if (JSON.stringify(get(root, operation.path)) !== JSON.stringify(operation.value)) {
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

function add(root: JsonMap, pointer: string, value: unknown): void {
  const { parent, token } = parentOf(root, pointer);
  if (Array.isArray(parent)) {
    if (token === '-') parent.push(value);
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
