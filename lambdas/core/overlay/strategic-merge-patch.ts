// Strategic merge patches as kustomize v5.5 applies them (kyaml merge2 with its built-in
// Kubernetes 1.21 schema): maps merge key by key, a `null` value deletes a key, `$patch: delete`
// deletes the map (or, at the top, the resource), `$patch: replace` replaces it. Lists merge element
// by element on their schema merge key (containers, initContainers, volumes... on `name`) only in
// kinds the schema knows (core/apps/batch workloads); in every other kind — custom resources, and
// removed versions such as apps/v1beta2 — the patch's list replaces the target's, containers
// included (checked against kubectl kustomize). Pure, on JSON-like data; the target is mutated.
import { copyJson, isJsonMap } from './resource';
import type { JsonMap } from './resource';

/** What a patch asked for at the top level. */
export type MergeOutcome = 'merged' | 'deleted';

const DIRECTIVE = '$patch';

// apiVersion + kind of the workloads kustomize's schema knows, where lists merge by key.
const SCHEMA_KINDS: ReadonlySet<string> = new Set([
  'v1 Pod',
  'v1 PodTemplate',
  'v1 ReplicationController',
  'apps/v1 Deployment',
  'apps/v1 StatefulSet',
  'apps/v1 DaemonSet',
  'apps/v1 ReplicaSet',
  'batch/v1 Job',
  'batch/v1 CronJob',
  'batch/v1beta1 CronJob',
]);

// Schema merge keys of the lists in those kinds, by field name; other lists are replaced.
const MERGE_KEYS: Readonly<Record<string, string>> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  imagePullSecrets: 'name',
  env: 'name',
  resourceClaims: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  ports: 'containerPort',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  conditions: 'type',
  ownerReferences: 'uid',
};

/** True when kustomize merges lists of this kind by key rather than replacing them. */
export function hasMergeSchema(apiVersion: unknown, kind: unknown): boolean {
  return SCHEMA_KINDS.has(`${String(apiVersion)} ${String(kind)}`);
}

/** Merges `patch` into `target`. Returns 'deleted' when the patch deletes the whole object. */
export function applyStrategicMergePatch(target: JsonMap, patch: JsonMap): MergeOutcome {
  const schema = hasMergeSchema(target['apiVersion'], target['kind']);
  if (patch[DIRECTIVE] === 'delete') return 'deleted';
  if (patch[DIRECTIVE] === 'replace') {
    for (const key of Object.keys(target)) Reflect.deleteProperty(target, key);
    Object.assign(target, withoutDirectives(patch));
    return 'merged';
  }
  mergeMap(target, patch, schema);
  return 'merged';
}

function mergeMap(target: JsonMap, patch: JsonMap, schema: boolean): void {
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) continue;
    if (value === null) {
      Reflect.deleteProperty(target, key);
      continue;
    }
    const merged = mergeValue(target[key], value, schema ? MERGE_KEYS[key] : undefined, schema);
    if (merged === DELETE) Reflect.deleteProperty(target, key);
    else target[key] = merged;
  }
}

const DELETE = Symbol('delete');

function mergeValue(target: unknown, patch: unknown, mergeKey: string | undefined, schema: boolean): unknown {
  if (isJsonMap(patch)) {
    if (patch[DIRECTIVE] === 'delete') return DELETE;
    if (patch[DIRECTIVE] === 'replace' || !isJsonMap(target)) return withoutDirectives(patch);
    mergeMap(target, patch, schema);
    return target;
  }
  if (Array.isArray(patch)) {
    if (!Array.isArray(target)) return patch.filter((item) => !isDirectiveOnly(item)).map(withoutDirectives);
    return mergeList(target, patch, mergeKey, schema);
  }
  return patch;
}

function mergeList(
  target: unknown[],
  patch: readonly unknown[],
  mergeKey: string | undefined,
  schema: boolean,
): unknown[] {
  if (
    patch.some((item) => isJsonMap(item) && item[DIRECTIVE] === 'replace' && Object.keys(item).length === 1)
  ) {
    return patch.filter((item) => !isDirectiveOnly(item)).map(withoutDirectives);
  }
  if (mergeKey === undefined) return patch.filter((item) => !isDirectiveOnly(item)).map(withoutDirectives);
  const result = [...target];
  for (const item of patch) {
    if (!isJsonMap(item)) continue;
    const key = item[mergeKey];
    const index = result.findIndex((existing) => isJsonMap(existing) && existing[mergeKey] === key);
    if (item[DIRECTIVE] === 'delete') {
      if (index !== -1) result.splice(index, 1);
      continue;
    }
    if (index === -1) {
      result.push(withoutDirectives(item));
      continue;
    }
    result[index] = mergeValue(result[index], item, undefined, schema);
  }
  return result;
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
