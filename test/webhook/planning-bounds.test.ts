// Planning a push stays within its budgets whatever the pusher wrote: an alias bomb, a DAG of shared
// bases whose output doubles at every level, an overlay of 4,000 files. Each ends with a `failure`
// commit status naming the limit and the file, a 202 (the pusher's error, never a 5xx), and at most the
// configured number of GitHub API calls. The GitHub test server over a real git repository counts them.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { parseConfig, type Config } from '../../lambdas/core/config';
import { createWebhookHandler, type WebhookHandler } from '../../lambdas/webhook/handler';
import type { DeliveryLog } from '../../lambdas/webhook/process-delivery';
import { createGitRepo, type GitRepo } from '../support/git-repo';
import { startGitHubServer, type GitHubServer } from '../support/github-server';
import { doublingDag, fileFlood, functionUrlEvent, podYaml, pushPayload } from './fixtures';

const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const PROD = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
const SECRET = 'bounds-secret';
const MAX_GITHUB_CALLS = 200;

const config: Config = parseConfig(
  JSON.stringify({
    github: { repository: 'acme/deploy' },
    environments: [
      { name: 'prod', overlay: 'overlays/prod', source: { registry: SRC }, destination: { registry: PROD } },
    ],
    planning: { maxGitHubCalls: MAX_GITHUB_CALLS },
  }),
);

const pod = (name: string): string => podYaml(name, `${PROD}/shop/api:1.0`);

/** "Billion laughs": 9 anchors, each a list of 9 aliases of the previous one (1.4 KB of YAML). */
function aliasBomb(): string {
  let text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n';
  text += `  a0: &a0 [${Array<string>(9).fill('lol').join(', ')}]\n`;
  for (let level = 1; level < 9; level++) {
    text += `  a${level}: &a${level} [${Array<string>(9)
      .fill(`*a${level - 1}`)
      .join(', ')}]\n`;
  }
  return text;
}

describe('webhook planning within budgets', () => {
  let repo: GitRepo;
  let github: GitHubServer;
  let handler: WebhookHandler;
  let base: string;
  const logs: string[] = [];

  before(async () => {
    repo = await createGitRepo({
      'overlays/prod/kustomization.yaml': 'resources: [pod.yaml]\n',
      'overlays/prod/pod.yaml': pod('p'),
    });
    base = (await repo.git('rev-parse', 'HEAD')).trim();
    github = await startGitHubServer({ repository: 'acme/deploy', gitDirectory: repo.dir });
    const record = (message: string, attributes: Readonly<Record<string, unknown>> = {}): void => {
      logs.push(`${message} ${JSON.stringify(attributes)}`);
    };
    const log: DeliveryLog = { info: record, warn: record, error: record };
    handler = createWebhookHandler({
      config,
      log,
      env: { WEBHOOK_SECRET: SECRET, GITHUB_TOKEN: github.token, GITHUB_API_URL: github.url },
      // The budgets are what is tested here, not the deadline: on a loaded machine 4,000 files can
      // take longer than the default.
      planningDeadlineMs: 120_000,
    });
  });
  after(async () => {
    await Promise.all([github?.stop(), repo?.remove()]);
  });
  beforeEach(() => {
    github?.clearRequests();
  });

  const cases: readonly {
    readonly name: string;
    readonly files: () => Record<string, string>;
    readonly description: RegExp;
  }[] = [
    {
      name: 'a YAML alias bomb',
      files: () => ({
        'overlays/prod/kustomization.yaml': 'resources: [pod.yaml, lol.yaml]\n',
        'overlays/prod/lol.yaml': aliasBomb(),
      }),
      description: /^overlays\/prod\/lol\.yaml:6: excessive aliasing/,
    },
    {
      name: 'a 46-level DAG of shared bases doubling at each level',
      files: () => doublingDag(`${PROD}/shop/api:1.0`),
      description:
        /^overlays\/prod: dag\/[ab]\d+\/kustomization\.yaml: planning\.maxResources reached: more than 10000 resources/,
    },
    {
      name: 'an overlay of 4,000 files',
      files: () => fileFlood(`${PROD}/shop/api:1.0`),
      description:
        /^overlays\/prod\/f\d+\.yaml: planning\.maxGitHubCalls reached: more than 200 GitHub API calls/,
    },
  ];

  for (const c of cases) {
    it(`${c.name}: a failure status naming limit and file, within ${MAX_GITHUB_CALLS} GitHub calls`, async () => {
      // Prepare
      await repo.git('checkout', '-q', '--detach', base);
      const commit = await repo.commitFiles(c.files());
      const body = JSON.stringify(pushPayload({ repository: 'acme/deploy', before: base, after: commit }));

      // Act
      const response = await handler(await functionUrlEvent(body, { secret: SECRET }));

      // Assess
      assert.equal(response.statusCode, 202, String(response.body));
      const statuses = github.statuses(commit);
      assert.equal(statuses.length, 1);
      assert.equal(statuses[0]!.state, 'failure');
      assert.match(statuses[0]!.description ?? '', c.description);
      const reads = github.requests().filter((r) => r.path.includes('/git/'));
      assert.ok(reads.length <= MAX_GITHUB_CALLS, `${reads.length} GitHub calls`);
    });
  }
});
