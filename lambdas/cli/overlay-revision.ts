// Where `verify` and `prune` read the overlays from: a local git repository (--repo, --ref default
// HEAD) or, without --repo, the configured repository's branch head through GitHub's API (token in
// GITHUB_TOKEN, API root from GITHUB_API_URL or github.apiUrl). Either way the revision is pinned to
// one commit SHA before anything is read, so every environment sees the same tree. Wiring only.
import { resolve } from 'node:path';
import { GitFileSource } from '../adapters/git-file-source';
import {
  createGitHubClient,
  GitHubFileSource,
  listGitHubFirstParents,
  resolveGitHubCommit,
} from '../adapters/github';
import type { Config } from '../core/config';
import { UsageError } from '../core/errors';
import type { CommitHistory, FileSource } from '../core/file-source';

export interface OverlayRevision {
  readonly files: FileSource & { readonly apiCalls?: number };
  /** The commit SHA everything is read at. */
  readonly commit: string;
  /** How the user named it, for messages: `main (GitHub)`, `HEAD`. */
  readonly label: string;
  /** The local repository, when reading from one. */
  readonly git?: GitFileSource;
  /** The revision's first-parent history (prune reads the rollback window from it). */
  readonly history: CommitHistory;
  close(): void;
}

export async function openOverlayRevision(options: {
  readonly config: Config;
  readonly repo: string | undefined;
  readonly ref: string | undefined;
  readonly env: NodeJS.ProcessEnv;
}): Promise<OverlayRevision> {
  if (options.repo !== undefined) {
    const git = new GitFileSource(resolve(options.repo));
    const ref = options.ref ?? 'HEAD';
    try {
      return {
        files: git,
        commit: await git.resolveCommit(ref),
        label: ref,
        git,
        history: git,
        close: () => git.close(),
      };
    } catch (e: unknown) {
      git.close();
      throw e;
    }
  }
  const token = options.env['GITHUB_TOKEN'];
  if (token === undefined || token === '') {
    throw new UsageError('set GITHUB_TOKEN to read the branch head from GitHub, or pass --repo DIR');
  }
  const apiUrl = options.env['GITHUB_API_URL'] || options.config.github.apiUrl;
  const octokit = createGitHubClient({ token, ...(apiUrl === undefined ? {} : { apiUrl }) });
  const ref = options.ref ?? options.config.github.branches[0]!;
  const repository = options.config.github.repository;
  const files = new GitHubFileSource(octokit, { repository });
  const commit = await resolveGitHubCommit(octokit, repository, ref);
  const history: CommitHistory = {
    firstParents: (from, max) => listGitHubFirstParents(octokit, repository, from, max),
  };
  return { files, commit, label: `${ref} of ${repository}`, history, close: () => undefined };
}
