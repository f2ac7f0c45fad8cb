// Repository-relative paths for the overlay resolver: joining a kustomization's directory with a
// relative entry, and refusing anything that leaves the repository root. Pure string work on POSIX
// paths; never touches a file system.

/** The normalized repository-relative path of `relative` seen from directory `dir` ('' = root),
 * or undefined when it climbs above the repository root or is absolute. */
export function joinRepoPath(dir: string, relative: string): string | undefined {
  if (relative.startsWith('/')) return undefined;
  const parts: string[] = dir === '' ? [] : dir.split('/');
  for (const part of relative.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else {
      parts.push(part);
    }
  }
  return parts.join('/');
}

/** Normalizes a user-given overlay path (`./overlays/prod/`, `overlays//prod`) to repository form. */
export function normalizeRepoPath(path: string): string | undefined {
  return joinRepoPath('', path);
}

/** True when `path` is `directory` itself or below it (kustomize's load restrictor for files). */
export function isWithinDirectory(directory: string, path: string): boolean {
  return directory === '' || path === directory || path.startsWith(`${directory}/`);
}
