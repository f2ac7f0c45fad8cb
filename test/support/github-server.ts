// The ONE allowed fake: a GitHub REST test server on a free loopback port, backed by a REAL git
// repository on disk (read with the git CLI), serving exactly the endpoints image-promoter calls,
// shaped as GitHub's REST docs say (Git Trees, Git Blobs, Commits, Compare, Commit Statuses); answers
// typed with @octokit/openapi-types (GitHub's published OpenAPI description) where we add them. It records
// every request and every status it receives, and can inject latency and failures for fault tests.
// It must never invent repository content: everything it serves comes from git.
// Every exchange it has (what the client sent, what it answered) is checked against GitHub's published
// OpenAPI description (./github-contract): stop() fails when one departed from it, so each route added
// here, and each request our adapter makes, is held to GitHub's contract without a test of its own.
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createPublicKey, randomBytes, verify as verifySignature } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { components } from '@octokit/openapi-types';
import { checkGitHubExchange, warmGitHubContract } from './github-contract';

type Schemas = components['schemas'];

const run = promisify(execFile);

export interface GitHubServerOptions {
  /** `owner/name` the server answers for (case-insensitive, like GitHub). */
  readonly repository: string;
  /** A git repository (work tree or bare) holding the commits to serve. */
  readonly gitDirectory: string;
  /** The token clients must present as `Authorization: token|Bearer <token>`. */
  readonly token?: string;
  /** Delay added to every response, in milliseconds. */
  readonly latencyMs?: number;
  /** Recursive trees with more entries than this are cut and marked `truncated` (GitHub: 100,000). */
  readonly recursiveTreeLimit?: number;
  /** Check every exchange against GitHub's OpenAPI description (default true; benchmarks and the
   * demo turn it off: it costs ~1 ms per request and a few hundred ms to load). */
  readonly checkContract?: boolean;
  /** A GitHub App installed on the repository: its JWTs (RS256, verified with `publicKey`) get
   * installation tokens, which authorize like `token` and can also write check runs. */
  readonly app?: GitHubAppOptions;
}

export interface GitHubAppOptions {
  readonly id: number;
  /** PEM (SPKI) public key of the App's private key. */
  readonly publicKey: string;
  readonly installationId: number;
  /** Installation token lifetime (GitHub: one hour). */
  readonly tokenLifetimeMs?: number;
}

/** A check run as stored and returned (GitHub's `check-run`). */
export type ReceivedCheckRun = Schemas['check-run'];

export interface RecordedRequest {
  readonly method: string;
  /** Path and query, e.g. `/repos/o/r/git/trees/<sha>?recursive=1`. */
  readonly path: string;
  readonly status: number;
  readonly authorization: string | undefined;
  readonly body: string;
  /** performance.now() when the request arrived (before any latency): compare with the moment a
   * test got its answer to tell whether a request came after it. */
  readonly receivedAt: number;
  /** The client hung up before the answer was written (a request it aborted). */
  readonly clientClosed: boolean;
}

/** A status as stored and returned by the server (GitHub's `status` object). */
export interface ReceivedStatus {
  readonly id: number;
  readonly state: string;
  readonly description: string | null;
  readonly target_url: string | null;
  readonly context: string;
  readonly created_at: string;
}

export interface GitHubServer {
  /** `http://127.0.0.1:PORT`: use as Octokit `baseUrl` / GITHUB_API_URL. */
  readonly url: string;
  readonly repository: string;
  readonly token: string;
  /** Every request received so far, in order. */
  requests(): readonly RecordedRequest[];
  /** Statuses received for `sha`, oldest first. */
  statuses(sha: string): readonly ReceivedStatus[];
  /** Check runs of `sha`, oldest first (their latest state). */
  checkRuns(sha: string): readonly ReceivedCheckRun[];
  /** Installation tokens issued so far. */
  issuedTokens(): number;
  /** Forgets recorded requests (statuses are kept: they are repository state). */
  clearRequests(): void;
  /** Requests received and not answered yet (recorded only once answered). */
  inFlight(): number;
  /** Departures from GitHub's REST description seen so far, and forgets them (for tests that send
   * GitHub a bad request on purpose). stop() throws when any are left untaken. */
  takeContractViolations(): readonly string[];
  /** Delay every response by `ms` (only those whose path matches `only`, when given). */
  setLatency(ms: number, only?: RegExp): void;
  /** The next `count` requests (of `method` only, when given) answer `status` (default 502) without
   * being served. */
  failNext(count: number, status?: number, method?: string): void;
  stop(): Promise<void>;
}

const STATES: ReadonlySet<string> = new Set(['error', 'failure', 'pending', 'success']);
const DOCS = 'https://docs.github.com/rest';
const BOT_LOGIN = 'image-promoter[bot]';
const BOT_URL = `https://api.github.com/users/${encodeURIComponent(BOT_LOGIN)}`;
/** A user or organization as GitHub renders it (`simple-user`): every `*_url` derived from its API URL. */
function simpleUser(fields: {
  readonly login: string;
  readonly nodeId: string;
  readonly apiUrl: string;
  readonly htmlUrl: string;
  readonly avatarUrl: string;
  readonly type: 'Bot' | 'Organization';
}): Schemas['simple-user'] {
  const api = fields.apiUrl;
  return {
    login: fields.login,
    id: 1,
    node_id: fields.nodeId,
    avatar_url: fields.avatarUrl,
    gravatar_id: '',
    url: api,
    html_url: fields.htmlUrl,
    followers_url: `${api}/followers`,
    following_url: `${api}/following{/other_user}`,
    gists_url: `${api}/gists{/gist_id}`,
    starred_url: `${api}/starred{/owner}{/repo}`,
    subscriptions_url: `${api}/subscriptions`,
    organizations_url: `${api}/orgs`,
    repos_url: `${api}/repos`,
    events_url: `${api}/events{/privacy}`,
    received_events_url: `${api}/received_events`,
    type: fields.type,
    site_admin: false,
  };
}

