// `npm run bench:webhook [-- --runs N --latency MS]`: one signed push touching 20 overlays x 10 images
// through the real webhook handler (signature, GitHub FileSource, planning, DynamoDB claim, SQS
// enqueue on moto, 20 commit statuses) with MS (default 30) of latency injected on every GitHub
// API request. Target: plans and enqueues in <= 2 s. Prints the GitHub API calls per push and, as
// baselines measured in the same process on the same commits, planPush over the local git
// FileSource and over the GitHub FileSource without latency. The destination is a loopback
// docker-registry holding none of the images: with webhook.checkRegistries (the default) each push
// makes webhook.maxRegistryChecks (50) manifest HEADs before enqueuing; a second handler with the
// check off runs alternately in the same loop, so the check's cost is read as a same-run ratio.
// Writes bench/results/webhook.md.
// A benchmark, not a test: it reports and asserts nothing.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, PurgeQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GitFileSource } from '../lambdas/adapters/git-file-source';
import { createGitHubClient, GitHubFileSource } from '../lambdas/adapters/github';
import { parseConfig } from '../lambdas/core/config';
import type { FileSource } from '../lambdas/core/file-source';
import { planPush } from '../lambdas/core/plan';
import { createWebhookHandler } from '../lambdas/webhook/handler';
import type { DeliveryLog } from '../lambdas/webhook/process-delivery';
import { createGitRepo } from '../test/support/git-repo';
import { startGitHubServer } from '../test/support/github-server';
import { startMoto } from '../test/support/moto-server';
import { startRegistry } from '../test/support/registry-server';
import { functionUrlEvent, pushPayload } from '../test/webhook/fixtures';

const OVERLAYS = 20;
const IMAGES = 10;
const TARGET_MS = 2000;
const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const DST = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
const SECRET = 'bench-secret';

const { values: flags } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, latency: { type: 'string', default: '30' } },
});
const RUNS = Number(flags.runs);
const LATENCY_MS = Number(flags.latency);

const pad = (n: number): string => String(n).padStart(2, '0');

function overlayFiles(tag: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (let o = 0; o < OVERLAYS; o++) {
    const dir = `overlays/env-${pad(o)}`;
    files[`${dir}/kustomization.yaml`] = `namespace: env-${pad(o)}\nresources:\n  - deployment.yaml\n`;
    const containers = Array.from(
      { length: IMAGES },
      (_, i) => `        - name: c${i}\n          image: ${DST}/team-${pad(o)}/svc-${pad(i)}:${tag}\n`,
    ).join('');
    files[`${dir}/deployment.yaml`] =
      `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n${containers}`;
  }
  return files;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

async function timePlan(open: () => FileSource, before: string, after: string): Promise<number[]> {
  const times: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const source = open();
    const started = performance.now();
    const results = await planPush(source, config, before, after);
    times.push(performance.now() - started);
    if (results.some((x) => x.kind !== 'planned')) throw new Error('baseline plan failed');
    if ('close' in source && typeof source.close === 'function') (source as { close(): void }).close();
  }
  return times;
}

const registry = await startRegistry({ auth: false });
const configWith = (checkRegistries: boolean): ReturnType<typeof parseConfig> =>
  parseConfig(
    JSON.stringify({
      github: { repository: 'acme/overlays' },
      environments: Array.from({ length: OVERLAYS }, (_, o) => ({
        name: `env-${pad(o)}`,
        overlay: `overlays/env-${pad(o)}`,
        source: { registry: SRC },
        destination: { registry: DST },
      })),
      registryEndpoints: { [DST]: registry.url },
      webhook: { checkRegistries },
    }),
  );
const config = configWith(true);

