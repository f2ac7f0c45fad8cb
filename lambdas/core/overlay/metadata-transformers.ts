// The kustomization fields that change identity or metadata, kept because later patches select
// resources by them: `namespace`, `namePrefix`/`nameSuffix` (renames are remembered so patches
// higher up can still match a previous name), `commonLabels`/`labels`, `commonAnnotations`, and the
// same builtins named in `transformers:` with their own field specs (NamespaceTransformer,
// PrefixSuffixTransformer, LabelTransformer, AnnotationsTransformer).
// Pure; resources are mutated in place.
import { fieldSpecSelects, visitFieldSpec } from './field-specs';
import type { FieldSpec } from './field-specs';
import {
  assignOwn,
  currentIdOf,
  describeId,
  isClusterScoped,
  isJsonMap,
  ownValue,
  rememberCurrentId,
  sameId,
} from './resource';
import type { JsonMap, Resource } from './resource';
import type { NamespaceSubjects } from './transformer-configs';

function metadataFor(object: JsonMap): JsonMap {
  const existing = object['metadata'];
  if (isJsonMap(existing)) return existing;
  const created: JsonMap = {};
  object['metadata'] = created;
  return created;
}

/** The field specs kustomize v5.5 gives `namespace:` (konfig/builtinpluginconsts/namespace.go);
 * metadata/namespace is set by the filter itself on every namespaced kind. */
export const DEFAULT_NAMESPACE_FIELD_SPECS: readonly FieldSpec[] = [
  { path: 'metadata/name', kind: 'Namespace', create: true },
  { path: 'spec/service/namespace', group: 'apiregistration.k8s.io', kind: 'APIService', create: true },
  {
    path: 'spec/conversion/webhook/clientConfig/service/namespace',
    group: 'apiextensions.k8s.io',
    kind: 'CustomResourceDefinition',
  },
];

export interface NamespaceOptions {
  readonly namespace: string;
  readonly fieldSpecs: readonly FieldSpec[];
  /** Only empty fields are set. */
  readonly unsetOnly: boolean;
  readonly subjects: NamespaceSubjects;
}

/**
 * kustomize's namespace filter (api/filters/namespace): metadata.namespace on every namespaced
 * kind; the other field specs, except metadata/name unless the object is `apiVersion: v1` (so a
 * v1 Namespace is renamed to the namespace); (Cluster)RoleBinding subjects by the subjects mode
 * (`defaultOnly`: subjects named "default"; `allServiceAccounts`: subjects of kind
 * ServiceAccount). A changed identity is remembered: later patches may name the previous one.
 * Throws a plain Error when two resources end up with one identity, as kustomize does.
 */
export function setNamespace(resources: readonly Resource[], options: NamespaceOptions): void {
  if (options.namespace === '') return;
  const set = (holder: JsonMap, key: string): void => {
    const value = holder[key];
    if (options.unsetOnly && typeof value === 'string' && value !== '') return;
    holder[key] = options.namespace;
  };
  const specs = options.fieldSpecs.filter((spec) => spec.path !== 'metadata/namespace');
  for (const resource of resources) {
    const object = resource.object;
    const before = currentIdOf(object);
    const kind = object['kind'];
    if (!(typeof kind === 'string' && isClusterScoped(kind))) set(metadataFor(object), 'namespace');
    const roleBinding = kind === 'RoleBinding' || kind === 'ClusterRoleBinding';
    if (roleBinding && options.subjects !== 'none' && Array.isArray(object['subjects'])) {
      for (const subject of object['subjects']) {
        if (!isJsonMap(subject)) continue;
        const selected =
          options.subjects === 'defaultOnly'
            ? subject['name'] === 'default'
            : subject['kind'] === 'ServiceAccount';
        if (selected) set(subject, 'namespace');
      }
    }
    for (const spec of specs) {
      if (roleBinding && spec.path === 'subjects/namespace') continue;
      if (spec.path === 'metadata/name' && object['apiVersion'] !== 'v1') continue;
      if (!fieldSpecSelects(spec, object)) continue;
      visitFieldSpec(object, spec, set, () => '');
    }
    const after = currentIdOf(object);
    if (!sameId(before, after) || before.namespace !== after.namespace) resource.previousIds.push(before);
  }
  throwOnIdConflict(resources);
}

