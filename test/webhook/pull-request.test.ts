// Pull-request deliveries through processDelivery with the real GitHub adapters (FileSource with the
// merge base from Compare two commits, status reporter) against the GitHub test server over a real
// git repository with a base branch that moved on: the pull request is planned from its merge base,
// reported on its head commit, promoted (or only planned), and closing it enqueues nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sign } from '@octokit/webhooks-methods';
import { createMemoryDeliveryStore } from '../../lambdas/adapters/delivery-store';
import {
  createGitHubClient,
  createGitHubStatusReporter,
  GitHubFileSource,
} from '../../lambdas/adapters/github';
import { parseConfig, type Config } from '../../lambdas/core/config';
import type { PromotionJob } from '../../lambdas/core/job';
import type { JobQueue } from '../../lambdas/core/webhook-ports';
import {
  processDelivery,
  type DeliveryLog,
  type WebhookResponse,
} from '../../lambdas/webhook/process-delivery';
import { createGitRepo, type GitRepo } from '../support/git-repo';
import { startGitHubServer, type GitHubServer } from '../support/github-server';
import { pullRequestPayload, type PullRequestFields } from './fixtures';

const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const PROD = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
const STAGING = '333333333333.dkr.ecr.us-east-1.amazonaws.com';
const SECRET = 'pr-secret';

