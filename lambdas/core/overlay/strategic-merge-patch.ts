// Strategic merge patches as kustomize v5.5 applies them (kyaml merge2 with its built-in
// Kubernetes 1.21 schema): maps merge key by key, a `null` value deletes a key, `$patch: delete`
// deletes the map (or, at the top, the resource), `$patch: replace` replaces it. Lists merge element
// by element on their schema merge key (containers, initContainers, volumes... on `name`) only at
// the pod spec paths of the kinds the schema knows (core/apps/batch workloads); everywhere else —
// custom resources, removed versions such as apps/v1beta2, fields the schema lacks — the patch's
// list replaces the target's verbatim, containers included (checked against kubectl kustomize).
// Pure, on JSON-like data; the target is mutated in place.
import { assignOwn, copyJson, isJsonMap, ownValue, setOwn } from './resource';
import type { JsonMap } from './resource';

/** What a patch asked for at the top level. */
export type MergeOutcome = 'merged' | 'deleted';

const DIRECTIVE = '$patch';

// Where kustomize's built-in schema puts the pod spec, by apiVersion + kind. Lists merge by key
// only at schema paths below it; anywhere else (a `spec.template` added to a Pod, a custom
// resource, apps/v1beta2) they are replaced by the patch's list, verbatim.
const POD_SPEC_PATHS: Readonly<Record<string, readonly string[]>> = {
  'v1 Pod': ['spec'],
  'v1 PodTemplate': ['template', 'spec'],
  'v1 ReplicationController': ['spec', 'template', 'spec'],
  'apps/v1 Deployment': ['spec', 'template', 'spec'],
  'apps/v1 StatefulSet': ['spec', 'template', 'spec'],
  'apps/v1 DaemonSet': ['spec', 'template', 'spec'],
  'apps/v1 ReplicaSet': ['spec', 'template', 'spec'],
  'batch/v1 Job': ['spec', 'template', 'spec'],
  'batch/v1 CronJob': ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
  'batch/v1beta1 CronJob': ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

// Merge keys of the pod spec's lists, and of the lists inside its containers.
const POD_SPEC_LISTS: Readonly<Record<string, string>> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  imagePullSecrets: 'name',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
};
const CONTAINER_LISTS: Readonly<Record<string, string>> = {
  env: 'name',
  ports: 'containerPort',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
};
const CONTAINER_FIELDS: ReadonlySet<string> = new Set([
  'containers',
  'initContainers',
  'ephemeralContainers',
]);

/** The pod spec path kustomize's schema knows for this kind, or undefined (lists replaced). */
export function podSpecPathOf(apiVersion: unknown, kind: unknown): readonly string[] | undefined {
  return POD_SPEC_PATHS[`${String(apiVersion)} ${String(kind)}`];
}

/** The schema merge key of the list at `path` (map keys from the object root), if any. */
function mergeKeyAt(podSpec: readonly string[] | undefined, path: readonly string[]): string | undefined {
  if (podSpec === undefined || path.length <= podSpec.length) return undefined;
  if (!podSpec.every((key, i) => path[i] === key)) return undefined;
  const rest = path.slice(podSpec.length);
  if (rest.length === 1) return POD_SPEC_LISTS[rest[0]!];
  if (rest.length === 2 && CONTAINER_FIELDS.has(rest[0]!)) return CONTAINER_LISTS[rest[1]!];
  return undefined;
}

/** Merges `patch` into `target`. Returns 'deleted' when the patch deletes the whole object. */
export function applyStrategicMergePatch(target: JsonMap, patch: JsonMap): MergeOutcome {
  const podSpec = podSpecPathOf(target['apiVersion'], target['kind']);
  if (patch[DIRECTIVE] === 'delete') return 'deleted';
  if (patch[DIRECTIVE] === 'replace') {
    for (const key of Object.keys(target)) Reflect.deleteProperty(target, key);
    assignOwn(target, withoutDirectives(patch));
    return 'merged';
  }
  mergeMap(target, patch, { podSpec, path: [] });
  return 'merged';
}

interface Where {
  readonly podSpec: readonly string[] | undefined;
  /** Map keys from the object root to the value being merged (list positions are not counted). */
  readonly path: readonly string[];
}

function mergeMap(target: JsonMap, patch: JsonMap, where: Where): void {
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) continue;
    if (value === null) {
      Reflect.deleteProperty(target, key);
      continue;
    }
    const merged = mergeValue(ownValue(target, key), value, {
      podSpec: where.podSpec,
      path: [...where.path, key],
    });
    if (merged === DELETE) Reflect.deleteProperty(target, key);
    else setOwn(target, key, merged);
  }
}

const DELETE = Symbol('delete');

function mergeValue(target: unknown, patch: unknown, where: Where): unknown {
  if (isJsonMap(patch)) {
    if (patch[DIRECTIVE] === 'delete') return DELETE;
    if (patch[DIRECTIVE] === 'replace' || !isJsonMap(target)) return withoutDirectives(patch);
    mergeMap(target, patch, where);
    return target;
  }
  if (Array.isArray(patch)) {
    const mergeKey = mergeKeyAt(where.podSpec, where.path);
    // Without a schema kustomize replaces the list with the patch's, directives and all.
    if (mergeKey === undefined) return copyJson(patch);
    if (!Array.isArray(target)) return patch.filter((item) => !isDirectiveOnly(item)).map(withoutDirectives);
    return mergeList(target, patch, mergeKey, where);
  }
  return patch;
}

function mergeList(target: unknown[], patch: readonly unknown[], mergeKey: string, where: Where): unknown[] {
  if (
    patch.some((item) => isJsonMap(item) && item[DIRECTIVE] === 'replace' && Object.keys(item).length === 1)
  ) {
    const kept = patch.filter(
      (item) => !isDirectiveOnly(item) && !(isJsonMap(item) && item[DIRECTIVE] === 'delete'),
    );
    return kept.map(withoutDirectives);
  }
  // kyaml's walk: one element per key, the patch's keys first, then the target's other keys, each
  // in order of first appearance; with repeated keys the last element wins. JSON patches later in
  // the build index into this order.
  const keyOf = (item: unknown): unknown => (isJsonMap(item) ? item[mergeKey] : undefined);
  const keys = [...new Set([...patch.map(keyOf), ...target.map(keyOf)].filter((key) => key !== undefined))];
  const last = (list: readonly unknown[], key: unknown): unknown =>
    list.findLast((item) => keyOf(item) === key);
  const result: unknown[] = [];
  for (const key of keys) {
    const existing = last(target, key);
    const change = last(patch, key);
    if (change === undefined) result.push(existing);
    else if (isJsonMap(change) && change[DIRECTIVE] === 'delete') continue;
    else if (existing === undefined) result.push(withoutDirectives(change));
    else result.push(mergeValue(existing, change, where));
  }
  return [...result, ...target.filter((item) => keyOf(item) === undefined)];
}

function isDirectiveOnly(item: unknown): boolean {
  return isJsonMap(item) && Object.keys(item).every((key) => key.startsWith('$'));
}

function withoutDirectives<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item: unknown) => withoutDirectives(item)) as T;
  if (isJsonMap(value)) {
    const result: JsonMap = {};
    for (const [key, item] of Object.entries(value)) {
      if (!key.startsWith('$') && item !== null) setOwn(result, key, withoutDirectives(item));
    }
    return result as T;
  }
  return copyJson(value);
}
