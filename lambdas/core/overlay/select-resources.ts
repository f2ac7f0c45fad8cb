// Which resources a patch applies to, as kustomize v5 decides: a patch without `target` matches the
// one resource whose current or any previous identity equals the patch's own (group, version,
// kind, name, namespace); a `target` selector matches group/version/kind exactly, name and namespace
// as anchored regular expressions against the original or the current value (never an intermediate
// one), and Kubernetes label/annotation selectors against the current metadata. Pure.
import { allIdsOf, currentIdOf, isJsonMap, metadataOf, sameId } from './resource';
import type { ResId, Resource } from './resource';

export interface TargetSelector {
  readonly group?: string;
  readonly version?: string;
  readonly kind?: string;
  readonly name?: string;
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly annotationSelector?: string;
}

/** Resources any of whose identities equals `id`. */
export function findResourcesById(resources: readonly Resource[], id: ResId): Resource[] {
  return resources.filter((resource) => allIdsOf(resource).some((candidate) => sameId(candidate, id)));
}

/** Resources a `target:` selector picks. Throws a plain Error for an invalid selector. */
export function selectResources(resources: readonly Resource[], selector: TargetSelector): Resource[] {
  const name = anchored(selector.name);
  const namespace = anchored(selector.namespace);
  const labels = selector.labelSelector ? parseLabelSelector(selector.labelSelector) : undefined;
  const annotations = selector.annotationSelector
    ? parseLabelSelector(selector.annotationSelector)
    : undefined;
  return resources.filter((resource) => {
    const current = currentIdOf(resource.object);
    const original = resource.originalId;
    if (selector.group && current.group !== selector.group) return false;
    if (selector.version && current.version !== selector.version) return false;
    if (selector.kind && current.kind !== selector.kind) return false;
    if (name && !name.test(original.name) && !name.test(current.name)) return false;
    if (namespace && !matchesNamespace(namespace, original) && !matchesNamespace(namespace, current))
      return false;
    const metadata = metadataOf(resource.object);
    if (labels && !labels(stringMap(metadata['labels']))) return false;
    if (annotations && !annotations(stringMap(metadata['annotations']))) return false;
    return true;
  });
}

function matchesNamespace(pattern: RegExp, id: ResId): boolean {
  // kustomize: an empty namespace is the default namespace.
  return pattern.test(id.namespace === '' ? 'default' : id.namespace) || pattern.test(id.namespace);
}

function anchored(pattern: string | undefined): RegExp | undefined {
  if (!pattern) return undefined;
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch (e: unknown) {
    throw new Error(`invalid regular expression "${pattern}" in target`, { cause: e });
  }
}

function stringMap(value: unknown): ReadonlyMap<string, string> {
  const map = new Map<string, string>();
  if (isJsonMap(value)) {
    for (const [key, item] of Object.entries(value))
      map.set(key, typeof item === 'string' ? item : String(item));
  }
  return map;
}

type Requirement = (labels: ReadonlyMap<string, string>) => boolean;

/** Kubernetes label selector syntax: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`,
 * comma-separated, all required. */
export function parseLabelSelector(selector: string): (labels: ReadonlyMap<string, string>) => boolean {
  const requirements: Requirement[] = [];
  for (const clause of splitClauses(selector)) {
    const text = clause.trim();
    if (text === '') continue;
    let match = /^([^\s=!]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(text);
    if (match) {
      const key = match[1]!;
      const values = new Set(match[3]!.split(',').map((v) => v.trim()));
      const negate = match[2] === 'notin';
      requirements.push((labels) => {
        const value = labels.get(key);
        return negate ? value === undefined || !values.has(value) : value !== undefined && values.has(value);
      });
      continue;
    }
    match = /^([^\s=!]+)\s*(==|=|!=)\s*(\S*)$/.exec(text);
    if (match) {
      const key = match[1]!;
      const expected = match[3]!;
      const negate = match[2] === '!=';
      requirements.push((labels) => (negate ? labels.get(key) !== expected : labels.get(key) === expected));
      continue;
    }
    match = /^(!?)([^\s=!(),]+)$/.exec(text);
    if (match) {
      const key = match[2]!;
      const negate = match[1] === '!';
      requirements.push((labels) => labels.has(key) !== negate);
      continue;
    }
    throw new Error(`invalid selector "${selector}"`);
  }
  return (labels) => requirements.every((requirement) => requirement(labels));
}

function splitClauses(selector: string): string[] {
  const clauses: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      clauses.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  clauses.push(selector.slice(start));
  return clauses;
}
