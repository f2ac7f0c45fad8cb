// The GitHub REST test server: serves what git holds, shaped as GitHub's REST docs say, and refuses
// what GitHub refuses.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startGitHubServer, type GitHubServer } from './github-server';
import { createGitRepo, type GitRepo } from './git-repo';

describe('github test server', () => {
  let repo: GitRepo;
  let dir: string;
  let server: GitHubServer;
  let commit: string;
  let auth: Record<string, string>;
  before(async () => {
    repo = await createGitRepo();
    dir = repo.dir;
    commit = await repo.commitFiles({
      'README.md': 'hello\n',
      'overlays/prod/kustomization.yaml': 'images: []\n',
      'overlays/dev/kustomization.yaml': 'images: []\n',
    });
    server = await startGitHubServer({ repository: 'acme/deploy', gitDirectory: dir });
    auth = { authorization: `token ${server.token}` };
  });
  after(async () => {
    await server?.stop();
    await repo?.remove();
  });

  const get = (path: string, headers: Record<string, string> = auth): Promise<Response> =>
    fetch(`${server.url}${path}`, { headers });

  it('serves a recursive tree of a commit with GitHub fields', async () => {
    // Act
    const response = await get(`/repos/acme/deploy/git/trees/${commit}?recursive=1`);
    const body = (await response.json()) as {
      sha: string;
      truncated: boolean;
      tree: { path: string; type: string; mode: string; sha: string; size?: number; url: string }[];
    };
    // Assess
    assert.equal(response.status, 200);
    const expectedTree = (await repo.git('rev-parse', `${commit}^{tree}`)).trim();
    assert.equal(body.sha, expectedTree);
    assert.equal(body.truncated, false);
    assert.deepEqual(
      body.tree.map((e) => `${e.type} ${e.path}`),
      [
        'blob README.md',
        'tree overlays',
        'tree overlays/dev',
        'blob overlays/dev/kustomization.yaml',
        'tree overlays/prod',
        'blob overlays/prod/kustomization.yaml',
      ],
    );
    const readme = body.tree[0]!;
    assert.equal(readme.mode, '100644');
    assert.equal(readme.size, 6);
    assert.equal(readme.url, `${server.url}/repos/acme/deploy/git/blobs/${readme.sha}`);
  });

  it('serves a blob as base64 and 404s what git does not hold', async () => {
    // Prepare
    const sha = (await repo.git('rev-parse', `${commit}:README.md`)).trim();
    // Act
    const blob = (await (await get(`/repos/acme/deploy/git/blobs/${sha}`)).json()) as {
      content: string;
      encoding: string;
      size: number;
    };
    const missing = await get(`/repos/acme/deploy/git/blobs/${'1'.repeat(40)}`);
    // Assess
    assert.equal(blob.encoding, 'base64');
    assert.equal(Buffer.from(blob.content, 'base64').toString('utf8'), 'hello\n');
    assert.equal(blob.size, 6);
    assert.equal(missing.status, 404);
  });

  it('cuts recursive trees over the limit and marks them truncated', async () => {
    // Prepare
    const small = await startGitHubServer({
      repository: 'acme/deploy',
      gitDirectory: dir,
      recursiveTreeLimit: 2,
    });
    try {
      // Act
      const response = await fetch(`${small.url}/repos/acme/deploy/git/trees/${commit}?recursive=1`, {
        headers: { authorization: `Bearer ${small.token}` },
      });
      const body = (await response.json()) as { truncated: boolean; tree: unknown[] };
      // Assess
      assert.equal(body.truncated, true);
      assert.equal(body.tree.length, 2);
    } finally {
      await small.stop();
    }
  });

  const refusals: readonly {
    readonly name: string;
    readonly method: string;
    readonly path: () => string;
    readonly headers?: Record<string, string>;
    readonly body?: unknown;
    readonly status: number;
    readonly message: string;
    /** The contract check's finding, for a request GitHub's description refuses. */
    readonly contract?: RegExp;
  }[] = [
    {
      name: 'no token',
      method: 'GET',
      path: () => `/repos/acme/deploy/git/trees/${commit}`,
      headers: {},
      status: 401,
      message: 'Bad credentials',
    },
    {
      name: 'wrong token',
      method: 'GET',
      path: () => `/repos/acme/deploy/git/trees/${commit}`,
      headers: { authorization: 'token nope' },
      status: 401,
      message: 'Bad credentials',
    },
    {
      name: 'other repository',
      method: 'GET',
      path: () => `/repos/acme/other/git/trees/${commit}`,
      status: 404,
      message: 'Not Found',
    },
    {
      name: 'unknown tree',
      method: 'GET',
      path: () => `/repos/acme/deploy/git/trees/${'2'.repeat(40)}`,
      status: 404,
      message: 'Not Found',
    },
    {
      name: 'status on unknown commit',
      method: 'POST',
      path: () => `/repos/acme/deploy/statuses/${'3'.repeat(40)}`,
      body: { state: 'pending', context: 'x' },
      status: 422,
      message: `No commit found for SHA: ${'3'.repeat(40)}`,
    },
    {
      name: 'status with invalid state',
      method: 'POST',
      path: () => `/repos/acme/deploy/statuses/${commit}`,
      body: { state: 'done', context: 'x' },
      status: 422,
      message: 'Validation Failed',
      contract:
        /repos\/create-commit-status\): request body: \/state must be equal to one of the allowed values/,
    },
    {
      name: 'status description over 140 characters',
      method: 'POST',
      path: () => `/repos/acme/deploy/statuses/${commit}`,
      body: { state: 'failure', context: 'x', description: 'x'.repeat(141) },
      status: 422,
      message: 'Validation Failed',
    },
  ];
  for (const c of refusals) {
    it(`refuses: ${c.name}`, async () => {
      // Act
      const response = await fetch(`${server.url}${c.path()}`, {
        method: c.method,
        headers: { ...(c.headers ?? auth), 'content-type': 'application/json' },
        ...(c.body === undefined ? {} : { body: JSON.stringify(c.body) }),
      });
      const body = (await response.json()) as { message: string };
      // Assess
      assert.equal(response.status, c.status);
      assert.equal(body.message, c.message);
      const violations = server.takeContractViolations();
      if (c.contract === undefined) assert.deepEqual(violations, []);
      else assert.match(violations.join('\n'), c.contract);
    });
  }

  it("fails stop() when an exchange departed from GitHub's OpenAPI description", async () => {
    // Prepare: a server of its own, sent a query parameter GitHub does not document
    const own = await startGitHubServer({ repository: 'acme/deploy', gitDirectory: dir });
    await fetch(`${own.url}/repos/acme/deploy/git/trees/${commit}?recursively=1`, { headers: auth });
    // Act
    const stopped = own.stop();
    // Assess
    await assert.rejects(stopped, /query parameter recursively is not one GitHub documents/);
  });

  it('records statuses and lists them newest first', async () => {
    // Act
    const created = await fetch(`${server.url}/repos/acme/deploy/statuses/${commit}`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'pending', context: 'image-promotion/prod', description: 'copying' }),
    });
    await fetch(`${server.url}/repos/acme/deploy/statuses/${commit}`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'success', context: 'image-promotion/prod', description: 'done' }),
    });
    const listed = (await (await get(`/repos/acme/deploy/commits/${commit}/statuses`)).json()) as {
      state: string;
    }[];
    // Assess
    assert.equal(created.status, 201);
    assert.deepEqual(
      server.statuses(commit).map((s) => s.state),
      ['pending', 'success'],
    );
    assert.deepEqual(
      listed.map((s) => s.state),
      ['success', 'pending'],
    );
  });

  it('injects failures and latency, and records every request', async () => {
    // Prepare
    server.clearRequests();
    server.failNext(2, 503);
    // Act
    const first = await get(`/repos/acme/deploy/commits/${commit}`);
    const second = await get(`/repos/acme/deploy/commits/${commit}`);
    const third = await get(`/repos/acme/deploy/commits/main`);
    const body = (await third.json()) as { sha: string };
    // Assess
    assert.deepEqual([first.status, second.status, third.status], [503, 503, 200]);
    assert.equal(body.sha, commit);
    assert.deepEqual(
      server.requests().map((r) => `${r.method} ${r.path} ${r.status}`),
      [
        `GET /repos/acme/deploy/commits/${commit} 503`,
        `GET /repos/acme/deploy/commits/${commit} 503`,
        'GET /repos/acme/deploy/commits/main 200',
      ],
    );
  });
});

