// The webhook looks each planned image up in the destination registry before it enqueues: a real
// docker-registry standing for ECR (its password is the token moto's GetAuthorizationToken issues,
// so the webhook authenticates as in AWS), behind a counting proxy; SQS on moto; the GitHub test
// server over a real git repository. Already present -> success, no job; a tag at another digest
// -> failure naming both, no job; an unreachable destination -> the job as before; the budget of
// lookups per delivery holds (the registry counts the HEADs).
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { CreateQueueCommand, PurgeQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { parseConfig, type Config } from '../../lambdas/core/config';
import { parsePromotionJob, type PromotionJob } from '../../lambdas/core/job';
import { PlanningDeadlineError } from '../../lambdas/core/errors';
import { createDestinationLookups } from '../../lambdas/webhook/destination-lookup';
import { createWebhookHandler, type WebhookHandler } from '../../lambdas/webhook/handler';
import type { DeliveryLog } from '../../lambdas/webhook/process-delivery';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { createGitRepo, type GitRepo } from '../support/git-repo';
import { startGitHubServer, type GitHubServer } from '../support/github-server';
import { pushRandomImage } from '../support/images';
import { startMoto, type MotoServer } from '../support/moto-server';
import { freePort } from '../support/processes';
import { startRegistry, type RegistryServer } from '../support/registry-server';
import { functionUrlEvent, podYaml, pullRequestPayload, pushPayload } from './fixtures';

const ACCOUNT = '222222222222';
const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const PROD = `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`;
const STAGING = '333333333333.dkr.ecr.us-east-1.amazonaws.com';
const SECRET = 'check-secret';
const MAX_CHECKS = 5;

const kustomization = (files: readonly string[]): string => `resources: [${files.join(', ')}]\n`;

/** An overlay of one Pod per image. */
function overlay(environment: string, images: readonly string[]): Record<string, string> {
  const files = Object.fromEntries(
    images.map((image, i) => [`overlays/${environment}/pod${i}.yaml`, podYaml(`p${i}`, image)]),
  );
  return {
    ...files,
    [`overlays/${environment}/kustomization.yaml`]: kustomization(images.map((_, i) => `pod${i}.yaml`)),
  };
}

/** The environment both configurations below promote into. */
const PROD_ENVIRONMENT = {
  name: 'prod',
  overlay: 'overlays/prod',
  source: { registry: SRC },
  destination: { registry: PROD },
};

describe('webhook destination check', () => {
  let repo: GitRepo;
  let github: GitHubServer;
  let moto: MotoServer;
  let registry: RegistryServer;
  let proxy: FaultProxy;
  let restoreEnv: () => void;
  let sqs: SQSClient;
  let queueUrl: string;
  let handler: WebhookHandler;
  let base: string;
  let api: string; // the digest of shop/api:1.0 in prod
  let web: string; // the digest of shop/web:2.0 in prod
  const logs: { level: string; message: string; attributes: Readonly<Record<string, unknown>> }[] = [];

  before(async () => {
    let closedPort: number;
    [repo, moto, registry, closedPort] = await Promise.all([
      createGitRepo({ ...overlay('prod', []), ...overlay('staging', []) }),
      startMoto({ defaultAccountId: ACCOUNT }),
      startRegistry({ password: `${ACCOUNT}-auth-token` }),
      freePort(),
    ]);
    base = (await repo.git('rev-parse', 'HEAD')).trim();
    [github, proxy] = await Promise.all([
      startGitHubServer({ repository: 'acme/deploy', gitDirectory: repo.dir }),
      startFaultProxy({ upstream: registry.url }),
    ]);
    restoreEnv = moto.applyToProcess();
    sqs = new SQSClient({});
    queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'jobs' }))).QueueUrl!;
    [api, web] = await Promise.all([
      pushRandomImage(`${registry.host}/shop/api:1.0`, registry).then((p) => p.digest),
      pushRandomImage(`${registry.host}/shop/web:2.0`, registry).then((p) => p.digest),
    ]);
    const config: Config = parseConfig(
      JSON.stringify({
        github: { repository: 'acme/deploy' },
        environments: [
          PROD_ENVIRONMENT,
          {
            name: 'staging',
            overlay: 'overlays/staging',
            source: { registry: SRC },
            destination: { registry: STAGING },
          },
        ],
        // prod through the counting proxy; staging's registry refuses connections.
        registryEndpoints: { [PROD]: proxy.url, [STAGING]: `http://127.0.0.1:${closedPort}` },
        webhook: { maxRegistryChecks: MAX_CHECKS },
      }),
    );
    const record =
      (level: string) =>
      (message: string, attributes: Readonly<Record<string, unknown>> = {}): void => {
        logs.push({ level, message, attributes });
      };
    const log: DeliveryLog = { info: record('info'), warn: record('warn'), error: record('error') };
    handler = createWebhookHandler({
      config,
      log,
      env: {
        WEBHOOK_SECRET: SECRET,
        GITHUB_TOKEN: github.token,
        GITHUB_API_URL: github.url,
        QUEUE_URL: queueUrl,
      },
      // Generous: the deadline is not the subject here (a loaded machine plans slowly).
      planningDeadlineMs: 60_000,
    });
  });
  after(async () => {
    restoreEnv?.();
    await Promise.all([github?.stop(), moto?.stop(), proxy?.stop(), registry?.stop(), repo?.remove()]);
  });
  beforeEach(async () => {
    logs.length = 0;
    proxy.setRules([]);
    await sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
  });

  /** Pushes `files` on top of the base commit and delivers it; the queued jobs and the statuses. */
  async function deliver(files: Record<string, string>): Promise<{
    readonly commit: string;
    readonly jobs: readonly PromotionJob[];
    readonly statuses: readonly string[];
    readonly heads: number;
  }> {
    await repo.git('checkout', '-q', '--detach', base);
    const commit = await repo.commitFiles(files);
    const body = JSON.stringify(pushPayload({ repository: 'acme/deploy', before: base, after: commit }));
    const response = await handler(await functionUrlEvent(body, { secret: SECRET }));
    assert.equal(response.statusCode, 202, String(response.body));
    const received = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    return {
      commit,
      jobs: (received.Messages ?? []).map((m) => parsePromotionJob(m.Body ?? '')),
      statuses: github
        .statuses(commit)
        .map((s) => `${s.context.replace('image-promotion/', '')} ${s.state} ${s.description ?? ''}`)
        .sort(),
      heads: proxy.requests().filter((r) => r.method === 'HEAD' && r.url.includes('/manifests/')).length,
    };
  }

  it('already present: success and no job; an unreachable destination: the job as before', async () => {
    // Act: prod pins the digest its registry holds; staging's registry cannot be reached.
    const result = await deliver({
      ...overlay('prod', [`${PROD}/shop/api:1.0@${api}`]),
      ...overlay('staging', [`${STAGING}/shop/api:1.0@${api}`]),
    });

    // Assess
    assert.deepEqual(result.statuses, [
      'prod success 1 image already present',
      `staging pending promoting ${STAGING}/shop/api:1.0@${api}`,
    ]);
    assert.deepEqual(
      result.jobs.map((j) => `${j.environment} ${j.promotions.map((p) => p.destination).join(' ')}`),
      [`staging ${STAGING}/shop/api:1.0@${api}`],
    );
    assert.equal(result.heads, 1);
    const warning = logs.find((l) => l.level === 'warn');
    assert.equal(warning?.message, 'destination not checked; the worker checks these images itself');
    assert.equal(warning?.attributes['environment'], 'staging');
    assert.match(String(warning?.attributes['reason']), /127\.0\.0\.1/);
  });

  it('a tag pointing at another digest: failure naming both digests, no job', async () => {
    // Act: the overlay pins shop/web:2.0 to api's digest; the destination's tag holds web's.
    const result = await deliver({
      ...overlay('prod', [`${PROD}/shop/web:2.0@${api}`, `${PROD}/shop/api:1.0@${api}`]),
    });

    // Assess
    assert.deepEqual(result.jobs, []);
    assert.deepEqual(result.statuses, [
      `prod failure tag conflict: shop/web:2.0 already points at ${web.slice(0, 19)}, not ` +
        `${api.slice(0, 19)}; promote a new tag or set copy.overwrite`,
      'staging success no image changes',
    ]);
  });

  it('tags without digests go to the worker; the lookups stop at webhook.maxRegistryChecks', async () => {
    // Act: one pinned image already there, eleven tags the destination lacks.
    const many = Array.from({ length: 11 }, (_, i) => `${PROD}/shop/many:1.${i}`);
    const result = await deliver(overlay('prod', [`${PROD}/shop/api:1.0@${api}`, ...many]));

    // Assess: every image in the job (the worker re-checks the present one), exactly MAX_CHECKS HEADs.
    assert.equal(result.heads, MAX_CHECKS);
    assert.deepEqual(
      result.jobs.map((j) => `${j.environment} ${j.promotions.length}`),
      ['prod 12'],
    );
    assert.deepEqual(result.statuses, [
      'prod pending promoting 12 images (11 to copy, 1 already present)',
      'staging success no image changes',
    ]);
  });

  it("a fork's pull request looks nothing up (its statuses are public)", async () => {
    // Prepare
    await repo.git('checkout', '-q', '--detach', base);
    const head = await repo.commitFiles(overlay('prod', [`${PROD}/shop/api:1.0@${api}`]));
    const body = JSON.stringify(
      pullRequestPayload({
        repository: 'acme/deploy',
        action: 'opened',
        baseSha: base,
        headSha: head,
        headRepository: 'someone/deploy',
      }),
    );

    // Act
    const response = await handler(await functionUrlEvent(body, { secret: SECRET, event: 'pull_request' }));

    // Assess: planned only, as before; not one HEAD.
    assert.equal(response.statusCode, 202, String(response.body));
    assert.equal(proxy.requests().length, 0);
    assert.match(
      github.statuses(head).find((s) => s.context === 'image-promotion/prod')?.description ?? '',
      /^plan only/,
    );
  });

  it('a lookup held past the deadline ends with the deadline, not with the registry', async () => {
    // Prepare: the registry holds its answers longer than any test waits.
    proxy.setRules([
      { name: 'slow', methods: ['HEAD'], path: /\/manifests\//, action: { kind: 'delay', ms: 120_000 } },
    ]);
    const lookups = createDestinationLookups(
      parseConfig(
        JSON.stringify({
          github: { repository: 'acme/deploy' },
          environments: [PROD_ENVIRONMENT],
          registryEndpoints: { [PROD]: proxy.url },
        }),
      ),
    );
    const deadline = new AbortController();
    const env = {
      name: 'prod',
      overlay: 'overlays/prod',
      source: { registry: SRC },
      destination: { registry: PROD, createRepositories: false },
    };

    // Act: the deadline fires once the HEAD reached the registry.
    const lookup = lookups(env, deadline.signal).digestOf('shop/api', '1.0');
    while (proxy.stats('slow').matched === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    deadline.abort(new PlanningDeadlineError(100, 'webhook.deadlineSeconds'));

    // Assess
    await assert.rejects(lookup, PlanningDeadlineError);
  });
});
