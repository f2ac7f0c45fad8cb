// The resolver's model of one Kubernetes object while an overlay is built: its current data, the
// file it came from, and every identity it has had (kustomize matches patches against an object's
// original and previous names and namespaces). Pure data helpers; no YAML text, no I/O.

export type JsonMap = { [key: string]: unknown };

export interface ResId {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
}

export interface Resource {
  /** The object, owned by this resource (copied on load): transformers mutate it in place. */
  object: JsonMap;
  /** Repository-relative file the object was read from. */
  readonly file: string;
  /** The identity the object had when it was read. */
  readonly originalId: ResId;
  /** Identities it had before each rename or namespace change, oldest first (includes originalId
   * once the object was renamed). */
  readonly previousIds: ResId[];
}

export function isJsonMap(value: unknown): value is JsonMap {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

// Keys come from overlay files and paths written in them, so a key may be `__proto__` (kustomize
// keeps it as a literal key; the YAML reader makes it an own key). On a plain object `map[key]`
// would read Object.prototype for it and `map[key] = v` would replace the map's prototype: a path
// such as `spec.__proto__.x` would then write into every object of the process. Maps are read and
// written by key only through these two.

/** `map[key]` if it is the map's own key, else undefined (never Object.prototype's members). */
export function ownValue(map: Readonly<JsonMap>, key: string): unknown {
  return Object.hasOwn(map, key) ? map[key] : undefined;
}

/** Sets `map[key]` as an own key, `__proto__` included. */
export function setOwn(map: JsonMap, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    map[key] = value;
  }
}

/** Copies every own key of `from` into `to` (Object.assign would replace `to`'s prototype for a
 * `__proto__` key). */
export function assignOwn(to: JsonMap, from: Readonly<JsonMap>): void {
  for (const [key, value] of Object.entries(from)) setOwn(to, key, value);
}

/** A deep copy of JSON-like data. */
export function copyJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item: unknown) => copyJson(item)) as T;
  if (isJsonMap(value)) {
    const result: JsonMap = {};
    for (const [key, item] of Object.entries(value)) setOwn(result, key, copyJson(item));
    return result as T;
  }
  return value;
}

export function metadataOf(object: JsonMap): JsonMap {
  const metadata = object['metadata'];
  return isJsonMap(metadata) ? metadata : {};
}

function stringAt(map: JsonMap, key: string): string {
  const value = map[key];
  return typeof value === 'string' ? value : '';
}

/** The identity of an object as it is now. */
export function currentIdOf(object: JsonMap): ResId {
  const apiVersion = stringAt(object, 'apiVersion');
  const slash = apiVersion.lastIndexOf('/');
  const metadata = metadataOf(object);
  return {
    group: slash === -1 ? '' : apiVersion.slice(0, slash),
    version: slash === -1 ? apiVersion : apiVersion.slice(slash + 1),
    kind: stringAt(object, 'kind'),
    name: stringAt(metadata, 'name'),
    namespace: stringAt(metadata, 'namespace'),
  };
}

export function makeResource(object: JsonMap, file: string): Resource {
  return { object, file, originalId: currentIdOf(object), previousIds: [] };
}

export function copyResource(resource: Resource): Resource {
  return {
    object: copyJson(resource.object),
    file: resource.file,
    originalId: resource.originalId,
    previousIds: [...resource.previousIds],
  };
}

/** Every identity the resource has had, current last. */
export function allIdsOf(resource: Resource): readonly ResId[] {
  return [...resource.previousIds, currentIdOf(resource.object)];
}

// Kinds kustomize treats as cluster-scoped (never namespaced by `namespace:`); everything else,
// including custom resources, is namespaced.
const CLUSTER_SCOPED_KINDS: ReadonlySet<string> = new Set([
  'APIService',
  'CSIDriver',
  'CSINode',
  'CertificateSigningRequest',
  'ClusterRole',
  'ClusterRoleBinding',
  'ComponentStatus',
  'CustomResourceDefinition',
  'FlowSchema',
  'IngressClass',
  'MutatingWebhookConfiguration',
  'Namespace',
  'Node',
  'PersistentVolume',
  'PodSecurityPolicy',
  'PriorityClass',
  'PriorityLevelConfiguration',
  'RuntimeClass',
  'SelfSubjectAccessReview',
  'SelfSubjectRulesReview',
  'StorageClass',
  'SubjectAccessReview',
  'TokenReview',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'ValidatingWebhookConfiguration',
  'VolumeAttachment',
]);

export function isClusterScoped(kind: string): boolean {
  return CLUSTER_SCOPED_KINDS.has(kind);
}

/** Namespace as kustomize compares it: '' and 'default' are the same for namespaced kinds. */
function effectiveNamespace(id: ResId): string {
  if (isClusterScoped(id.kind)) return '';
  return id.namespace === '' ? 'default' : id.namespace;
}

export function sameNamespace(a: ResId, b: ResId): boolean {
  return effectiveNamespace(a) === effectiveNamespace(b);
}

export function sameId(a: ResId, b: ResId): boolean {
  return (
    a.group === b.group &&
    a.version === b.version &&
    a.kind === b.kind &&
    a.name === b.name &&
    sameNamespace(a, b)
  );
}

export function describeId(id: ResId): string {
  const gvk = [id.group, id.version, id.kind].filter((part) => part !== '').join('/');
  return `${gvk} ${id.namespace === '' ? '' : `${id.namespace}/`}${id.name}`;
}

/** Records the current identity as a previous one before a transformer renames the object. */
export function rememberCurrentId(resource: Resource): void {
  resource.previousIds.push(currentIdOf(resource.object));
}