const repo = await createGitRepo(overlayFiles('1.0'));
const before = (await repo.git('rev-parse', 'HEAD')).trim();
const after = await repo.commitFiles(overlayFiles('1.1'));
const [github, moto] = await Promise.all([
  startGitHubServer({ repository: 'acme/overlays', gitDirectory: repo.dir, checkContract: false }),
  startMoto(),
]);
const restoreEnv = moto.applyToProcess();
try {
  const sqs = new SQSClient({});
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'bench-jobs' }))).QueueUrl!;
  await new DynamoDBClient({}).send(
    new CreateTableCommand({
      TableName: 'bench-deliveries',
      KeySchema: [{ AttributeName: 'deliveryId', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'deliveryId', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  const planned: Record<string, unknown>[] = [];
  const log: DeliveryLog = {
    info: (message, attributes = {}) => {
      if (message === 'push planned') planned.push({ ...attributes });
    },
    warn: () => undefined,
    error: (message, attributes = {}) => console.error(message, attributes),
  };
  const env = {
    WEBHOOK_SECRET: SECRET,
    GITHUB_TOKEN: github.token,
    GITHUB_API_URL: github.url,
    QUEUE_URL: queueUrl,
    DELIVERIES_TABLE: 'bench-deliveries',
  };
  const handler = createWebhookHandler({ config, log, env });
  const unchecked = createWebhookHandler({ config: configWith(false), log, env });
  const body = JSON.stringify(pushPayload({ repository: 'acme/overlays', before, after }));

  // Warm-up (module loading, connection pools), not counted.
  github.setLatency(0);
  await handler(await functionUrlEvent(body, { secret: SECRET, deliveryId: 'warm-up' }));
  await unchecked(await functionUrlEvent(body, { secret: SECRET, deliveryId: 'warm-up-unchecked' }));
  github.setLatency(LATENCY_MS);

  const webhookTimes: number[] = [];
  const uncheckedTimes: number[] = [];
  const apiCalls: number[] = [];
  const allRequests: number[] = [];
  // Alternating (checked, then unchecked) so both see the same machine load.
  for (let r = 0; r < RUNS; r++) {
    for (const [name, run, times] of [
      ['checked', handler, webhookTimes],
      ['unchecked', unchecked, uncheckedTimes],
    ] as const) {
      await sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined);
      github.clearRequests();
      // A body of its own: deliveries are deduplicated on the body's sha256.
      const runBody = JSON.stringify({ ...JSON.parse(body), bench_run: `${name}-${r}` });
      const event = await functionUrlEvent(runBody, { secret: SECRET, deliveryId: `bench-${name}-${r}` });
      const started = performance.now();
      const response = await run(event);
      times.push(performance.now() - started);
      if (response.statusCode !== 202)
        throw new Error(`webhook answered ${response.statusCode}: ${response.body}`);
      const jobs = (JSON.parse(String(response.body)) as { jobs: unknown[] }).jobs.length;
      if (jobs !== OVERLAYS) throw new Error(`expected ${OVERLAYS} jobs, got ${jobs}`);
      if (name === 'checked') {
        apiCalls.push(Number(planned.at(-1)?.['githubApiCalls']));
        allRequests.push(github.requests().length);
      }
    }
  }

  github.setLatency(0);
  const gitTimes = await timePlan(() => new GitFileSource(repo.dir), before, after);
  const client = createGitHubClient({ token: github.token, apiUrl: github.url });
  const githubNoLatency = await timePlan(
    () => new GitHubFileSource(client, { repository: 'acme/overlays' }),
    before,
    after,
  );
  github.setLatency(LATENCY_MS);
  const githubLatency = await timePlan(
    () => new GitHubFileSource(client, { repository: 'acme/overlays' }),
    before,
    after,
  );

  const ms = (v: number): string => `${v.toFixed(0)} ms`;
  const lines = [
    `# webhook benchmark`,
    '',
    `Push touching ${OVERLAYS} overlays x ${IMAGES} images (${OVERLAYS * IMAGES} promotions, ${OVERLAYS} jobs, ` +
      `${OVERLAYS} statuses); ${RUNS} runs, median; GitHub test server latency ${LATENCY_MS} ms per request; ` +
      `${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}.`,
    '',
    '| what | median | min | max | target |',
    '| --- | --- | --- | --- | --- |',
    `| webhook handler: verify, plan over GitHub (${LATENCY_MS} ms), 50 destination HEADs, claim, enqueue, statuses | ${ms(median(webhookTimes))} | ${ms(Math.min(...webhookTimes))} | ${ms(Math.max(...webhookTimes))} | <= ${TARGET_MS} ms: ${median(webhookTimes) <= TARGET_MS ? 'met' : 'MISSED'} |`,
    `| the same, webhook.checkRegistries: false (alternating runs) | ${ms(median(uncheckedTimes))} | ${ms(Math.min(...uncheckedTimes))} | ${ms(Math.max(...uncheckedTimes))} | checked / unchecked: ${(median(webhookTimes) / median(uncheckedTimes)).toFixed(2)}x |`,
    `| planPush over GitHub FileSource, ${LATENCY_MS} ms latency | ${ms(median(githubLatency))} | ${ms(Math.min(...githubLatency))} | ${ms(Math.max(...githubLatency))} | |`,
    `| baseline: planPush over GitHub FileSource, no latency | ${ms(median(githubNoLatency))} | ${ms(Math.min(...githubNoLatency))} | ${ms(Math.max(...githubNoLatency))} | |`,
    `| baseline: planPush over local git FileSource | ${ms(median(gitTimes))} | ${ms(Math.min(...gitTimes))} | ${ms(Math.max(...gitTimes))} | |`,
    '',
    `GitHub API calls per push: ${median(apiCalls)} for planning (2 recursive trees + one per distinct blob), ` +
      `${median(allRequests)} in all with the ${OVERLAYS} commit statuses.`,
    '',
  ];
  const text = lines.join('\n');
  console.log(text);
  await mkdir(join('bench', 'results'), { recursive: true });
  await writeFile(join('bench', 'results', 'webhook.md'), text);
} finally {
  restoreEnv();
  await Promise.all([github.stop(), moto.stop(), repo.remove(), registry.stop()]);
}