const kustomization = 'resources:\n  - deployment.yaml\n';
const deployment = (image: string): string =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: ${image}\n`;

function configWith(pullRequests: 'promote' | 'plan'): Config {
  return parseConfig(
    JSON.stringify({
      github: { repository: 'acme/deploy', pullRequests },
      environments: [
        {
          name: 'prod',
          overlay: 'overlays/prod',
          source: { registry: SRC },
          destination: { registry: PROD },
        },
        {
          name: 'staging',
          overlay: 'overlays/staging',
          source: { registry: SRC },
          destination: { registry: STAGING },
        },
      ],
    }),
  );
}

describe('pull request deliveries', () => {
  let repo: GitRepo;
  let github: GitHubServer;
  let mergeBase: string; // prod api:1.1, staging api:1.0
  let mainTip: string; // main moved on: prod api:1.2
  let head: string; // the pull request (from mergeBase): prod api:1.2, staging api:2.0
  const sent: PromotionJob[] = [];
  const logs: { message: string; attributes: Readonly<Record<string, unknown>> }[] = [];
  let counter = 0;

  before(async () => {
    repo = await createGitRepo({
      'overlays/prod/kustomization.yaml': kustomization,
      'overlays/prod/deployment.yaml': deployment(`${PROD}/shop/api:1.1`),
      'overlays/staging/kustomization.yaml': kustomization,
      'overlays/staging/deployment.yaml': deployment(`${STAGING}/shop/api:1.0`),
    });
    mergeBase = (await repo.git('rev-parse', 'HEAD')).trim();
    mainTip = await repo.commitFiles({ 'overlays/prod/deployment.yaml': deployment(`${PROD}/shop/api:1.2`) });
    await repo.git('checkout', '--quiet', '-b', 'promote/api', mergeBase);
    head = await repo.commitFiles({
      'overlays/prod/deployment.yaml': deployment(`${PROD}/shop/api:1.2`),
      'overlays/staging/deployment.yaml': deployment(`${STAGING}/shop/api:2.0`),
    });
    github = await startGitHubServer({ repository: 'acme/deploy', gitDirectory: repo.dir });
  });
  after(async () => {
    await Promise.all([github?.stop(), repo?.remove()]);
  });

  async function deliver(config: Config, fields: Partial<PullRequestFields> = {}): Promise<WebhookResponse> {
    const body = JSON.stringify(
      pullRequestPayload({
        repository: 'acme/deploy',
        action: 'opened',
        number: 12,
        baseSha: mainTip,
        headSha: head,
        headRef: 'promote/api',
        ...fields,
      }),
    );
    // Generous timeouts: the machine running the tests may be loaded; deadlines have their own tests.
    const octokit = createGitHubClient({ token: github.token, apiUrl: github.url, requestTimeoutMs: 30_000 });
    const queue: JobQueue = {
      send: (jobs) => {
        sent.push(...jobs);
        return Promise.resolve();
      },
    };
    const log: DeliveryLog = {
      info: (message, attributes = {}) => logs.push({ message, attributes }),
      warn: (message, attributes = {}) => logs.push({ message, attributes }),
      error: (message, attributes = {}) => logs.push({ message, attributes }),
    };
    return processDelivery(
      {
        method: 'POST',
        headers: {
          'x-github-event': 'pull_request',
          'x-github-delivery': `pr-delivery-${++counter}`,
          'x-hub-signature-256': await sign(SECRET, body),
          'content-type': 'application/json',
        },
        body: Buffer.from(body),
      },
      {
        config,
        webhookSecrets: () => Promise.resolve([SECRET]),
        openFileSource: () => Promise.resolve(new GitHubFileSource(octokit, { repository: 'acme/deploy' })),
        queue: () => Promise.resolve(queue),
        statusReporter: () => Promise.resolve(createGitHubStatusReporter(octokit)),
        deliveries: createMemoryDeliveryStore(),
        clock: () => new Date(),
        log,
      },
    );
  }

  const statusesOf = (sha: string): string[] =>
    github
      .statuses(sha)
      .map((s) => `${s.context} ${s.state} ${s.description ?? ''}`)
      .sort();

  it('promote: plans merge base -> head, enqueues jobs for the head commit, pending on the head', async () => {
    // Prepare
    sent.length = 0;
    github.clearRequests();
    // Act
    const response = await deliver(configWith('promote'));
    // Assess
    assert.equal(response.statusCode, 202);
    assert.deepEqual(JSON.parse(response.body), {
      message: 'promotions enqueued',
      jobs: [
        { environment: 'prod', promotions: 1 },
        { environment: 'staging', promotions: 1 },
      ],
      environments: { prod: 'pending', staging: 'pending' },
    });
    // From the base branch's tip (api:1.2 there already) prod would have nothing to promote: the
    // merge base is what the pull request changes.
    assert.deepEqual(
      sent.map((j) => `${j.environment} ${j.ref} ${j.commit === head} ${j.promotions[0]!.destination}`),
      [
        `prod refs/pull/12/head true ${PROD}/shop/api:1.2`,
        `staging refs/pull/12/head true ${STAGING}/shop/api:2.0`,
      ],
    );
    assert.deepEqual(statusesOf(head), [
      `image-promotion/prod pending promoting ${PROD}/shop/api:1.2`,
      `image-promotion/staging pending promoting ${STAGING}/shop/api:2.0`,
    ]);
    assert.deepEqual(statusesOf(mainTip), []);
    const compare = github.requests().filter((r) => r.path.includes('/compare/'));
    assert.deepEqual(
      compare.map((r) => r.path),
      [`/repos/acme/deploy/compare/${mainTip}...${head}?per_page=1`],
    );
    const planned = logs.find((l) => l.message === 'pull request planned');
    assert.equal(planned?.attributes['before'], mergeBase);
    assert.equal(planned?.attributes['pullRequest'], 12);
  });

  it('plan mode: success on the head saying what the merge will promote, nothing enqueued', async () => {
    // Prepare
    sent.length = 0;
    // Act
    const response = await deliver(configWith('plan'), { action: 'synchronize' });
    // Assess
    assert.equal(response.statusCode, 202);
    assert.equal(JSON.parse(response.body).message, 'planned only (github.pullRequests: plan)');
    assert.deepEqual(sent, []);
    assert.deepEqual(
      statusesOf(head).filter((s) => s.includes('success')),
      [
        `image-promotion/prod success plan only, promoted after the merge: ${PROD}/shop/api:1.2`,
        `image-promotion/staging success plan only, promoted after the merge: ${STAGING}/shop/api:2.0`,
      ],
    );
  });

  it('a fork: planned only, even in promote mode', async () => {
    // Prepare
    sent.length = 0;
    // Act
    const response = await deliver(configWith('promote'), { headRepository: 'stranger/deploy' });
    // Assess
    assert.equal(response.statusCode, 202);
    assert.equal(
      JSON.parse(response.body).message,
      'planned only (pull request from a fork: planned only, promoted by the push after the merge)',
    );
    assert.deepEqual(sent, []);
  });

  it('closed without merging: nothing enqueued, no status, the answer names prune', async () => {
    // Prepare
    sent.length = 0;
    github.clearRequests();
    // Act
    const response = await deliver(configWith('promote'), { action: 'closed', merged: false });
    // Assess
    assert.equal(response.statusCode, 202);
    assert.equal(
      JSON.parse(response.body).message,
      'ignored: pull request #12 closed without merging: images promoted for it stay until `image-promoter prune` removes them',
    );
    assert.deepEqual(sent, []);
    assert.deepEqual(github.requests(), []);
  });

  it('a head the server does not know: 500 (not retryable), claim released, nothing enqueued', async () => {
    // Prepare
    sent.length = 0;
    // Act
    const response = await deliver(configWith('promote'), { headSha: 'f'.repeat(40) });
    // Assess
    assert.equal(response.statusCode, 500);
    assert.match(
      JSON.parse(response.body).message,
      /^could not process the pull request: GitHub compare .* \(HTTP 404\)/,
    );
    assert.deepEqual(sent, []);
  });
});
