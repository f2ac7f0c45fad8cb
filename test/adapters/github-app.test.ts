// GitHub App authentication against the GitHub test server, which verifies the App's JWT (RS256)
// with the App's public key: the installation is found from the repository, the installation token
// is cached until shortly before it expires, a wrong key is a one-line permanent error, and the
// secrets adapter hands the App's token to the same code paths as a plain token.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createGitHubCheckReporter,
  createGitHubClient,
  createGitHubStatusReporter,
} from '../../lambdas/adapters/github';
import {
  createInstallationTokenSource,
  INSTALLATION_TOKEN_REFRESH_MARGIN_MS,
  parseAppCredentials,
  parseAppPrivateKey,
} from '../../lambdas/adapters/github-app';
import { createWebhookSecrets, type SecretReader } from '../../lambdas/adapters/secrets';
import { ConfigError, GitHubError } from '../../lambdas/core/errors';
import { createGitRepo, type GitRepo } from '../support/git-repo';
import { startGitHubServer, type GitHubServer } from '../support/github-server';

const APP_ID = 4242;
const INSTALLATION_ID = 77;

function rsaKeyPair(): { privateKey: string; publicKey: string } {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
}

describe('GitHub App authentication', () => {
  let repo: GitRepo;
  let github: GitHubServer;
  let keys: { privateKey: string; publicKey: string };
  let commit: string;
  const tokenLifetimeMs = INSTALLATION_TOKEN_REFRESH_MARGIN_MS + 60_000;

  before(async () => {
    keys = rsaKeyPair();
    repo = await createGitRepo({ 'README.md': 'app\n' });
    commit = (await repo.git('rev-parse', 'HEAD')).trim();
    github = await startGitHubServer({
      repository: 'acme/deploy',
      gitDirectory: repo.dir,
      app: { id: APP_ID, publicKey: keys.publicKey, installationId: INSTALLATION_ID, tokenLifetimeMs },
    });
  });
  after(async () => {
    await Promise.all([github?.stop(), repo?.remove()]);
  });

  it('finds the installation, gets a token for the repository, caches it until shortly before expiry', async () => {
    // Prepare
    github.clearRequests();
    let now = Date.now();
    const source = createInstallationTokenSource({
      credentials: { appId: String(APP_ID), privateKey: keys.privateKey },
      repository: 'acme/deploy',
      apiUrl: github.url,
      clock: () => now,
    });
    // Act
    const [first, concurrent] = await Promise.all([source.token(), source.token()]);
    const cached = await source.token();
    now += tokenLifetimeMs - INSTALLATION_TOKEN_REFRESH_MARGIN_MS + 30_000; // less than the margin left
    const renewed = await source.token();
    // Assess
    assert.match(first, /^ghs_/);
    assert.equal(concurrent, first);
    assert.equal(cached, first);
    assert.notEqual(renewed, first);
    assert.deepEqual(
      github.requests().map((r) => `${r.method} ${r.path} ${r.status}`),
      [
        'GET /repos/acme/deploy/installation 200',
        `POST /app/installations/${INSTALLATION_ID}/access_tokens 201`,
        `POST /app/installations/${INSTALLATION_ID}/access_tokens 201`,
      ],
    );
    assert.deepEqual(JSON.parse(github.requests()[1]!.body), { repositories: ['deploy'] });
    assert.equal(source.apiCalls, 3);
    // The installation token reads the repository.
    const response = await fetch(`${github.url}/repos/acme/deploy/commits/${commit}`, {
      headers: { authorization: `Bearer ${renewed}` },
    });
    assert.equal(response.status, 200);
  });

  it('a key that is not the App key: a permanent GitHubError naming what to check, no key in it', async () => {
    // Prepare
    const other = rsaKeyPair();
    const source = createInstallationTokenSource({
      credentials: { appId: String(APP_ID), privateKey: other.privateKey, installationId: INSTALLATION_ID },
      repository: 'acme/deploy',
      apiUrl: github.url,
    });
    // Act
    const error = await source.token().then(
      () => undefined,
      (e: unknown) => e,
    );
    // Assess
    assert.ok(error instanceof GitHubError);
    assert.equal(error.retryable, false);
    assert.equal(error.status, 401);
    assert.match(
      error.message,
      /check the App id and private key, and that the App is installed on acme\/deploy/,
    );
    assert.ok(!error.message.includes('PRIVATE KEY'));
  });

  it('refuses keys and secrets that cannot work, naming the field and never the value', () => {
    assert.throws(
      () => parseAppPrivateKey('not a key', 'GitHub App 1'),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.message.includes('not a key'), false);
        return /privateKey: is not an RSA private key/.test(e.message);
      },
    );
    assert.throws(
      () => parseAppCredentials('{"appId": "x", "privateKey": "k"}', 'arn:secret'),
      /appId: must be the App ID/,
    );
    assert.throws(
      () => parseAppCredentials('{"appId": 1}', 'arn:secret'),
      /privateKey: must be the PEM private key/,
    );
    assert.deepEqual(parseAppCredentials('{"appId": 1, "privateKey": "k", "installationId": "5"}', 'arn'), {
      appId: '1',
      privateKey: 'k',
      installationId: 5,
    });
  });

  it('the secrets adapter: App credentials from the environment (key file) win over a token', async () => {
    // Prepare
    const dir = await mkdtemp(join(tmpdir(), 'app-key-'));
    const keyFile = join(dir, 'app.pem');
    await writeFile(keyFile, keys.privateKey);
    const reader: SecretReader = { read: () => Promise.reject(new Error('no secret should be read')) };
    const secrets = createWebhookSecrets(
      {
        GITHUB_TOKEN: 'a-plain-token',
        GITHUB_APP_ID: String(APP_ID),
        GITHUB_APP_PRIVATE_KEY_FILE: keyFile,
        GITHUB_APP_INSTALLATION_ID: String(INSTALLATION_ID),
      },
      () => reader,
      () => Promise.resolve({ repository: 'acme/deploy', apiUrl: github.url }),
    );
    const plain = createWebhookSecrets({ GITHUB_TOKEN: 'a-plain-token' }, () => reader);
    try {
      // Act
      const token = await secrets.githubToken();
      // Assess
      assert.equal(secrets.githubAuthKind(), 'app');
      assert.match(token, /^ghs_/);
      assert.equal(await secrets.githubToken(), token);
      assert.equal(plain.githubAuthKind(), 'token');
      assert.equal(await plain.githubToken(), 'a-plain-token');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('check runs with the App token: pending queues one, success completes that same run; a token is refused', async () => {
    // Prepare
    const sha = await repo.commitFiles({ 'b.txt': 'checks\n' });
    const source = createInstallationTokenSource({
      credentials: { appId: String(APP_ID), privateKey: keys.privateKey, installationId: INSTALLATION_ID },
      repository: 'acme/deploy',
      apiUrl: github.url,
    });
    const octokit = createGitHubClient({
      token: await source.token(),
      apiUrl: github.url,
      requestTimeoutMs: 30_000,
    });
    const reporter = createGitHubCheckReporter(octokit, { attempts: 1 });
    const base = { repository: 'acme/deploy', commit: sha, environment: 'prod' } as const;
    // Act
    // The job's id is the run's external_id: the worker's final report completes the run it names.
    await reporter.report({ ...base, state: 'pending', description: 'promoting 1 image', jobId: 'd-1' });
    await reporter.report({
      ...base,
      state: 'success',
      description: '1 image promoted, 2 MB, 1 s',
      jobId: 'd-1',
    });
    await reporter.report({
      ...base,
      environment: 'staging',
      state: 'failure',
      description: 'shop/web:3.0: manifest unknown',
    });
    const withToken = createGitHubCheckReporter(
      createGitHubClient({ token: github.token, apiUrl: github.url }),
      { attempts: 1 },
    );
    const refused = await withToken.report({ ...base, state: 'pending', description: 'x' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Assess
    const runs = github.checkRuns(sha);
    assert.deepEqual(
      runs.map((r) => `${r.name} ${r.status} ${r.conclusion} ${r.output.title}`),
      [
        'image-promotion/prod completed success 1 image promoted, 2 MB, 1 s',
        'image-promotion/staging completed failure shop/web:3.0: manifest unknown',
      ],
    );
    assert.ok(refused instanceof GitHubError && refused.status === 403);
    // The plain status path stays for tokens.
    await createGitHubStatusReporter(createGitHubClient({ token: github.token, apiUrl: github.url })).report({
      ...base,
      state: 'success',
      description: 'no image changes',
    });
    assert.equal(github.statuses(sha).length, 1);
  });
});
