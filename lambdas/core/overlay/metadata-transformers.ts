// The kustomization fields that change identity or metadata, kept because later patches select
// resources by them: `namespace`, `namePrefix`/`nameSuffix` (renames are remembered so patches
// higher up can still match a previous name), `commonLabels`/`labels`, `commonAnnotations`.
// Pure; resources are mutated in place.
import { isClusterScoped, isJsonMap, rememberCurrentId } from './resource';
import type { JsonMap, Resource } from './resource';

function metadataFor(object: JsonMap): JsonMap {
  const existing = object['metadata'];
  if (isJsonMap(existing)) return existing;
  const created: JsonMap = {};
  object['metadata'] = created;
  return created;
}

export function setNamespace(resources: readonly Resource[], namespace: string): void {
  for (const resource of resources) {
    const kind = resource.object['kind'];
    if (typeof kind === 'string' && isClusterScoped(kind)) continue;
    const metadata = metadataFor(resource.object);
    if (metadata['namespace'] === namespace) continue;
    rememberCurrentId(resource);
    metadata['namespace'] = namespace;
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
    Object.assign(target, entries);
    metadata[field] = target;
  }
}
