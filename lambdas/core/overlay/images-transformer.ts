// kustomize's `images:` transformer, reproduced exactly (sigs.k8s.io/kustomize/api/filters/imagetag
// and api/image): an entry's `name` is a regular expression matched against the whole image name
// part (registry included, no docker.io normalization, no escaping of dots); `newName` replaces
// the name; `newTag` replaces the tag and drops any digest; `digest` replaces the digest and drops
// the tag; both together set both. Entries apply one after the other, so a later entry sees the
// result of an earlier one. This deliberately works on kustomize's own string split, not on
// parseImageRef: the output must be byte-identical to what kustomize renders.
import type { Resource } from './resource';
import { rewriteContainerImages } from './image-fields';

export interface ImageOverride {
  readonly name: string;
  readonly newName?: string;
  readonly newTag?: string;
  readonly digest?: string;
}

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
  }
  return `${name}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
}

/** Applies the entries of one kustomization's `images:` in order to every resource. */
export function transformImages(resources: readonly Resource[], overrides: readonly ImageOverride[]): void {
  if (overrides.length === 0) return;
  // Entries apply in order to each image on its own, so one walk per resource is enough.
  const transform = (image: string): string => overrides.reduce(applyImageOverride, image);
  for (const resource of resources) rewriteContainerImages(resource.object, transform);
}