describe('github test server: compare two commits', () => {
  let repo: GitRepo;
  let server: GitHubServer;
  let base: string;
  let mainTip: string;
  let head: string;
  before(async () => {
    repo = await createGitRepo({ 'a.txt': 'a\n', 'gone.txt': 'x\n' });
    base = (await repo.git('rev-parse', 'HEAD')).trim();
    mainTip = await repo.commitFiles({ 'main.txt': 'main\n' });
    await repo.git('checkout', '--quiet', '-b', 'topic', base);
    await repo.commitFiles({ 'a.txt': 'a\nb\n', 'gone.txt': null });
    head = await repo.commitFiles({ 'new.txt': 'new\n' });
    server = await startGitHubServer({ repository: 'acme/deploy', gitDirectory: repo.dir });
  });
  after(async () => {
    await server?.stop();
    await repo?.remove();
  });

  it('answers the merge base, counts, commits in order and changed files (commit-comparison)', async () => {
    // Act
    const response = await fetch(`${server.url}/repos/acme/deploy/compare/${mainTip}...${head}`, {
      headers: { authorization: `Bearer ${server.token}` },
    });
    const body = (await response.json()) as {
      status: string;
      ahead_by: number;
      behind_by: number;
      total_commits: number;
      base_commit: { sha: string };
      merge_base_commit: { sha: string; commit: { tree: { sha: string } }; parents: unknown[] };
      commits: { sha: string }[];
      files: { filename: string; status: string; additions: number; deletions: number; changes: number }[];
    };
    // Assess
    assert.equal(response.status, 200);
    assert.equal(body.status, 'diverged');
    assert.deepEqual([body.ahead_by, body.behind_by, body.total_commits], [2, 1, 2]);
    assert.equal(body.base_commit.sha, mainTip);
    assert.equal(body.merge_base_commit.sha, base);
    assert.deepEqual(body.merge_base_commit.parents, []);
    assert.equal(body.commits.at(-1)?.sha, head);
    assert.deepEqual(
      body.files.map((f) => `${f.status} ${f.filename} +${f.additions} -${f.deletions} ${f.changes}`),
      ['modified a.txt +1 -0 1', 'removed gone.txt +0 -1 1', 'added new.txt +1 -0 1'],
    );
  });

  it('pages commits with per_page (first page from the earliest) and 404s unknown commits', async () => {
    // Act
    const paged = await fetch(`${server.url}/repos/acme/deploy/compare/${base}...${head}?per_page=1`, {
      headers: { authorization: `token ${server.token}` },
    });
    const unknown = await fetch(`${server.url}/repos/acme/deploy/compare/${base}...${'f'.repeat(40)}`, {
      headers: { authorization: `token ${server.token}` },
    });
    // Assess
    const body = (await paged.json()) as { status: string; commits: { sha: string }[] };
    assert.equal(body.status, 'ahead');
    assert.equal(body.commits.length, 1);
    assert.notEqual(body.commits[0]!.sha, head);
    assert.match(paged.headers.get('link') ?? '', /per_page=1&page=2>; rel="next"/);
    assert.equal(unknown.status, 404);
  });
});
