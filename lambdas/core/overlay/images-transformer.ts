// kustomize's `images:` transformer, reproduced exactly (sigs.k8s.io/kustomize/api/filters/imagetag
// and api/image): an entry's `name` is a regular expression matched against the whole image name
// part (registry included, no docker.io normalization, no escaping of dots); `newName` replaces
// the name; `newTag` replaces the tag and drops any digest; `digest` replaces the digest and drops
// the tag; both together set both; otherwise `tagSuffix` is appended to the tag (empty or not) and
// drops the digest. Entries apply one after the other, so a later entry sees the result of an
// earlier one. This deliberately works on kustomize's own string split, not on parseImageRef: the
// output must be byte-identical to what kustomize renders.
//
// Each entry is one ImageTagTransformer (api/builtins/ImageTagTransformer.go), which runs two
// filters in turn: the legacy one (every `image` of a `containers`/`initContainers` element at any
// depth, CustomResourceDefinitions left alone) and then the field-spec one (for `images:` the
// defaults spec/containers[]/image, spec/initContainers[]/image and the same under
// spec/template/spec). An image at a default path is so transformed twice: harmless for
// newName/newTag/digest, but a tagSuffix is appended twice there (`nginx:1` -> `nginx:1-x-x` in a
// Deployment, `nginx:1-x` in a CronJob): checked against kubectl kustomize v5.5.
import { fieldSpecSelects, visitFieldSpec } from './field-specs';
import type { FieldSpec } from './field-specs';
import { isJsonMap } from './resource';
import type { JsonMap, Resource } from './resource';

/** One `images:` entry, or the `imageTag` of an ImageTagTransformer (api/types/image.go). */
export interface ImageOverride {
  readonly name: string;
  readonly newName?: string;
  readonly newTag?: string;
  readonly digest?: string;
  readonly tagSuffix?: string;
}

/** The field specs kustomize v5.5 gives the `images:` field (konfig/builtinpluginconsts/images.go;
 * image volume references came later and are not rewritten by v5.5). */
export const DEFAULT_IMAGE_FIELD_SPECS: readonly FieldSpec[] = [
  { path: 'spec/containers[]/image', create: true },
  { path: 'spec/initContainers[]/image', create: true },
  { path: 'spec/template/spec/containers[]/image', create: true },
  { path: 'spec/template/spec/initContainers[]/image', create: true },
];

interface ImageParts {
  readonly name: string;
  readonly tag: string;
  readonly digest: string;
}

/** kustomize's image.Split: the name, tag and digest parts of an image string, looking for `:`
 * and `@` only after the first `/` so a registry port is not taken for a tag. */
export function splitImage(image: string): ImageParts {
  const slash = image.indexOf('/');
  const offset = slash > 0 ? slash : 0;
  const search = image.slice(offset);
  const at = search.indexOf('@');
  const colon = search.indexOf(':');
  if (colon < 0 && at < 0) return { name: image, tag: '', digest: '' };
  if (at >= 0 && (at < colon || colon < 0)) {
    return { name: image.slice(0, offset + at), tag: '', digest: image.slice(offset + at + 1) };
  }
  if (at >= 0 && colon >= 0) {
    return {
      name: image.slice(0, offset + colon),
      tag: image.slice(offset + colon + 1, offset + at),
      digest: image.slice(offset + at + 1),
    };
  }
  return { name: image.slice(0, offset + colon), tag: image.slice(offset + colon + 1), digest: '' };
}

const matchers = new Map<string, RegExp | null>();

/** kustomize's image.IsImageMatched: `name` is used as an (unescaped) regular expression. */
export function isImageMatched(image: string, name: string): boolean {
  let pattern = matchers.get(name);
  if (pattern === undefined) {
    try {
      pattern = new RegExp(`^${name}(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9_.{}-]*)?$`);
    } catch {
      pattern = null;
    }
    matchers.set(name, pattern);
  }
  return pattern !== null && pattern.test(image);
}

export function applyImageOverride(image: string, override: ImageOverride): string {
  if (!isImageMatched(image, override.name)) return image;
  const parts = splitImage(image);
  let { name, tag, digest } = parts;
  if (override.newName) name = override.newName;
  if (override.newTag && override.digest) {
    tag = override.newTag;
    digest = override.digest;
  } else if (override.newTag) {
    tag = override.newTag;
    digest = '';
  } else if (override.digest) {
    digest = override.digest;
    tag = '';
  } else if (override.tagSuffix) {
    tag += override.tagSuffix;
    digest = '';
  }
  return `${name}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
}

const CONTAINER_LISTS: ReadonlySet<string> = new Set(['containers', 'initContainers']);

/**
 * Applies image entries in order to every resource, each entry as one ImageTagTransformer with
 * these field specs (DEFAULT_IMAGE_FIELD_SPECS for a kustomization's `images:`, the config's own
 * for a transformer config). CustomResourceDefinitions are never touched (nor walked: they are the
 * large documents of a repository and hold no containers).
 */
export function transformImages(
  resources: readonly Resource[],
  overrides: readonly ImageOverride[],
  fieldSpecs: readonly FieldSpec[],
): void {
  if (overrides.length === 0) return;
  for (const resource of resources) {
    const object = resource.object;
    if (object['kind'] === 'CustomResourceDefinition') continue;
    // How many times each image field is visited per entry: once by the legacy filter, once more
    // per field spec reaching it. Fields are independent, so each gets its whole sequence at once.
    const visits = new Map<JsonMap, Map<string, number>>();
    collectContainers(object, visits);
    for (const spec of fieldSpecs) {
      if (!fieldSpecSelects(spec, object)) continue;
      visitFieldSpec(object, spec, (holder, key) => {
        if (typeof holder[key] !== 'string') return;
        let keys = visits.get(holder);
        if (keys === undefined) visits.set(holder, (keys = new Map()));
        keys.set(key, (keys.get(key) ?? 0) + 1);
      });
    }
    for (const [holder, keys] of visits) {
      for (const [key, count] of keys) {
        let image = holder[key] as string;
        for (const override of overrides) {
          for (let i = 0; i < count; i++) image = applyImageOverride(image, override);
        }
        holder[key] = image;
      }
    }
  }
}

/** Every element of a `containers`/`initContainers` list at any depth that has a string image. */
function collectContainers(value: unknown, into: Map<JsonMap, Map<string, number>>): void {
  if (Array.isArray(value)) {
    for (const item of value) collectContainers(item, into);
    return;
  }
  if (!isJsonMap(value)) return;
  for (const key in value) {
    const item = value[key];
    if (CONTAINER_LISTS.has(key) && Array.isArray(item)) {
      for (const container of item) {
        if (isJsonMap(container) && typeof container['image'] === 'string')
          into.set(container, new Map([['image', 1]]));
      }
    }
    if (typeof item === 'object' && item !== null) collectContainers(item, into);
  }
}
