// GitHub's REST API, the one way image-promoter talks to GitHub: a FileSource over the Git Trees and
// Git Blobs APIs (what the webhook plans from) and a CommitStatusReporter (what users see on their
// commits). Built on @octokit/rest's typed methods; every failure leaves as a GitHubError that says
// whether to retry. test/adapters/github-routes.test.ts checks the route of every method called here
// and in github-app.ts against GitHub's published OpenAPI description.
// Never logs or returns the token; never writes to the repository (statuses are not content).
import { setTimeout as sleep } from 'node:timers/promises';
import { Octokit } from '@octokit/rest';
import { renderCheckOutput } from '../core/check-output';
import {
  statusContext,
  statusDescription,
  type CommitStatus,
  type CommitStatusReporter,
  type JobStart,
} from '../core/commit-status';
import { DEFAULT_PLANNING_LIMITS } from '../core/planning-limits';
import { GitHubError, OverlayError, PlanningLimitError, PromoterError } from '../core/errors';
import type { DirectoryEntry, EntryKind, FileSource, MergeBaseSource } from '../core/file-source';
import { createLimiter, type Limiter } from '../core/limiter';

export const DEFAULT_GITHUB_API_URL = 'https://api.github.com';

/** The GitHub client every function here takes: @octokit/rest's Octokit. */
export type GitHubClient = Octokit;

export interface GitHubClientOptions {
  /** A personal access token or a GitHub App installation token. */
  readonly token: string;
  /** REST API root: GITHUB_API_URL / config.github.apiUrl; https://api.github.com when absent. */
  readonly apiUrl?: string;
  readonly userAgent?: string;
  /** Each HTTP request is abandoned after this long (default 4 s): a webhook has 10 s in all. */
  readonly requestTimeoutMs?: number;
}

/** The Octokit client for a token. Create once per container and reuse. */
export function createGitHubClient(options: GitHubClientOptions): Octokit {
  return new Octokit({
    auth: options.token,
    baseUrl: (options.apiUrl ?? DEFAULT_GITHUB_API_URL).replace(/\/+$/, ''),
    userAgent: options.userAgent ?? 'image-promoter',
    // Octokit's default logger prints request failures we already turn into typed errors.
    log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
    request: { fetch: fetchWithTimeout(options.requestTimeoutMs ?? 4000) },
  });
}

/** The Octokit client of the current token, for both Lambdas and their local runners. `token()` is
 * asked on every call (the secret reader caches it): a rotated secret or a renewed App installation
 * token replaces the client, the same token keeps the same client. */
export function createTokenRotatingGitHubClient(
  token: () => Promise<string>,
  options: Omit<GitHubClientOptions, 'token'> = {},
): () => Promise<Octokit> {
  let current: { readonly token: string; readonly client: Octokit } | undefined;
  return async (): Promise<Octokit> => {
    const value = await token();
    if (current?.token !== value)
      current = { token: value, client: createGitHubClient({ ...options, token: value }) };
    return current.client;
  };
}

/** How results reach the commit: an App reports check runs, a token commit statuses (the same name,
 * so the same required check). */
export function createGitHubReporter(octokit: Octokit, authKind: 'app' | 'token'): CommitStatusReporter {
  return authKind === 'app' ? createGitHubCheckReporter(octokit) : createGitHubStatusReporter(octokit);
}

function fetchWithTimeout(timeoutMs: number): typeof fetch {
  return (input, init = {}) => {
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    return fetch(input, { ...init, signal });
  };
}

export interface RetryOptions {
  /** Attempts per call, including the first (default 3). */
  readonly attempts?: number;
  /** Delay before the first retry, doubled for each next one (default 150 ms). */
  readonly baseDelayMs?: number;
  /** A longer Retry-After than this (default 1 s) is not waited for: the call fails, retryable. */
  readonly maxRetryAfterMs?: number;
}

/** `owner/name` into its two parts. */
export function splitRepository(repository: string): { readonly owner: string; readonly repo: string } {
  const slash = repository.indexOf('/');
  return { owner: repository.slice(0, slash), repo: repository.slice(slash + 1) };
}

