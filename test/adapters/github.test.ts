// The GitHub adapter against the GitHub REST test server over a real git repository: the FileSource
// reads what git holds with one tree call per revision and one blob call per distinct blob; the
// status reporter posts what GitHub expects; failures become GitHubErrors that say retry or not.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createGitHubClient,
  createGitHubStatusReporter,
  GitHubFileSource,
  toGitHubError,
} from '../../lambdas/adapters/github';
import { GitHubError, OverlayError } from '../../lambdas/core/errors';
import { startGitHubServer, type GitHubServer } from '../support/github-server';
import { createGitRepo, type GitRepo } from '../support/git-repo';

describe('github adapter', () => {
  let repo: GitRepo;
  let dir: string;
  let server: GitHubServer;
  let first: string;
  let second: string;
  before(async () => {
    repo = await createGitRepo();
    dir = repo.dir;
    first = await repo.commitFiles({
      'base/kustomization.yaml': 'resources: [deploy.yaml]\n',
      'base/deploy.yaml': 'kind: Deployment\n',
      'overlays/prod/kustomization.yaml': 'resources: [../../base]\nimages: [{name: a, newTag: "1"}]\n',
      'overlays/dev/kustomization.yaml': 'resources: [../../base]\n',
      'ünïcode.txt': 'é\n',
      'big.yaml': `# ${'x'.repeat(1024 * 1024)}\n`,
    });
    second = await repo.commitFiles({
      'overlays/prod/kustomization.yaml': 'resources: [../../base]\nimages: [{name: a, newTag: "2"}]\n',
    });
    server = await startGitHubServer({ repository: 'acme/deploy', gitDirectory: dir });
  });
  after(async () => {
    await server?.stop();
    await repo?.remove();
  });

  const source = (url = server.url, token = server.token, maxRetryAfterMs?: number): GitHubFileSource =>
    new GitHubFileSource(createGitHubClient({ token, apiUrl: url }), {
      repository: 'acme/deploy',
      baseDelayMs: 1,
      ...(maxRetryAfterMs === undefined ? {} : { maxRetryAfterMs }),
    });

  it('reads files, directories and kinds exactly as git holds them', async () => {
    // Prepare
    const files = source();
    // Act
    const root = await files.listDirectory(first, '');
    const overlays = await files.listDirectory(first, 'overlays');
    const text = await files.readFile(second, 'overlays/prod/kustomization.yaml');
    const unicode = await files.readFile(first, 'ünïcode.txt');
    const kinds = await Promise.all(
      ['', 'base', 'base/deploy.yaml', 'missing', 'base/missing/x'].map((p) => files.kindOf(first, p)),
    );
    // Assess
    assert.deepEqual(root, [
      { name: 'base', kind: 'directory' },
      { name: 'big.yaml', kind: 'file' },
      { name: 'overlays', kind: 'directory' },
      { name: 'ünïcode.txt', kind: 'file' },
    ]);
    assert.deepEqual(overlays, [
      { name: 'dev', kind: 'directory' },
      { name: 'prod', kind: 'directory' },
    ]);
    assert.equal(text, await repo.git('show', `${second}:overlays/prod/kustomization.yaml`));
    assert.equal(unicode, 'é\n');
    assert.deepEqual(kinds, ['directory', 'directory', 'file', undefined, undefined]);
  });

  it('makes one tree call per revision and one blob call per distinct blob', async () => {
    // Prepare
    const files = source();
    server.clearRequests();
    // Act: base/deploy.yaml is the same blob in both revisions; prod differs.
    await Promise.all(
      [first, second].flatMap((rev) => [
        files.readFile(rev, 'base/deploy.yaml'),
        files.readFile(rev, 'base/deploy.yaml'),
        files.readFile(rev, 'overlays/prod/kustomization.yaml'),
        files.listDirectory(rev, 'overlays'),
      ]),
    );
    // Assess
    const paths = server.requests().map((r) => r.path);
    assert.equal(paths.filter((p) => p.includes('/git/trees/')).length, 2);
    assert.equal(paths.filter((p) => p.includes('/git/blobs/')).length, 3);
    assert.equal(files.apiCalls, 5);
  });

  it('falls back to per-directory trees when GitHub truncates the recursive one', async () => {
    // Prepare
    const truncating = await startGitHubServer({
      repository: 'acme/deploy',
      gitDirectory: dir,
      recursiveTreeLimit: 1,
    });
    try {
      const files = source(truncating.url, truncating.token);
      // Act
      const text = await files.readFile(first, 'overlays/dev/kustomization.yaml');
      const listing = await files.listDirectory(first, 'base');
      // Assess
      assert.equal(text, 'resources: [../../base]\n');
      assert.deepEqual(
        listing.map((e) => e.name),
        ['deploy.yaml', 'kustomization.yaml'],
      );
      const trees = truncating
        .requests()
        .map((r) => r.path)
        .filter((p) => p.includes('/git/trees/'));
      assert.equal(trees.filter((p) => p.endsWith('?recursive=1')).length, 1);
      assert.equal(trees.length, 5); // recursive, root, overlays, overlays/dev, base
    } finally {
      await truncating.stop();
    }
  });

  it('refuses to read a directory, a missing file or a file over maxFileBytes as a file', async () => {
    const files = new GitHubFileSource(createGitHubClient({ token: server.token, apiUrl: server.url }), {
      repository: 'acme/deploy',
      maxFileBytes: 1024 * 1024,
    });
    await assert.rejects(files.readFile(first, 'base'), OverlayError);
    await assert.rejects(files.readFile(first, 'base/nope.yaml'), /base\/nope.yaml: file not found/);
    await assert.rejects(files.listDirectory(first, 'base/deploy.yaml'), OverlayError);
    server.clearRequests();
    await assert.rejects(
      files.readFile(first, 'big.yaml'),
      /^PlanningLimitError: big.yaml: planning.maxFileBytes reached: file is 1048579 bytes, over 1048576$/,
    );
    assert.equal(server.requests().filter((r) => r.path.includes('/git/blobs/')).length, 0);
  });

  const faults: readonly {
    readonly name: string;
    readonly failures: number;
    readonly status: number;
    readonly token?: string;
    readonly maxRetryAfterMs?: number;
    readonly expect: { readonly ok: boolean; readonly retryable?: boolean; readonly requests: number };
  }[] = [
    { name: 'one 502 is retried', failures: 1, status: 502, expect: { ok: true, requests: 3 } },
    {
      name: 'one 429 is retried after Retry-After',
      failures: 1,
      status: 429,
      expect: { ok: true, requests: 3 },
    },
    {
      name: 'one 403 secondary rate limit is retried',
      failures: 1,
      status: 403,
      expect: { ok: true, requests: 3 },
    },
    {
      name: 'a Retry-After longer than allowed is not waited for, retryable',
      failures: 1,
      status: 429,
      maxRetryAfterMs: 500,
      expect: { ok: false, retryable: true, requests: 1 },
    },
    {
      name: 'three 503s give up, retryable',
      failures: 3,
      status: 503,
      expect: { ok: false, retryable: true, requests: 3 },
    },
    {
      name: 'a bad token is not retried',
      failures: 0,
      status: 0,
      token: 'wrong',
      expect: { ok: false, retryable: false, requests: 1 },
    },
  ];
  for (const c of faults) {
    it(`faults: ${c.name}`, async () => {
      // Prepare
      const files = source(server.url, c.token ?? server.token, c.maxRetryAfterMs);
      server.clearRequests();
      if (c.failures > 0) server.failNext(c.failures, c.status);
      // Act
      const outcome = await files.readFile(first, 'base/deploy.yaml').then(
        (text) => ({ text }),
        (e: unknown) => ({ error: e }),
      );
      server.failNext(0);
      // Assess
      if (c.expect.ok) assert.deepEqual(outcome, { text: 'kind: Deployment\n' });
      else {
        assert.ok('error' in outcome && outcome.error instanceof GitHubError);
        assert.equal(outcome.error.retryable, c.expect.retryable);
      }
      assert.equal(server.requests().length, c.expect.requests);
      assert.equal(files.apiCalls, c.expect.requests);
    });
  }

  it('reports commit statuses with context, one-line description and target URL', async () => {
    // Prepare
    const reporter = createGitHubStatusReporter(
      createGitHubClient({ token: server.token, apiUrl: server.url }),
    );
    // Act
    await reporter.report({
      repository: 'acme/deploy',
      commit: second,
      environment: 'prod',
      state: 'failure',
      description: `overlays/prod/kustomization.yaml:3: ${'x'.repeat(200)}\nsecond line`,
      targetUrl: 'https://example.com/runs/1',
    });
    await reporter.report({
      repository: 'acme/deploy',
      commit: second,
      environment: 'dev',
      state: 'success',
      description: 'no image changes',
    });
    // Assess
    const statuses = server.statuses(second);
    assert.equal(statuses.length, 2);
    assert.equal(statuses[0]!.context, 'image-promotion/prod');
    assert.equal(statuses[0]!.state, 'failure');
    assert.equal([...statuses[0]!.description!].length, 140);
    assert.ok(statuses[0]!.description!.startsWith('overlays/prod/kustomization.yaml:3: xxx'));
    assert.equal(statuses[0]!.target_url, 'https://example.com/runs/1');
    assert.deepEqual(
      { context: statuses[1]!.context, state: statuses[1]!.state, description: statuses[1]!.description },
      { context: 'image-promotion/dev', state: 'success', description: 'no image changes' },
    );
  });

  it('turns a status on an unknown commit into a permanent GitHubError', async () => {
    const reporter = createGitHubStatusReporter(
      createGitHubClient({ token: server.token, apiUrl: server.url }),
      {
        baseDelayMs: 1,
      },
    );
    const error = await reporter
      .report({
        repository: 'acme/deploy',
        commit: 'f'.repeat(40),
        environment: 'prod',
        state: 'pending',
        description: 'x',
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(error instanceof GitHubError);
    assert.equal(error.status, 422);
    assert.equal(error.retryable, false);
    assert.match(error.message, /No commit found for SHA/);
  });

  it('maps network failures to retryable errors', () => {
    const error = toGitHubError(Object.assign(new Error('fetch failed'), { status: 500 }), 'read tree');
    assert.equal(error.retryable, true);
    assert.equal(toGitHubError(new TypeError('boom'), 'x').retryable, true);
  });
});