/** The token's user as GitHub renders it: a status's `creator`. */
const BOT_USER = simpleUser({
  login: BOT_LOGIN,
  nodeId: 'BOT_kgDOAAAAAQ',
  apiUrl: BOT_URL,
  htmlUrl: 'https://github.com/apps/image-promoter',
  avatarUrl: 'https://avatars.githubusercontent.com/in/1?v=4',
  type: 'Bot',
});

interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** The operations this server answers, as GitHub's OpenAPI description names them: their contracts
 * are loaded when a server starts (see warmGitHubContract). A route added without its line here is
 * still checked, only its first request is slower. */
const SERVED_OPERATIONS = [
  'GET /repos/{owner}/{repo}/git/trees/{tree_sha}',
  'GET /repos/{owner}/{repo}/git/blobs/{file_sha}',
  'GET /repos/{owner}/{repo}/compare/{basehead}',
  'GET /repos/{owner}/{repo}/commits/{ref}/statuses',
  'GET /repos/{owner}/{repo}/commits/{ref}',
  'POST /repos/{owner}/{repo}/statuses/{sha}',
  'GET /repos/{owner}/{repo}/commits/{ref}/status',
  'GET /repos/{owner}/{repo}/commits/{ref}/check-runs',
  'POST /repos/{owner}/{repo}/check-runs',
  'PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}',
  'GET /repos/{owner}/{repo}/installation',
  'POST /app/installations/{installation_id}/access_tokens',
] as const;