/** Any Octokit failure as a GitHubError: retryable on 5xx, 429, rate-limit 403s and network failures. */
export function toGitHubError(e: unknown, what: string): GitHubError {
  if (e instanceof GitHubError) return e;
  const status = readStatus(e);
  const detail = e instanceof Error ? e.message : String(e);
  const rateLimited = status === 429 || (status === 403 && isRateLimit(e, detail));
  const hint =
    status === 401
      ? 'check the GitHub token'
      : rateLimited || (status !== undefined && status >= 500)
        ? 'GitHub is unavailable or rate limiting; retry later'
        : status === 403 || status === 404
          ? 'check that the token can read the repository and write commit statuses'
          : undefined;
  return new GitHubError(
    `GitHub ${what} failed${status === undefined ? '' : ` (HTTP ${status})`}: ${detail}${hint ? `; ${hint}` : ''}`,
    status,
    { cause: e, ...(rateLimited ? { retryable: true } : {}) },
  );
}

function readStatus(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null || !('status' in e)) return undefined;
  const status = (e as { status: unknown }).status;
  return typeof status === 'number' ? status : undefined;
}

function readHeaders(e: unknown): Readonly<Record<string, unknown>> {
  const headers = (e as { response?: { headers?: unknown } } | null)?.response?.headers;
  return typeof headers === 'object' && headers !== null ? (headers as Record<string, unknown>) : {};
}

/** GitHub answers primary and secondary rate limits with 403 (or 429): remaining 0, or the message. */
function isRateLimit(e: unknown, detail: string): boolean {
  const headers = readHeaders(e);
  return (
    String(headers['x-ratelimit-remaining']) === '0' || 'retry-after' in headers || /rate limit/i.test(detail)
  );
}

/** `Retry-After` in milliseconds, when the failure carried one. */
function retryAfterMs(error: GitHubError): number | undefined {
  const value = readHeaders(error.cause)['retry-after'];
  const seconds = Number(value);
  return value === undefined || !Number.isFinite(seconds) ? undefined : seconds * 1000;
}

