// Where images live in a rendered object, by kustomize v5.5's rule: the `image` string of every
// element of any `containers` or `initContainers` list at any depth (Pods, workload templates,
// CronJob job templates, custom resources alike). Also image volumes (`volumes[].image.reference`),
// which the cluster pulls although kustomize's images transformer never rewrites them.
// Pure; never interprets the reference strings.
import { isJsonMap } from './resource';
import type { JsonMap } from './resource';

const CONTAINER_LISTS: ReadonlySet<string> = new Set(['containers', 'initContainers']);

/** Calls `visit` for every container image field; `visit` returns the value to store. */
export function rewriteContainerImages(value: unknown, visit: (image: string) => string): void {
  if (Array.isArray(value)) {
    for (const item of value) rewriteContainerImages(item, visit);
    return;
  }
  if (!isJsonMap(value)) return;
  for (const [key, item] of Object.entries(value)) {
    if (CONTAINER_LISTS.has(key) && Array.isArray(item)) {
      for (const container of item) {
        if (isJsonMap(container) && typeof container['image'] === 'string') {
          container['image'] = visit(container['image']);
        }
      }
    }
    rewriteContainerImages(item, visit);
  }
}

/** Every image the object deploys: container images (as above) and image volume references. */
export function collectImages(object: JsonMap, into: Set<string>): void {
  rewriteContainerImages(object, (image) => {
    into.add(image);
    return image;
  });
  collectImageVolumes(object, into);
}

function collectImageVolumes(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) {
    for (const item of value) collectImageVolumes(item, into);
    return;
  }
  if (!isJsonMap(value)) return;
  for (const [key, item] of Object.entries(value)) {
    if (key === 'volumes' && Array.isArray(item)) {
      for (const volume of item) {
        const image = isJsonMap(volume) ? volume['image'] : undefined;
        if (isJsonMap(image) && typeof image['reference'] === 'string') into.add(image['reference']);
      }
    }
    collectImageVolumes(item, into);
  }
}