export async function startGitHubServer(options: GitHubServerOptions): Promise<GitHubServer> {
  const token = options.token ?? 'test-github-token';
  const [owner, name] = options.repository.split('/') as [string, string];
  const recorded: RecordedRequest[] = [];
  const statuses = new Map<string, ReceivedStatus[]>();
  const objectCache = new Map<string, Promise<string | undefined>>();
  // Trees and blobs are immutable: list each tree once, read blobs through one `git cat-file --batch`.
  const listings = new Map<string, Promise<string>>();
  const objects = new ObjectReader(options.gitDirectory);
  let latencyMs = options.latencyMs ?? 0;
  let latencyOnly: RegExp | undefined;
  let inFlight = 0;
  let failures: { count: number; status: number; method?: string } = { count: 0, status: 502 };
  let nextStatusId = 1;
  const checkRuns = new Map<string, ReceivedCheckRun[]>();
  let nextCheckRunId = 1;
  const installationTokens = new Map<string, number>();
  let baseUrl = '';
  let violations: string[] = [];
  const checkContract = options.checkContract ?? true;
  if (checkContract) warmGitHubContract(SERVED_OPERATIONS);

  const git = async (...args: string[]): Promise<string> =>
    (await run('git', ['-C', options.gitDirectory, ...args], { maxBuffer: 64 * 1024 * 1024 })).stdout;

  /** `<sha>^{type}` resolved to a full SHA, or undefined. Git objects are immutable: cached. */
  const resolve = (spec: string, type: 'tree' | 'commit' | 'blob'): Promise<string | undefined> => {
    const key = `${spec}^{${type}}`;
    let cached = objectCache.get(key);
    if (!cached) {
      cached = git('rev-parse', '--verify', '--quiet', '--end-of-options', key).then(
        (out) => out.trim() || undefined,
        () => undefined,
      );
      // Refs move; only cache lookups by full SHA.
      if (/^[0-9a-f]{40}$/.test(spec)) objectCache.set(key, cached);
    }
    return cached;
  };

  const notFound: Reply = {
    status: 404,
    body: { message: 'Not Found', documentation_url: DOCS, status: '404' },
  };
  const repoPath = `/repos/${owner}/${name}`;

  async function getTree(treeSpec: string, recursive: boolean): Promise<Reply> {
    if (/[\s^~:]/.test(treeSpec) || treeSpec.startsWith('-')) return notFound;
    const sha = await resolve(treeSpec, 'tree');
    if (sha === undefined) return notFound;
    const listingKey = `${sha}:${recursive}`;
    let listing = listings.get(listingKey);
    if (!listing) {
      listing = git('ls-tree', '-l', '-z', ...(recursive ? ['-r', '-t'] : []), sha);
      listings.set(listingKey, listing);
    }
    const out = await listing;
    let tree = out
      .split('\0')
      .filter((line) => line !== '')
      .map((line) => {
        const tab = line.indexOf('\t');
        const [mode, type, objectSha, size] = line.slice(0, tab).split(/\s+/) as [
          string,
          string,
          string,
          string,
        ];
        const path = line.slice(tab + 1);
        const kind = type === 'blob' ? 'blobs' : type === 'tree' ? 'trees' : 'commits';
        return {
          path,
          mode,
          type,
          sha: objectSha,
          ...(type === 'blob' ? { size: Number(size) } : {}),
          ...(type === 'commit' ? {} : { url: `${baseUrl}${repoPath}/git/${kind}/${objectSha}` }),
        };
      });
    let truncated = false;
    const limit = options.recursiveTreeLimit;
    if (recursive && limit !== undefined && tree.length > limit) {
      tree = tree.slice(0, limit);
      truncated = true;
    }
    return { status: 200, body: { sha, url: `${baseUrl}${repoPath}/git/trees/${sha}`, tree, truncated } };
  }

  async function getBlob(fileSha: string): Promise<Reply> {
    if (!/^[0-9a-f]{40}$/.test(fileSha)) return notFound;
    const object = await objects.read(fileSha);
    if (object?.type !== 'blob') return notFound;
    // GitHub wraps base64 content at 60 characters with "\n".
    const content = (object.bytes.toString('base64').match(/.{1,60}/g) ?? []).join('\n');
    return {
      status: 200,
      body: {
        sha: fileSha,
        node_id: Buffer.from(`Blob:${fileSha}`).toString('base64'),
        size: object.bytes.length,
        url: `${baseUrl}${repoPath}/git/blobs/${fileSha}`,
        content: content === '' ? '' : `${content}\n`,
        encoding: 'base64',
      },
    };
  }

  async function getCommit(ref: string): Promise<Reply> {
    if (/[\s^~:]/.test(ref) || ref.startsWith('-')) return noCommit(ref);
    const sha = await resolve(ref, 'commit');
    if (sha === undefined) return noCommit(ref);
    const [tree, parents, authorName, authorEmail, date, message] = (
      await git('show', '-s', '--format=%T%x00%P%x00%an%x00%ae%x00%aI%x00%B', sha)
    ).split('\0') as [string, string, string, string, string, string];
    const person = { name: authorName, email: authorEmail, date };
    return {
      status: 200,
      body: {
        sha,
        node_id: Buffer.from(`Commit:${sha}`).toString('base64'),
        url: `${baseUrl}${repoPath}/commits/${sha}`,
        html_url: `https://github.com/${owner}/${name}/commit/${sha}`,
        comments_url: `${baseUrl}${repoPath}/commits/${sha}/comments`,
        commit: {
          url: `${baseUrl}${repoPath}/git/commits/${sha}`,
          author: person,
          committer: person,
          message: message.trimEnd(),
          comment_count: 0,
          tree: { sha: tree, url: `${baseUrl}${repoPath}/git/trees/${tree}` },
          verification: {
            verified: false,
            reason: 'unsigned',
            payload: null,
            signature: null,
            verified_at: null,
          },
        },
        // The GitHub accounts of author and committer: null, git's test identities are nobody's.
        author: null,
        committer: null,
        parents: parents
          .split(' ')
          .filter((p) => p !== '')
          .map((p) => ({
            sha: p,
            url: `${baseUrl}${repoPath}/commits/${p}`,
            html_url: `https://github.com/${owner}/${name}/commit/${p}`,
          })),
      },
    };
  }

  /** GitHub's `commit` object (as in Compare two commits). Git authors are not GitHub users here:
   * `author` and `committer` are null, as GitHub answers for an unknown e-mail address. */
  async function renderCommit(sha: string): Promise<Schemas['commit']> {
    const [
      tree,
      parents,
      authorName,
      authorEmail,
      authorDate,
      committerName,
      committerEmail,
      committerDate,
      message,
    ] = (
      await git('show', '-s', '--format=%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B', sha)
    ).split('\0') as [string, string, string, string, string, string, string, string, string];
    return {
      url: `${baseUrl}${repoPath}/commits/${sha}`,
      sha,
      node_id: Buffer.from(`Commit:${sha}`).toString('base64'),
      html_url: `https://github.com/${owner}/${name}/commit/${sha}`,
      comments_url: `${baseUrl}${repoPath}/commits/${sha}/comments`,
      commit: {
        url: `${baseUrl}${repoPath}/git/commits/${sha}`,
        author: { name: authorName, email: authorEmail, date: authorDate },
        committer: { name: committerName, email: committerEmail, date: committerDate },
        message: message.trimEnd(),
        comment_count: 0,
        tree: { sha: tree, url: `${baseUrl}${repoPath}/git/trees/${tree}` },
      },
      author: null,
      committer: null,
      parents: parents
        .split(' ')
        .filter((p) => p !== '')
        .map((p) => ({
          sha: p,
          url: `${baseUrl}${repoPath}/commits/${p}`,
          html_url: `https://github.com/${owner}/${name}/commit/${p}`,
        })),
    };
  }

  /** GET /repos/{owner}/{repo}/compare/{base}...{head}: commits in `git log base..head` order
   * (chronological), paged when `per_page`/`page` is given (else the last 250), the merge base, and
   * the files changed from the merge base to head. */
  async function compare(basehead: string, query: URLSearchParams): Promise<Reply> {
    const parts = basehead.split('...');
    if (parts.length !== 2 || parts.some((p) => p === '' || /[\s^~:]/.test(p) || p.startsWith('-'))) {
      return notFound;
    }
    const [base, head] = await Promise.all([resolve(parts[0]!, 'commit'), resolve(parts[1]!, 'commit')]);
    if (base === undefined || head === undefined) return notFound;
    const mergeBase = (await git('merge-base', base, head).catch(() => '')).trim();
    // Unrelated histories: GitHub answers 404 "No common ancestor between ...".
    if (mergeBase === '') {
      return {
        status: 404,
        body: { message: `No common ancestor between ${parts[0]} and ${parts[1]}.`, documentation_url: DOCS },
      };
    }
    const list = async (range: string): Promise<string[]> =>
      (await git('rev-list', '--reverse', range)).split('\n').filter((line) => line !== '');
    const [ahead, behind] = await Promise.all([list(`${base}..${head}`), list(`${head}..${base}`)]);
    const paged = query.has('per_page') || query.has('page');
    const perPage = Math.min(100, Math.max(1, Number(query.get('per_page') ?? 250) || 30));
    const page = Math.max(1, Number(query.get('page') ?? 1) || 1);
    const shown = paged ? ahead.slice((page - 1) * perPage, page * perPage) : ahead.slice(-250);
    const headers: Record<string, string> = {};
    if (paged && page * perPage < ahead.length) {
      headers['link'] =
        `<${baseUrl}${repoPath}/compare/${basehead}?per_page=${perPage}&page=${page + 1}>; rel="next"`;
    }
    const body: Schemas['commit-comparison'] = {
      url: `${baseUrl}${repoPath}/compare/${basehead}`,
      html_url: `https://github.com/${owner}/${name}/compare/${basehead}`,
      permalink_url: `https://github.com/${owner}/${name}/compare/${owner}:${base}...${owner}:${head}`,
      diff_url: `https://github.com/${owner}/${name}/compare/${basehead}.diff`,
      patch_url: `https://github.com/${owner}/${name}/compare/${basehead}.patch`,
      base_commit: await renderCommit(base),
      merge_base_commit: await renderCommit(mergeBase),
      status:
        ahead.length === 0 && behind.length === 0
          ? 'identical'
          : behind.length === 0
            ? 'ahead'
            : ahead.length === 0
              ? 'behind'
              : 'diverged',
      ahead_by: ahead.length,
      behind_by: behind.length,
      total_commits: ahead.length,
      commits: await Promise.all(shown.map(renderCommit)),
      files: await diffEntries(mergeBase, head),
    };
    return { status: 200, body, headers };
  }

  async function diffEntries(from: string, to: string): Promise<Schemas['diff-entry'][]> {
    const raw = (await git('diff', '--raw', '-z', '--no-abbrev', '--no-renames', from, to)).split('\0');
    const counts = new Map<string, { additions: number; deletions: number }>();
    const numstat = (await git('diff', '--numstat', '-z', '--no-renames', from, to)).split('\0');
    for (const entry of numstat) {
      const [added, deleted, path] = entry.split('\t');
      if (path === undefined) continue;
      counts.set(path, { additions: Number(added) || 0, deletions: Number(deleted) || 0 });
    }
    const entries: Schemas['diff-entry'][] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const [, , oldSha, newSha, letter] = raw[i]!.slice(1).split(' ') as [
        string,
        string,
        string,
        string,
        string,
      ];
      const filename = raw[i + 1]!;
      const { additions, deletions } = counts.get(filename) ?? { additions: 0, deletions: 0 };
      const removed = letter === 'D';
      const at = removed ? from : to;
      entries.push({
        sha: removed ? oldSha : newSha,
        filename,
        status: letter === 'A' ? 'added' : removed ? 'removed' : letter === 'M' ? 'modified' : 'changed',
        additions,
        deletions,
        changes: additions + deletions,
        blob_url: `https://github.com/${owner}/${name}/blob/${at}/${filename}`,
        raw_url: `https://github.com/${owner}/${name}/raw/${at}/${filename}`,
        contents_url: `${baseUrl}${repoPath}/contents/${filename}?ref=${at}`,
      });
    }
    return entries;
  }

  function noCommit(ref: string): Reply {
    return { status: 422, body: { message: `No commit found for SHA: ${ref}`, documentation_url: DOCS } };
  }

  async function createStatus(sha: string, text: string): Promise<Reply> {
    // GitHub: an unknown commit is a 422 "No commit found for SHA".
    if (!/^[0-9a-f]{40}$/.test(sha) || (await resolve(sha, 'commit')) !== sha) return noCommit(sha);
    let input: unknown;
    try {
      input = JSON.parse(text);
    } catch {
      return { status: 400, body: { message: 'Problems parsing JSON', documentation_url: DOCS } };
    }
    const body = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
    const invalid = (field: string, message: string): Reply => ({
      status: 422,
      body: {
        message: 'Validation Failed',
        errors: [{ resource: 'Status', code: 'custom', field, message }],
        documentation_url: DOCS,
      },
    });
    if (typeof body['state'] !== 'string' || !STATES.has(body['state'])) {
      return invalid('state', 'state is not included in the list');
    }
    const description = body['description'];
    if (description !== undefined && description !== null && typeof description !== 'string') {
      return invalid('description', 'description is not a string');
    }
    if (typeof description === 'string' && [...description].length > 140) {
      return invalid('description', 'description is too long (maximum is 140 characters)');
    }
    const context = typeof body['context'] === 'string' ? body['context'] : 'default';
    const targetUrl = typeof body['target_url'] === 'string' ? body['target_url'] : null;
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const id = nextStatusId++;
    const status: ReceivedStatus = {
      id,
      state: body['state'],
      description: description ?? null,
      target_url: targetUrl,
      context,
      created_at: now,
    };
    const list = statuses.get(sha) ?? [];
    list.push(status);
    statuses.set(sha, list);
    return { status: 201, body: renderStatus(sha, status) };
  }

  function renderStatus(sha: string, status: ReceivedStatus): unknown {
    return {
      url: `${baseUrl}${repoPath}/statuses/${sha}`,
      avatar_url: null,
      id: status.id,
      node_id: Buffer.from(`StatusContext:${status.id}`).toString('base64'),
      state: status.state,
      description: status.description,
      target_url: status.target_url,
      context: status.context,
      created_at: status.created_at,
      updated_at: status.created_at,
      creator: BOT_USER,
    };
  }

  function renderOwner(): Schemas['simple-user'] {
    return simpleUser({
      login: owner,
      nodeId: Buffer.from(`Organization:${owner}`).toString('base64'),
      apiUrl: `${baseUrl}/users/${owner}`,
      htmlUrl: `https://github.com/${owner}`,
      avatarUrl: 'https://avatars.githubusercontent.com/u/1?v=4',
      type: 'Organization',
    });
  }

  /** GitHub's `minimal-repository` (as in the combined status). */
  function renderMinimalRepository(): Schemas['minimal-repository'] {
    const api = `${baseUrl}${repoPath}`;
    return {
      id: 1,
      node_id: Buffer.from(`Repository:${owner}/${name}`).toString('base64'),
      name,
      full_name: `${owner}/${name}`,
      owner: renderOwner(),
      private: true,
      html_url: `https://github.com/${owner}/${name}`,
      description: null,
      fork: false,
      url: api,
      archive_url: `${api}/{archive_format}{/ref}`,
      assignees_url: `${api}/assignees{/user}`,
      blobs_url: `${api}/git/blobs{/sha}`,
      branches_url: `${api}/branches{/branch}`,
      collaborators_url: `${api}/collaborators{/collaborator}`,
      comments_url: `${api}/comments{/number}`,
      commits_url: `${api}/commits{/sha}`,
      compare_url: `${api}/compare/{base}...{head}`,
      contents_url: `${api}/contents/{+path}`,
      contributors_url: `${api}/contributors`,
      deployments_url: `${api}/deployments`,
      downloads_url: `${api}/downloads`,
      events_url: `${api}/events`,
      forks_url: `${api}/forks`,
      git_commits_url: `${api}/git/commits{/sha}`,
      git_refs_url: `${api}/git/refs{/sha}`,
      git_tags_url: `${api}/git/tags{/sha}`,
      issue_comment_url: `${api}/issues/comments{/number}`,
      issue_events_url: `${api}/issues/events{/number}`,
      issues_url: `${api}/issues{/number}`,
      keys_url: `${api}/keys{/key_id}`,
      labels_url: `${api}/labels{/name}`,
      languages_url: `${api}/languages`,
      merges_url: `${api}/merges`,
      milestones_url: `${api}/milestones{/number}`,
      notifications_url: `${api}/notifications{?since,all,participating}`,
      pulls_url: `${api}/pulls{/number}`,
      releases_url: `${api}/releases{/id}`,
      stargazers_url: `${api}/stargazers`,
      statuses_url: `${api}/statuses/{sha}`,
      subscribers_url: `${api}/subscribers`,
      subscription_url: `${api}/subscription`,
      tags_url: `${api}/tags`,
      teams_url: `${api}/teams`,
      trees_url: `${api}/git/trees{/sha}`,
      hooks_url: `${api}/hooks`,
    };
  }

  /** GET /repos/{owner}/{repo}/commits/{ref}/status: the latest status of each context and their
   * combined state (failure if any is error/failure, else pending if any is pending or there is
   * none, else success), as GitHub's "Get the combined status for a specific reference" says. */
  async function combinedStatus(ref: string, query: URLSearchParams): Promise<Reply> {
    const sha = await resolve(ref, 'commit');
    if (sha === undefined) return noCommit(ref);
    const latest = new Map<string, ReceivedStatus>();
    for (const status of [...(statuses.get(sha) ?? [])].reverse()) {
      if (!latest.has(status.context)) latest.set(status.context, status);
    }
    const all = [...latest.values()];
    const states = new Set(all.map((s) => s.state));
    const perPage = Math.min(100, Math.max(1, Number(query.get('per_page') ?? 30) || 30));
    const page = Math.max(1, Number(query.get('page') ?? 1) || 1);
    const body: Schemas['combined-commit-status'] = {
      state:
        states.has('error') || states.has('failure')
          ? 'failure'
          : all.length === 0 || states.has('pending')
            ? 'pending'
            : 'success',
      statuses: all.slice((page - 1) * perPage, page * perPage).map((s) => ({
        url: `${baseUrl}${repoPath}/statuses/${sha}`,
        avatar_url: null,
        id: s.id,
        node_id: Buffer.from(`StatusContext:${s.id}`).toString('base64'),
        state: s.state,
        description: s.description,
        target_url: s.target_url,
        context: s.context,
        created_at: s.created_at,
        updated_at: s.created_at,
      })),
      sha,
      total_count: all.length,
      repository: renderMinimalRepository(),
      commit_url: `${baseUrl}${repoPath}/commits/${sha}`,
      url: `${baseUrl}${repoPath}/commits/${sha}/status`,
    };
    return { status: 200, body };
  }

  async function listStatuses(ref: string, query: URLSearchParams): Promise<Reply> {
    const sha = await resolve(ref, 'commit');
    if (sha === undefined) return noCommit(ref);
    const perPage = Math.min(100, Math.max(1, Number(query.get('per_page') ?? 30) || 30));
    const page = Math.max(1, Number(query.get('page') ?? 1) || 1);
    // Reverse chronological order, as GitHub lists them.
    const all = [...(statuses.get(sha) ?? [])].reverse();
    const slice = all.slice((page - 1) * perPage, page * perPage);
    const headers: Record<string, string> = {};
    if (page * perPage < all.length) {
      headers['link'] =
        `<${baseUrl}${repoPath}/commits/${ref}/statuses?per_page=${perPage}&page=${page + 1}>; rel="next"`;
    }
    return { status: 200, body: slice.map((s) => renderStatus(sha, s)), headers };
  }

  const validation = (resource: string, field: string, message: string): Reply => ({
    status: 422,
    body: {
      message: 'Validation Failed',
      errors: [{ resource, code: 'custom', field, message }],
      documentation_url: DOCS,
    },
  });

  function parseBody(text: string): Record<string, unknown> | undefined {
    try {
      const value: unknown = JSON.parse(text);
      return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
    } catch {
      return undefined;
    }
  }

  /** POST /app/installations/{installation_id}/access_tokens (JWT): `installation-token`. */
  function createInstallationToken(installationId: string, text: string): Reply {
    const app = options.app!;
    if (Number(installationId) !== app.installationId) return notFound;
    const body = parseBody(text === '' ? '{}' : text);
    if (body === undefined)
      return { status: 400, body: { message: 'Problems parsing JSON', documentation_url: DOCS } };
    const repositories = body['repositories'];
    if (
      repositories !== undefined &&
      (!Array.isArray(repositories) || !repositories.every((r) => typeof r === 'string'))
    ) {
      return validation('InstallationToken', 'repositories', 'repositories must be a list of names');
    }
    if (
      Array.isArray(repositories) &&
      repositories.some((r) => String(r).toLowerCase() !== name.toLowerCase())
    ) {
      return {
        status: 422,
        body: {
          message:
            'There is at least one repository that does not exist or is not accessible to the parent installation.',
          documentation_url: DOCS,
        },
      };
    }
    const token = `ghs_${randomBytes(18).toString('hex')}`;
    const expiresAt = Date.now() + (app.tokenLifetimeMs ?? 60 * 60 * 1000);
    installationTokens.set(token, expiresAt);
    const reply: Schemas['installation-token'] = {
      token,
      expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      permissions: { checks: 'write', contents: 'read', metadata: 'read', statuses: 'write' },
      repository_selection: 'selected',
    };
    return { status: 201, body: reply };
  }

  /** GET /repos/{owner}/{repo}/installation (JWT): the App's `installation` on the repository. */
  function repositoryInstallation(): Reply {
    const app = options.app!;
    const reply: Schemas['installation'] = {
      id: app.installationId,
      account: renderOwner(),
      repository_selection: 'selected',
      access_tokens_url: `${baseUrl}/app/installations/${app.installationId}/access_tokens`,
      repositories_url: `${baseUrl}/installation/repositories`,
      html_url: `https://github.com/organizations/${owner}/settings/installations/${app.installationId}`,
      app_id: app.id,
      target_id: 1,
      target_type: 'Organization',
      permissions: { checks: 'write', contents: 'read', metadata: 'read', statuses: 'write' },
      events: [],
      created_at: '2026-01-01T00:00:00Z',
      updated_at: '2026-01-01T00:00:00Z',
      single_file_name: null,
      app_slug: 'image-promoter',
      suspended_by: null,
      suspended_at: null,
    };
    return { status: 200, body: reply };
  }

  function checkRunBody(run: ReceivedCheckRun): ReceivedCheckRun {
    return run;
  }

  const CHECK_STATUSES: ReadonlySet<string> = new Set(['queued', 'in_progress', 'completed']);
  const CONCLUSIONS: ReadonlySet<string> = new Set([
    'action_required',
    'cancelled',
    'failure',
    'neutral',
    'success',
    'skipped',
    'stale',
    'timed_out',
  ]);

  /** POST /repos/{owner}/{repo}/check-runs and PATCH …/check-runs/{id}: GitHub's rules (name and
   * head_sha required on create; `completed` needs a conclusion, a conclusion means completed;
   * output needs title and summary, summary at most 65535 characters). */
  async function writeCheckRun(text: string, existing?: ReceivedCheckRun): Promise<Reply> {
    const body = parseBody(text);
    if (body === undefined)
      return { status: 400, body: { message: 'Problems parsing JSON', documentation_url: DOCS } };
    const headSha = existing?.head_sha ?? body['head_sha'];
    const runName = body['name'] ?? existing?.name;
    if (typeof runName !== 'string' || runName === '')
      return validation('CheckRun', 'name', 'name is missing');
    if (typeof headSha !== 'string' || (await resolve(headSha, 'commit')) !== headSha) {
      return validation('CheckRun', 'head_sha', 'No commit found for SHA: ' + String(headSha));
    }
    let status =
      body['status'] ?? (body['conclusion'] !== undefined ? 'completed' : (existing?.status ?? 'queued'));
    if (typeof status !== 'string' || !CHECK_STATUSES.has(status)) {
      return validation('CheckRun', 'status', 'status is not included in the list');
    }
    const conclusion = body['conclusion'] ?? (status === 'completed' ? existing?.conclusion : null) ?? null;
    if (conclusion !== null && (typeof conclusion !== 'string' || !CONCLUSIONS.has(conclusion))) {
      return validation('CheckRun', 'conclusion', 'conclusion is not included in the list');
    }
    if (status === 'completed' && conclusion === null) {
      return validation('CheckRun', 'conclusion', 'conclusion is required when status is completed');
    }
    if (conclusion !== null) status = 'completed';
    const output = body['output'];
    let title = existing?.output.title ?? null;
    let summary = existing?.output.summary ?? null;
    let outputText = existing?.output.text ?? null;
    if (output !== undefined) {
      const o = (typeof output === 'object' && output !== null ? output : {}) as Record<string, unknown>;
      if (typeof o['title'] !== 'string' || typeof o['summary'] !== 'string') {
        return validation('CheckRun', 'output', 'output requires title and summary');
      }
      if ([...o['summary']].length > 65535) {
        return validation('CheckRun', 'output.summary', 'summary is too long (maximum is 65535 characters)');
      }
      title = o['title'];
      summary = o['summary'];
      outputText = typeof o['text'] === 'string' ? o['text'] : null;
    }
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const id = existing?.id ?? nextCheckRunId++;
    const run: ReceivedCheckRun = {
      id,
      head_sha: headSha,
      node_id: Buffer.from(`CheckRun:${id}`).toString('base64'),
      external_id:
        typeof body['external_id'] === 'string' ? body['external_id'] : (existing?.external_id ?? ''),
      url: `${baseUrl}${repoPath}/check-runs/${id}`,
      html_url: `https://github.com/${owner}/${name}/runs/${id}`,
      details_url:
        typeof body['details_url'] === 'string' ? body['details_url'] : (existing?.details_url ?? null),
      status: status as ReceivedCheckRun['status'],
      conclusion: conclusion as ReceivedCheckRun['conclusion'],
      started_at: typeof body['started_at'] === 'string' ? body['started_at'] : (existing?.started_at ?? now),
      completed_at:
        status === 'completed'
          ? typeof body['completed_at'] === 'string'
            ? body['completed_at']
            : (existing?.completed_at ?? now)
          : null,
      output: {
        title,
        summary,
        text: outputText,
        annotations_count: 0,
        annotations_url: `${baseUrl}${repoPath}/check-runs/${id}/annotations`,
      },
      name: runName,
      check_suite: { id: 1 },
      app: null,
      pull_requests: [],
    };
    const list = checkRuns.get(headSha) ?? [];
    const at = list.findIndex((r) => r.id === id);
    if (at === -1) list.push(run);
    else list[at] = run;
    checkRuns.set(headSha, list);
    return { status: existing === undefined ? 201 : 200, body: checkRunBody(run) };
  }

  async function updateCheckRun(id: string, text: string): Promise<Reply> {
    const existing = [...checkRuns.values()].flat().find((r) => String(r.id) === id);
    return existing === undefined ? notFound : writeCheckRun(text, existing);
  }

  /** GET /repos/{owner}/{repo}/commits/{ref}/check-runs: newest first; `filter=latest` (the
   * default) keeps the most recent run of each name; `check_name` narrows to one name. */
  async function listCheckRuns(ref: string, query: URLSearchParams): Promise<Reply> {
    const sha = await resolve(ref, 'commit');
    if (sha === undefined) return noCommit(ref);
    let runs = [...(checkRuns.get(sha) ?? [])].reverse();
    const checkName = query.get('check_name');
    if (checkName !== null) runs = runs.filter((r) => r.name === checkName);
    if ((query.get('filter') ?? 'latest') === 'latest') {
      runs = runs.filter((r, i) => runs.findIndex((other) => other.name === r.name) === i);
    }
    const perPage = Math.min(100, Math.max(1, Number(query.get('per_page') ?? 30) || 30));
    const page = Math.max(1, Number(query.get('page') ?? 1) || 1);
    const body: Schemas['check-run'][] = runs.slice((page - 1) * perPage, page * perPage);
    return { status: 200, body: { total_count: runs.length, check_runs: body } };
  }

  async function route(method: string, url: URL, body: string, auth: Auth): Promise<Reply> {
    const path = decodeURIComponent(url.pathname);
    let m: RegExpMatchArray | null;
    if (auth === 'jwt') {
      if (method === 'POST' && (m = path.match(/^\/app\/installations\/(\d+)\/access_tokens$/))) {
        return createInstallationToken(m[1]!, body);
      }
      if (method === 'GET' && path.toLowerCase() === `${repoPath}/installation`.toLowerCase()) {
        return repositoryInstallation();
      }
      // An App's JWT reaches only the /app endpoints; GitHub answers anything else like this.
      return {
        status: 401,
        body: { message: 'A JSON web token could not be decoded', documentation_url: DOCS, status: '401' },
      };
    }
    const prefix = `${repoPath}/`.toLowerCase();
    if (!path.toLowerCase().startsWith(prefix)) return notFound;
    const rest = path.slice(prefix.length);
    if (method === 'POST' && rest === 'check-runs') {
      return auth === 'installation' ? writeCheckRun(body) : appOnly();
    }
    if (method === 'PATCH' && (m = rest.match(/^check-runs\/(\d+)$/))) {
      return auth === 'installation' ? updateCheckRun(m[1]!, body) : appOnly();
    }
    if (method === 'GET' && (m = rest.match(/^commits\/(.+)\/check-runs$/))) {
      return listCheckRuns(m[1]!, url.searchParams);
    }
    if (method === 'GET' && (m = rest.match(/^git\/trees\/(.+)$/))) {
      const recursive = url.searchParams.has('recursive');
      return getTree(m[1]!, recursive);
    }
    if (method === 'GET' && (m = rest.match(/^git\/blobs\/([^/]+)$/))) return getBlob(m[1]!);
    if (method === 'GET' && (m = rest.match(/^compare\/(.+)$/))) return compare(m[1]!, url.searchParams);
    if (method === 'GET' && (m = rest.match(/^commits\/(.+)\/status$/))) {
      return combinedStatus(m[1]!, url.searchParams);
    }
    if (method === 'GET' && (m = rest.match(/^commits\/(.+)\/statuses$/))) {
      return listStatuses(m[1]!, url.searchParams);
    }
    if (method === 'GET' && (m = rest.match(/^commits\/(.+)$/))) return getCommit(m[1]!);
    if (method === 'POST' && (m = rest.match(/^statuses\/([^/]+)$/))) return createStatus(m[1]!, body);
    return notFound;
  }

  function appOnly(): Reply {
    return {
      status: 403,
      body: { message: 'You must authenticate via a GitHub App.', documentation_url: DOCS, status: '403' },
    };
  }

  /** Who is calling: the configured token, an unexpired installation token, the App's valid JWT. */
  function authenticate(presented: string | undefined): Auth | undefined {
    if (presented === undefined) return undefined;
    if (presented === token) return 'token';
    const expiresAt = installationTokens.get(presented);
    if (expiresAt !== undefined) return expiresAt > Date.now() ? 'installation' : undefined;
    return options.app !== undefined && verifyAppJwt(presented, options.app) ? 'jwt' : undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const receivedAt = performance.now();
    inFlight++;
    // The client hung up before the answer was written. The close of an aborted request can come
    // after its answer was routed and recorded (a fast route), so it also marks the record kept.
    const closed: { value: boolean; record?: { clientClosed: boolean } } = { value: false };
    res.once('close', () => {
      if (res.writableFinished) return;
      closed.value = true;
      if (closed.record !== undefined) closed.record.clientClosed = true;
    });
    try {
      await serveRecorded(req, res, receivedAt, closed);
    } finally {
      inFlight--;
    }
  }

  async function serveRecorded(
    req: IncomingMessage,
    res: ServerResponse,
    receivedAt: number,
    closed: { readonly value: boolean; record?: { clientClosed: boolean } },
  ): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', baseUrl);
    const authorization = req.headers.authorization;
    if (latencyMs > 0 && (latencyOnly === undefined || latencyOnly.test(url.pathname)))
      await sleep(latencyMs);

    let reply: Reply;
    if (failures.count > 0 && (failures.method === undefined || failures.method === method)) {
      failures = { ...failures, count: failures.count - 1 };
      reply = {
        status: failures.status,
        // 403 and 429 answer as GitHub's secondary rate limit does.
        body: {
          message:
            failures.status === 429 || failures.status === 403
              ? 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.'
              : 'Server Error',
          documentation_url: DOCS,
        },
        headers: failures.status === 429 || failures.status === 403 ? { 'retry-after': '1' } : {},
      };
    } else {
      const presented = authorization?.match(/^(?:token|bearer)\s+(\S+)$/i)?.[1];
      const auth = authenticate(presented);
      if (auth === undefined) {
        reply = { status: 401, body: { message: 'Bad credentials', documentation_url: DOCS, status: '401' } };
      } else {
        try {
          reply = await route(method, url, body, auth);
        } catch (e: unknown) {
          reply = { status: 500, body: { message: e instanceof Error ? e.message : String(e) } };
        }
      }
    }
    const record: RecordedRequest & { clientClosed: boolean } = {
      method,
      path: `${url.pathname}${url.search}`,
      status: reply.status,
      authorization,
      body,
      receivedAt,
      clientClosed: closed.value,
    };
    closed.record = record;
    recorded.push(record);
    if (checkContract) {
      try {
        violations.push(
          ...checkGitHubExchange({
            method,
            path: `${url.pathname}${url.search}`,
            requestBody: body,
            status: reply.status,
            responseBody: reply.body,
          }),
        );
      } catch (e: unknown) {
        violations.push(`${method} ${url.pathname}: contract check failed: ${String(e)}`);
      }
    }
    const text = JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'x-github-media-type': 'github.v3; format=json',
      'x-github-request-id': `TEST:${recorded.length}`,
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': '4999',
      'x-ratelimit-resource': 'core',
      ...reply.headers,
    });
    res.end(text);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.writeHead(500);
      res.end(String(e));
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolveListen());
  });
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('github test server has no port');
  baseUrl = `http://127.0.0.1:${address.port}`;

  return {
    url: baseUrl,
    repository: options.repository,
    token,
    requests: () => [...recorded],
    statuses: (sha) => [...(statuses.get(sha) ?? [])],
    checkRuns: (sha) => [...(checkRuns.get(sha) ?? [])],
    issuedTokens: () => installationTokens.size,
    clearRequests: () => {
      recorded.length = 0;
    },
    inFlight: () => inFlight,
    setLatency: (ms, only) => {
      latencyMs = ms;
      latencyOnly = only;
    },
    failNext: (count, status = 502, method) => {
      failures = { count, status, ...(method === undefined ? {} : { method }) };
    },
    takeContractViolations: () => {
      const taken = violations;
      violations = [];
      return taken;
    },
    stop: async () => {
      await new Promise<void>((resolveClose) => {
        objects.close();
        server.closeAllConnections();
        server.close(() => resolveClose());
      });
      if (violations.length > 0) {
        throw new Error(
          `GitHub test server: ${violations.length} exchange(s) departed from GitHub's OpenAPI description:\n  ${[...new Set(violations)].join('\n  ')}`,
        );
      }
    },
  };
}