async function callWithRetries<T>(
  what: string,
  retry: RetryOptions,
  call: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const attempts = Math.max(1, retry.attempts ?? 3);
  const baseDelayMs = retry.baseDelayMs ?? 150;
  const maxRetryAfterMs = retry.maxRetryAfterMs ?? 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      signal?.throwIfAborted();
      return await call();
    } catch (e: unknown) {
      // Past the deadline, or over a budget: the answer is given, nothing is retried.
      if (signal?.aborted) throw signal.reason;
      if (e instanceof PromoterError && !(e instanceof GitHubError)) throw e;
      const error = toGitHubError(e, what);
      if (!error.retryable || attempt >= attempts) throw error;
      // A webhook has seconds, not minutes: wait a short Retry-After, give up (retryable) on a long one.
      const wait = retryAfterMs(error);
      if (wait !== undefined && wait > maxRetryAfterMs) throw error;
      // The deadline ends the pause too (with its reason), not only the next attempt.
      await sleep(Math.max(wait ?? 0, baseDelayMs * 2 ** (attempt - 1)), undefined, {
        ...(signal === undefined ? {} : { signal }),
      }).catch((e: unknown) => {
        throw signal?.aborted ? signal.reason : e;
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Commit statuses

export interface StatusReporterOptions extends RetryOptions {
  /** Called after each status was set (for logs and tests). */
  readonly onReported?: (status: CommitStatus) => void;
}

export function createGitHubStatusReporter(
  octokit: Octokit,
  options: StatusReporterOptions = {},
): CommitStatusReporter {
  return {
    report: async (status: CommitStatus): Promise<void> => {
      const { owner, repo } = splitRepository(status.repository);
      await callWithRetries(
        `commit status for ${status.repository}@${status.commit.slice(0, 12)}`,
        options,
        () =>
          octokit.rest.repos.createCommitStatus({
            owner,
            repo,
            sha: status.commit,
            state: status.state,
            context: statusContext(status.environment),
            description: statusDescription(status.description),
            ...(status.targetUrl === undefined ? {} : { target_url: status.targetUrl }),
          }),
      );
      options.onReported?.(status);
    },
  };
}

/** The commit SHA a branch, tag or SHA names in `repository` (GET /repos/{owner}/{repo}/commits/{ref},
 * which accepts "a commit SHA, branch name, or tag name"). */
export async function resolveGitHubCommit(
  octokit: Octokit,
  repository: string,
  ref: string,
  options: RetryOptions = {},
): Promise<string> {
  const { owner, repo } = splitRepository(repository);
  const { data } = await callWithRetries(`read commit ${ref} in ${repository}`, options, () =>
    octokit.rest.repos.getCommit({ owner, repo, ref, per_page: 1 }),
  );
  return data.sha;
}

/** Up to `max` commits before `commit` along its first parents, newest first: one
 * GET /repos/{owner}/{repo}/commits/{ref} per commit (its `parents`, the first being the branch's
 * own history). Stops at a root commit. */
export async function listGitHubFirstParents(
  octokit: Octokit,
  repository: string,
  commit: string,
  max: number,
  options: RetryOptions = {},
): Promise<readonly string[]> {
  const { owner, repo } = splitRepository(repository);
  const commits: string[] = [];
  let current = commit;
  while (commits.length < max) {
    const ref = current;
    const { data } = await callWithRetries(`read commit ${ref} in ${repository}`, options, () =>
      octokit.rest.repos.getCommit({ owner, repo, ref, per_page: 1 }),
    );
    const parent = data.parents[0]?.sha;
    if (parent === undefined) break;
    commits.push(parent);
    current = parent;
  }
  return commits;
}

// ---------------------------------------------------------------------------------------------
// Check runs (GitHub App only: GitHub refuses check-run writes from other tokens)

/**
 * Statuses as check runs named `image-promotion/<environment>` (https://docs.github.com/rest/checks/runs),
 * one run per job, which the run carries as `external_id` (the job's deliveryId: "a reference for the
 * run on the integrator's system"):
 * - `pending` (webhook, reconcile): creates the run `queued`, with the job's id. One call.
 * - `start` (worker, as it begins the job): finds that run and moves it to `in_progress`. GitHub cannot
 *   filter runs by external_id, so it lists the commit's runs of that name
 *   (`GET /repos/{owner}/{repo}/commits/{ref}/check-runs?check_name=…&filter=all`, "List check runs
 *   for a Git reference": https://docs.github.com/rest/checks/runs#list-check-runs-for-a-git-reference)
 *   and picks the one whose external_id is the job's; else the newest one not completed (a run queued
 *   before runs carried ids); else it creates one (the webhook's create failed, or a reconcile job
 *   past the first of an environment). Two calls; the run's id is remembered for the end.
 * - a final state (worker): completes the remembered run (one call), or, when this process did not
 *   start the job, finds it as above first. Conclusion success, or failure for failure and error.
 * Title: the one-line description. Summary: core/check-output (failure reason, one row per image).
 * Several jobs for one environment and commit (a pull request reopened or retargeted, its head pushed
 * to the branch, a redelivery, a reconcile) each complete their own run: GitHub shows the most recent
 * run of a name (`filter=latest`), so a slow older job never overwrites a newer plan's verdict.
 */
/** Started runs a reporter remembers (one per job in flight in this process: a worker runs a few). */
const MAX_STARTED_RUNS = 1000;

/** A check run's id as @octokit/rest types it. @octokit/request parses an integer past 2^53 as a
 * BigInt (json-with-bigint), so at run time it may be one: it is only kept and sent back, never
 * computed with, and a BigInt renders in the URL as its digits. */
type CheckRunId = number;

export function createGitHubCheckReporter(
  octokit: Octokit,
  options: StatusReporterOptions = {},
): CommitStatusReporter {
  /** Runs this process moved to in_progress, by `<commit> <name> <jobId>`; dropped when completed. */
  const started = new Map<string, CheckRunId>();
  const key = (commit: string, name: string, jobId: string | undefined): string =>
    `${commit} ${name} ${jobId ?? ''}`;

  const findRun = async (
    repository: string,
    commit: string,
    name: string,
    jobId: string | undefined,
    what: string,
  ): Promise<CheckRunId | undefined> => {
    const { owner, repo } = splitRepository(repository);
    const { data } = await callWithRetries(what, options, () =>
      octokit.rest.checks.listForRef({
        owner,
        repo,
        ref: commit,
        check_name: name,
        filter: 'all',
        per_page: 100,
      }),
    );
    // Newest first, as GitHub lists them (the test server too).
    const mine = jobId === undefined ? undefined : data.check_runs.find((run) => run.external_id === jobId);
    return (mine ?? data.check_runs.find((run) => run.status !== 'completed'))?.id;
  };

  return {
    start: async (job: JobStart): Promise<void> => {
      const { owner, repo } = splitRepository(job.repository);
      const name = statusContext(job.environment);
      const what = `check run ${name} for ${job.repository}@${job.commit.slice(0, 12)}`;
      const fields = {
        status: 'in_progress' as const,
        started_at: new Date().toISOString(),
        external_id: job.jobId,
        output: renderCheckOutput({ state: 'pending', description: job.description }),
        ...(job.targetUrl === undefined ? {} : { details_url: job.targetUrl }),
      };
      const id = await findRun(job.repository, job.commit, name, job.jobId, what);
      const { data } =
        id === undefined
          ? await callWithRetries(what, options, () =>
              octokit.rest.checks.create({
                owner,
                repo,
                name,
                head_sha: job.commit,
                ...fields,
              }),
            )
          : await callWithRetries(what, options, () =>
              octokit.rest.checks.update({ owner, repo, check_run_id: id, ...fields }),
            );
      // Bounded: a job retried in another container never completes its entry here.
      if (started.size >= MAX_STARTED_RUNS) started.delete(started.keys().next().value!);
      started.set(key(job.commit, name, job.jobId), data.id);
    },
    report: async (status: CommitStatus): Promise<void> => {
      const { owner, repo } = splitRepository(status.repository);
      const name = statusContext(status.environment);
      const what = `check run ${name} for ${status.repository}@${status.commit.slice(0, 12)}`;
      const output = renderCheckOutput(status);
      const details = {
        ...(status.targetUrl === undefined ? {} : { details_url: status.targetUrl }),
        ...(status.jobId === undefined ? {} : { external_id: status.jobId }),
      };
      if (status.state === 'pending') {
        await callWithRetries(what, options, () =>
          octokit.rest.checks.create({
            owner,
            repo,
            name,
            head_sha: status.commit,
            status: 'queued',
            output,
            ...details,
          }),
        );
        options.onReported?.(status);
        return;
      }
      const final = {
        status: 'completed' as const,
        conclusion: status.state === 'success' ? ('success' as const) : ('failure' as const),
        completed_at: new Date().toISOString(),
        output,
        ...details,
      };
      const runKey = key(status.commit, name, status.jobId);
      // A status without a job (no image changes, a planning failure) is a new, completed run.
      const id =
        started.get(runKey) ??
        (status.jobId === undefined
          ? undefined
          : await findRun(status.repository, status.commit, name, status.jobId, what));
      if (id === undefined) {
        await callWithRetries(what, options, () =>
          octokit.rest.checks.create({
            owner,
            repo,
            name,
            head_sha: status.commit,
            ...final,
          }),
        );
      } else {
        await callWithRetries(what, options, () =>
          octokit.rest.checks.update({ owner, repo, check_run_id: id, ...final }),
        );
      }
      started.delete(runKey);
      options.onReported?.(status);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// FileSource over Git Trees + Git Blobs

interface TreeEntry {
  readonly kind: EntryKind;
  /** Blob SHA for files, tree SHA for directories. */
  readonly sha: string;
  /** Blob size in bytes (0 for directories). */
  readonly size: number;
}

/** One directory at one revision: its entries by name. */
type Directory = ReadonlyMap<string, TreeEntry>;

interface RevisionIndex {
  /** The directory at `path`, or undefined when there is none. */
  directory(path: string): Promise<Directory | undefined>;
}

export interface GitHubFileSourceOptions extends RetryOptions {
  /** `owner/name`. */
  readonly repository: string;
  /** Files larger than this are an error, not downloaded (config `planning.maxFileBytes`). */
  readonly maxFileBytes?: number;
  /** API calls this source may make in all (config `planning.maxGitHubCalls`): one delivery's. */
  readonly maxCalls?: number;
  /** The delivery's deadline: once aborted, requests in flight are cancelled and none is made. */
  readonly signal?: AbortSignal;
  /** Requests in flight at once (default GITHUB_READ_CONCURRENCY). */
  readonly concurrency?: number;
}

/** GitHub allows no more than 100 concurrent requests per user or app, REST and GraphQL together
 * (https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api, secondary rate
 * limits); the worker and other deliveries share the token, so one delivery reads 32 at a time,
 * enough to read a few hundred files well within the webhook's deadline. */
export const GITHUB_READ_CONCURRENCY = 32;

/**
 * Reads a repository at a revision through GitHub: one recursive Git Trees call per revision
 * (per-directory trees when GitHub truncates the recursive one) and one Git Blobs call per distinct
 * blob, cached by blob SHA (so a file unchanged between `before` and `after` is read once).
 */
export class GitHubFileSource implements FileSource, MergeBaseSource {
  private readonly owner: string;
  private readonly repo: string;
  private readonly revisions = new Map<string, RevisionIndex>();
  private readonly blobs = new Map<string, Promise<string>>();
  private readonly limit: Limiter;
  private calls = 0;

  constructor(
    private readonly octokit: Octokit,
    private readonly options: GitHubFileSourceOptions,
  ) {
    ({ owner: this.owner, repo: this.repo } = splitRepository(options.repository));
    this.limit = createLimiter(options.concurrency ?? GITHUB_READ_CONCURRENCY, {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }

  /** GitHub API requests made so far (retries included). */
  get apiCalls(): number {
    return this.calls;
  }

  /** Resolves once no request of this source is in flight or waiting: after the deadline, none
   * starts again, so an answer given after this leaves nothing running. */
  settled(): Promise<void> {
    return this.limit.idle();
  }

  async kindOf(revision: string, path: string): Promise<EntryKind | undefined> {
    const { parent, name } = splitPath(path);
    if (name === '')
      return (await this.index(revision).directory('')) === undefined ? undefined : 'directory';
    const directory = await this.index(revision).directory(parent);
    return directory?.get(name)?.kind;
  }

  async readFile(revision: string, path: string): Promise<string> {
    const { parent, name } = splitPath(path);
    const entry = name === '' ? undefined : (await this.index(revision).directory(parent))?.get(name);
    if (entry?.kind !== 'file') {
      throw new OverlayError(normalizePath(path), entry ? 'is a directory, not a file' : 'file not found');
    }
    const maxFileBytes = this.options.maxFileBytes ?? DEFAULT_PLANNING_LIMITS.maxFileBytes;
    if (entry.size > maxFileBytes) {
      throw new PlanningLimitError(
        normalizePath(path),
        'planning.maxFileBytes',
        `file is ${entry.size} bytes, over ${maxFileBytes}`,
      );
    }
    let blob = this.blobs.get(entry.sha);
    if (!blob) {
      blob = this.fetchBlob(entry.sha, normalizePath(path));
      this.blobs.set(entry.sha, blob);
      blob.catch(() => this.blobs.delete(entry.sha));
    }
    return blob;
  }

  async listDirectory(revision: string, path: string): Promise<readonly DirectoryEntry[]> {
    const directory = await this.index(revision).directory(normalizePath(path));
    if (!directory) throw new OverlayError(normalizePath(path) || '.', 'directory not found');
    return [...directory]
      .map(([name, entry]) => ({ name, kind: entry.kind }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The merge base of `base` and `head`, one call: GitHub's "Compare two commits"
   * (GET /repos/{owner}/{repo}/compare/{base}...{head}) answers it as `merge_base_commit`
   * (https://docs.github.com/rest/commits/commits#compare-two-commits). `per_page=1` keeps the
   * commit list of the answer to one entry: only the merge base is read. */
  async mergeBase(base: string, head: string): Promise<string> {
    const { data } = await this.request(`compare ${base.slice(0, 12)}...${head.slice(0, 12)}`, (request) =>
      this.octokit.rest.repos.compareCommitsWithBasehead({
        owner: this.owner,
        repo: this.repo,
        basehead: `${base}...${head}`,
        per_page: 1,
        request,
      }),
    );
    return data.merge_base_commit.sha;
  }

  /** One API call (and its retries), within the call budget and the deadline. `file` names what
   * was being read when the budget ran out. */
  private request<T>(
    what: string,
    call: (request: { readonly signal?: AbortSignal }) => Promise<T>,
    file = '.',
  ): Promise<T> {
    const { signal } = this.options;
    const maxCalls = this.options.maxCalls ?? DEFAULT_PLANNING_LIMITS.maxGitHubCalls;
    return callWithRetries(
      `${what} in ${this.options.repository}`,
      this.options,
      () =>
        this.limit(() => {
          if (this.calls >= maxCalls) {
            throw new PlanningLimitError(
              file,
              'planning.maxGitHubCalls',
              `more than ${maxCalls} GitHub API calls to plan one delivery`,
            );
          }
          this.calls++;
          return call(signal === undefined ? {} : { signal });
        }),
      signal,
    );
  }

  private async fetchBlob(sha: string, path: string): Promise<string> {
    const { data } = await this.request(
      `read blob ${sha.slice(0, 12)}`,
      (request) =>
        this.octokit.rest.git.getBlob({
          owner: this.owner,
          repo: this.repo,
          file_sha: sha,
          request,
        }),
      path,
    );
    if (data.encoding !== 'base64' && data.encoding !== 'utf-8') {
      throw new GitHubError(
        `GitHub returned blob ${sha} in unsupported encoding "${data.encoding}"`,
        undefined,
      );
    }
    return data.encoding === 'base64' ? Buffer.from(data.content, 'base64').toString('utf8') : data.content;
  }

  private async fetchTree(
    treeish: string,
    recursive: boolean,
  ): Promise<{ truncated: boolean; tree: RawEntry[] }> {
    const { data } = await this.request(`read tree ${treeish.slice(0, 12)}`, (request) =>
      this.octokit.rest.git.getTree({
        owner: this.owner,
        repo: this.repo,
        tree_sha: treeish,
        ...(recursive ? { recursive: '1' } : {}),
        request,
      }),
    );
    return { truncated: data.truncated, tree: data.tree };
  }

  private index(revision: string): RevisionIndex {
    let index = this.revisions.get(revision);
    if (!index) {
      index = this.createIndex(revision);
      this.revisions.set(revision, index);
    }
    return index;
  }

  private createIndex(revision: string): RevisionIndex {
    // One recursive call answers everything; when GitHub truncates it, walk directory by directory.
    const whole = this.fetchTree(revision, true).then((response) =>
      response.truncated ? undefined : indexRecursiveTree(response.tree),
    );
    whole.catch(() => this.revisions.delete(revision));
    const perDirectory = new Map<string, Promise<Directory | undefined>>();
    const directoryByWalking = (path: string): Promise<Directory | undefined> => {
      let found = perDirectory.get(path);
      if (!found) {
        found = (async (): Promise<Directory | undefined> => {
          let sha = revision;
          if (path !== '') {
            const { parent, name } = splitPath(path);
            const entry = (await directoryByWalking(parent))?.get(name);
            if (entry?.kind !== 'directory') return undefined;
            sha = entry.sha;
          }
          return indexFlatTree((await this.fetchTree(sha, false)).tree);
        })();
        perDirectory.set(path, found);
        found.catch(() => perDirectory.delete(path));
      }
      return found;
    };
    return {
      directory: async (path: string): Promise<Directory | undefined> => {
        const directories = await whole;
        const normalized = normalizePath(path);
        return directories ? directories.get(normalized) : directoryByWalking(normalized);
      },
    };
  }
}

interface RawEntry {
  readonly path: string;
  readonly type: string;
  readonly sha: string;
  readonly size?: number;
}

function entryKind(type: string): EntryKind | undefined {
  // Submodules (`commit`) have no content here: they do not exist for the planner.
  return type === 'blob' ? 'file' : type === 'tree' ? 'directory' : undefined;
}

function indexRecursiveTree(tree: readonly RawEntry[]): ReadonlyMap<string, Directory> {
  const directories = new Map<string, Map<string, TreeEntry>>([['', new Map()]]);
  for (const raw of tree) {
    const kind = entryKind(raw.type);
    if (kind === 'directory' && !directories.has(raw.path)) directories.set(raw.path, new Map());
  }
  for (const raw of tree) {
    const kind = entryKind(raw.type);
    if (kind === undefined) continue;
    const { parent, name } = splitPath(raw.path);
    directories.get(parent)?.set(name, { kind, sha: raw.sha, size: raw.size ?? 0 });
  }
  return directories;
}

function indexFlatTree(tree: readonly RawEntry[]): Directory {
  const directory = new Map<string, TreeEntry>();
  for (const raw of tree) {
    const kind = entryKind(raw.type);
    if (kind !== undefined) directory.set(raw.path, { kind, sha: raw.sha, size: raw.size ?? 0 });
  }
  return directory;
}

function normalizePath(path: string): string {
  return path
    .split('/')
    .filter((part) => part !== '' && part !== '.')
    .join('/');
}

function splitPath(path: string): { readonly parent: string; readonly name: string } {
  const normalized = normalizePath(path);
  const slash = normalized.lastIndexOf('/');
  return slash === -1
    ? { parent: '', name: normalized }
    : { parent: normalized.slice(0, slash), name: normalized.slice(slash + 1) };
}