/**
 * kustomize's NamespaceTransformer checks, after each resource, that no other resource has its
 * new identity ("namespace transformation produces ID conflict", api/builtins/NamespaceTransformer.go:
 * GetMatchingResourcesByCurrentId(r.CurId().Equals)); every collision it meets is still there at
 * the end, so the end state is checked, and the pair reported is the first the walk would meet.
 */
function throwOnIdConflict(resources: readonly Resource[]): void {
  const seen = new Map<string, Resource>();
  for (const resource of resources) {
    const id = currentIdOf(resource.object);
    const namespace = isClusterScoped(id.kind) ? '' : id.namespace || 'default';
    const key = JSON.stringify([id.group, id.version, id.kind, id.name, namespace]);
    const other = seen.get(key);
    if (other !== undefined) {
      throw new Error(
        `namespace transformation produces ID conflict: ${describeId(currentIdOf(other.object))} ` +
          `from ${other.file} and ${describeId(id)} from ${resource.file} (kustomize refuses it)`,
      );
    }
    seen.set(key, resource);
  }
}

// kustomize never prefixes these (api/builtins PrefixTransformer: prefixFieldSpecsToSkip).
const UNPREFIXED_KINDS: ReadonlySet<string> = new Set([
  'CustomResourceDefinition',
  'APIService',
  'Namespace',
]);

/** namePrefix, then nameSuffix: two transformers in kustomize, so a name with only the prefix is
 * a previous name later patches can match. */
export function addNamePrefixSuffix(resources: readonly Resource[], prefix: string, suffix: string): void {
  if (prefix !== '') rename(resources, (name) => `${prefix}${name}`);
  if (suffix !== '') rename(resources, (name) => `${name}${suffix}`);
}

function rename(resources: readonly Resource[], change: (name: string) => string): void {
  for (const resource of resources) {
    const kind = resource.object['kind'];
    if (typeof kind === 'string' && UNPREFIXED_KINDS.has(kind)) continue;
    const metadata = metadataFor(resource.object);
    const name = metadata['name'];
    if (typeof name !== 'string') continue;
    rememberCurrentId(resource);
    metadata['name'] = change(name);
  }
}

/** A PrefixSuffixTransformer (or Prefix/SuffixTransformer) config: metadata/name as namePrefix/
 * nameSuffix do (same skipped kinds, previous name remembered), any other field spec path gets
 * the prefix and suffix on its string value. */
export function addPrefixSuffixAt(
  resources: readonly Resource[],
  prefix: string,
  suffix: string,
  fieldSpecs: readonly FieldSpec[],
): void {
  const change = (value: string): string => `${prefix}${value}${suffix}`;
  for (const resource of resources) {
    const kind = resource.object['kind'];
    if (typeof kind === 'string' && UNPREFIXED_KINDS.has(kind)) continue;
    for (const spec of fieldSpecs) {
      if (!fieldSpecSelects(spec, resource.object)) continue;
      if (spec.path === 'metadata/name') {
        const metadata = metadataFor(resource.object);
        if (typeof metadata['name'] !== 'string') continue;
        rememberCurrentId(resource);
        metadata['name'] = change(metadata['name']);
        continue;
      }
      visitFieldSpec(resource.object, spec, (holder, key) => {
        if (typeof holder[key] === 'string') holder[key] = change(holder[key]);
      });
    }
  }
}

/** A LabelTransformer/AnnotationsTransformer config: the entries added to the map at each field
 * spec path (created when the spec says so). */
export function addEntriesAt(
  resources: readonly Resource[],
  entries: Readonly<Record<string, string>>,
  fieldSpecs: readonly FieldSpec[],
): void {
  if (Object.keys(entries).length === 0) return;
  for (const resource of resources) {
    for (const spec of fieldSpecs) {
      if (!fieldSpecSelects(spec, resource.object)) continue;
      visitFieldSpec(
        resource.object,
        spec,
        (holder, key) => {
          const map = ownValue(holder, key);
          if (isJsonMap(map)) assignOwn(map, entries);
        },
        () => ({}),
      );
    }
  }
}

/** Adds entries to `metadata.<field>` (labels or annotations) of every resource. */
export function addMetadataEntries(
  resources: readonly Resource[],
  field: 'labels' | 'annotations',
  entries: Readonly<Record<string, string>>,
): void {
  if (Object.keys(entries).length === 0) return;
  for (const resource of resources) {
    const metadata = metadataFor(resource.object);
    const existing = metadata[field];
    const target: JsonMap = isJsonMap(existing) ? existing : {};
    assignOwn(target, entries);
    metadata[field] = target;
  }
}
