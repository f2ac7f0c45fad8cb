// How the pure core reads a repository at a revision: the overlay resolver and planner see only
// this interface. Adapters implement it over the git CLI (local) and GitHub's REST API (webhook).

export type EntryKind = 'file' | 'directory';

export interface DirectoryEntry {
  readonly name: string;
  readonly kind: EntryKind;
}

export interface FileSource {
  /** What is at `path` (repository-relative, no leading slash; '' is the root) at `revision`, or
   * undefined when nothing is. */
  kindOf(revision: string, path: string): Promise<EntryKind | undefined>;
  /** The file's bytes as UTF-8 text. Throws when it is not a file. */
  readFile(revision: string, path: string): Promise<string>;
  /** Entries directly inside the directory, sorted by name. Throws when it is not a directory. */
  listDirectory(revision: string, path: string): Promise<readonly DirectoryEntry[]>;
}

/** Where two revisions' histories meet. A pull request changes what lies between the merge base of
 * its base and head and its head; the base branch's tip may have moved on since. */
export interface MergeBaseSource {
  mergeBase(base: string, head: string): Promise<string>;
}

/** The all-zero SHA GitHub sends as `before` for a created branch (and `after` for a deleted one). */
export const NULL_SHA = '0000000000000000000000000000000000000000';

/** A branch's own history: the commits before `commit` along first parents, newest first, at most
 * `max` (prune reads the versions an overlay deployed from it). */
export interface CommitHistory {
  firstParents(commit: string, max: number): Promise<readonly string[]>;
}
