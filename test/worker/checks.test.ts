// The worker reports through check runs when image-promoter runs as a GitHub App: the run the webhook
// queued for the job (found by its external_id, the job's deliveryId) goes in_progress when the worker
// starts the job and is completed with the conclusion, a title and a Markdown summary with one row per
// image (image, source → destination, digest, bytes, result) and the failure's one-line reason. Real
// registries, moto and the GitHub test server (which checks every exchange against GitHub's OpenAPI
// description when it stops). Several jobs on one commit each complete their own run.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createGitHubCheckReporter, createGitHubClient } from '../../lambdas/adapters/github';
import { createInstallationTokenSource } from '../../lambdas/adapters/github-app';
import type { CommitStatusReporter } from '../../lambdas/core/commit-status';
import { processPromotionJob } from '../../lambdas/worker/process-job';
import { pushRandomImage } from '../support/images';
import { DST, ENVIRONMENT, REPOSITORY, SRC, startWorld, type World } from './world';

const APP_ID = 5151;
const INSTALLATION_ID = 88;
const NAME = `image-promotion/${ENVIRONMENT}`;

describe('worker check runs (GitHub App)', () => {
  let world: World;
  let reporter: CommitStatusReporter;
  let privateKey: string;

  before(async () => {
    const keys = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    });
    privateKey = keys.privateKey;
    world = await startWorld({
      app: { id: APP_ID, publicKey: keys.publicKey, installationId: INSTALLATION_ID },
    });
    reporter = await appReporter();
  });
  after(async () => {
    await world?.stop();
  });

  const appReporter = async (): Promise<CommitStatusReporter> => {
    const source = createInstallationTokenSource({
      credentials: { appId: String(APP_ID), privateKey, installationId: INSTALLATION_ID },
      repository: REPOSITORY,
      apiUrl: world.github.url,
    });
    const octokit = createGitHubClient({
      token: await source.token(),
      apiUrl: world.github.url,
      requestTimeoutMs: 30_000,
    });
    return createGitHubCheckReporter(octokit, { attempts: 1 });
  };

  /** Check-run requests since the last clearRequests(), as `METHOD path-tail body-status`. */
  const checkRequests = (): string[] =>
    world.github
      .requests()
      .filter((r) => r.path.includes('check-runs'))
      .map((r) => {
        const body = r.body === '' ? {} : (JSON.parse(r.body) as Record<string, unknown>);
        const tail = r.path
          .replace(/^\/repos\/[^/]+\/[^/]+\//, '')
          .replace(/commits\/[0-9a-f]{40}/, 'commits/SHA');
        return `${r.method} ${tail.replace(/\?.*$/, '')}${body['status'] === undefined ? '' : ` ${String(body['status'])}`}`;
      });

  it('queued by the webhook, in_progress when the job starts, completed with a table of the images', async () => {
    // Prepare: one image at the source, one missing
    const pushed = await pushRandomImage(`${world.source.host}/shop/web:2.0.0`, world.source);
    const commit = await world.newCommit();
    const job = world.job(commit, [
      { source: `${SRC}/shop/web:2.0.0`, destination: `${DST}/shop/web:2.0.0` },
      { source: `${SRC}/shop/web:9.9.9`, destination: `${DST}/shop/web:9.9.9` },
    ]);
    // What the webhook does for this job: a pending status with the job's id.
    await reporter.report({
      repository: REPOSITORY,
      commit,
      environment: ENVIRONMENT,
      state: 'pending',
      description: 'promoting 2 images',
      jobId: job.deliveryId,
    });
    const [queued] = world.github.checkRuns(commit);
    world.github.clearRequests();
    // Act
    const outcome = await processPromotionJob({ job, attempt: 1 }, { ...world.dependencies(), reporter });
    // Assess
    assert.equal(outcome.decision.kind, 'failure');
    assert.deepEqual(checkRequests(), [
      'GET commits/SHA/check-runs',
      'PATCH check-runs/' + String(queued!.id) + ' in_progress',
      'PATCH check-runs/' + String(queued!.id) + ' completed',
    ]);
    const runs = world.github.checkRuns(commit);
    assert.equal(runs.length, 1, 'one run for the job');
    const run = runs[0]!;
    assert.equal(run.name, NAME);
    assert.equal(run.external_id, job.deliveryId);
    assert.equal(run.status, 'completed');
    assert.equal(run.conclusion, 'failure');
    assert.match(
      run.output.title ?? '',
      /^1 of 2 images failed: manifest shop\/web:9\.9\.9: .*manifest unknown/,
    );
    const lines = (run.output.summary ?? '').split('\n');
    assert.match(lines[0] ?? '', /^\*\*manifest shop\/web:9\.9\.9: .+manifest unknown.+\*\*$/);
    assert.ok(lines.includes('| image | source → destination | digest | bytes | result |'));
    const rows = lines.filter((l) => l.startsWith('| shop/web:'));
    assert.equal(rows.length, 2);
    assert.match(
      rows[0]!,
      new RegExp(
        `^\\| shop/web:2\\.0\\.0 \\| \`${SRC}/shop/web:2\\.0\\.0\` → \`${DST}/shop/web:2\\.0\\.0\` \\| \`${pushed.digest}\` \\| \\d+(\\.\\d)? kB \\| promoted \\|$`,
      ),
    );
    assert.match(
      rows[1]!,
      /^\| shop\/web:9\.9\.9 \| .* \| – \| – \| failed: manifest shop\/web:9\.9\.9: .+ \|$/,
    );
    assert.equal(world.github.statuses(commit).length, 0, 'an App reports check runs, not statuses');
    assert.deepEqual(world.github.takeContractViolations(), []);
  });

  it('success; a second job on the same commit completes its own run, and a run nobody queued is created at start', async () => {
    // Prepare
    await pushRandomImage(`${world.source.host}/shop/api:1.0`, world.source);
    const commit = await world.newCommit();
    const promotions = [{ source: `${SRC}/shop/api:1.0`, destination: `${DST}/shop/api:1.0` }];
    const first = world.job(commit, promotions, { deliveryId: 'delivery-first' });
    const second = world.job(commit, promotions, { deliveryId: 'delivery-second' });
    for (const job of [first, second]) {
      await reporter.report({
        repository: REPOSITORY,
        commit,
        environment: ENVIRONMENT,
        state: 'pending',
        description: 'promoting 1 image',
        jobId: job.deliveryId,
      });
    }
    const reconcile = world.job(commit, promotions, { deliveryId: 'reconcile-20261206-prod-1' });
    // Act: the newer job first, then the older one (a slow worker), then a job nobody queued a run for,
    // each in a fresh worker process (its reporter remembers nothing).
    const deps = world.dependencies();
    const results = [];
    for (const job of [second, first, reconcile]) {
      results.push(
        await processPromotionJob({ job, attempt: 1 }, { ...deps, reporter: await appReporter() }),
      );
    }
    // Assess
    assert.deepEqual(
      results.map((r) => r.decision.kind),
      ['success', 'success', 'success'],
    );
    const runs = world.github.checkRuns(commit);
    assert.deepEqual(
      runs.map((r) => `${r.external_id} ${r.status} ${r.conclusion}`),
      [
        'delivery-first completed success',
        'delivery-second completed success',
        'reconcile-20261206-prod-1 completed success',
      ],
    );
    assert.match(runs[1]!.output.title ?? '', /^1 image promoted, /);
    assert.match(runs[0]!.output.title ?? '', /^1 image already present$/);
    assert.match(runs[0]!.output.summary ?? '', /\| 0 B \| already present \|$/);
    assert.deepEqual(world.github.takeContractViolations(), []);
  });
});