type Auth = 'token' | 'installation' | 'jwt';

/** An App JWT as GitHub checks it: RS256 signed by the App's key, `iss` the App id, not expired,
 * issued no later than a minute from now, and expiring at most 10 minutes after `iat`. */
function verifyAppJwt(jwt: string, app: GitHubAppOptions): boolean {
  const parts = jwt.split('.');
  if (parts.length !== 3) return false;
  const [header, claims, signature] = parts as [string, string, string];
  try {
    const head = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: unknown };
    if (head.alg !== 'RS256') return false;
    const ok = verifySignature(
      'sha256',
      Buffer.from(`${header}.${claims}`),
      createPublicKey(app.publicKey),
      Buffer.from(signature, 'base64url'),
    );
    if (!ok) return false;
    const body = JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as Record<string, unknown>;
    const now = Math.floor(Date.now() / 1000);
    const iat = Number(body['iat']);
    const exp = Number(body['exp']);
    return String(body['iss']) === String(app.id) && exp > now && iat <= now + 60 && exp - iat <= 600;
  } catch {
    return false;
  }
}

/** Reads objects through one long-lived `git cat-file --batch`, one request at a time. */
class ObjectReader {
  private child: ChildProcessWithoutNullStreams | undefined;
  private buffer = Buffer.alloc(0);
  private waiting: ((chunk: Buffer) => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly directory: string) {}

