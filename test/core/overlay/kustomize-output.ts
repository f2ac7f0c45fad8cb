// The oracle's side of the differential tests: which images kubectl kustomize's rendered output
// holds. One rule for every test that compares the resolver with kustomize.

/** The same rule the resolver implements, applied to kustomize's output: `image` strings of any
 * `containers`/`initContainers` element at any depth, and image volume references. */
export function extractImages(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) {
    for (const item of value) extractImages(item, into);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (Array.isArray(item) && (key === 'containers' || key === 'initContainers' || key === 'volumes')) {
      for (const element of item) {
        if (element === null || typeof element !== 'object') continue;
        const image = (element as Record<string, unknown>)['image'];
        if (key !== 'volumes' && typeof image === 'string') into.add(image);
        if (key === 'volumes' && image !== null && typeof image === 'object') {
          const reference = (image as Record<string, unknown>)['reference'];
          if (typeof reference === 'string') into.add(reference);
        }
      }
    }
    extractImages(item, into);
  }
}