  read(sha: string): Promise<{ readonly type: string; readonly bytes: Buffer } | undefined> {
    const next = this.queue.then(() => this.readOne(sha));
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.closed = true;
    this.child?.stdin.end();
    this.child?.kill();
    this.child = undefined;
  }

  private process(): ChildProcessWithoutNullStreams {
    // A read still queued when the server stops (its client gave up on it) must not start a new
    // git that keeps the test process alive.
    if (this.closed) throw new Error('the GitHub test server is stopped');
    if (!this.child) {
      const child = spawn('git', ['-C', this.directory, 'cat-file', '--batch'], { stdio: 'pipe' });
      child.stdout.on('data', (chunk: Buffer) => {
        this.buffer = Buffer.concat([this.buffer, chunk]);
        this.waiting?.(this.buffer);
      });
      child.once('exit', () => {
        if (this.child === child) this.child = undefined;
      });
      this.child = child;
    }
    return this.child;
  }

  private async readOne(sha: string): Promise<{ readonly type: string; readonly bytes: Buffer } | undefined> {
    this.process().stdin.write(`${sha}\n`);
    const header = await this.until((b) => b.indexOf(10));
    const line = this.take(header + 1)
      .toString('utf8')
      .trim();
    const [, type, size] = line.split(' ');
    if (type === undefined || size === undefined || type === 'missing') return undefined;
    const length = Number(size);
    await this.until((b) => (b.length >= length + 1 ? length : -1));
    const bytes = this.take(length + 1).subarray(0, length);
    return { type, bytes };
  }

  private until(find: (buffer: Buffer) => number): Promise<number> {
    return new Promise((resolve) => {
      const check = (buffer: Buffer): void => {
        const at = find(buffer);
        if (at >= 0) {
          this.waiting = undefined;
          resolve(at);
        }
      };
      this.waiting = check;
      check(this.buffer);
    });
  }

  private take(length: number): Buffer {
    const taken = this.buffer.subarray(0, length);
    this.buffer = this.buffer.subarray(length);
    return Buffer.from(taken);
  }
}
