// The three recipes of docs/deploy.md ("Three ways to have images present before Argo CD syncs")
// end to end on the local stack (demo/local-stack.ts: the shipped `image-promoter webhook` and
// `worker` processes, moto's SQS and DynamoDB, two real registries, the GitHub test server over a
// real git repository), each run twice: with a token (commit statuses) and as a GitHub App (check
// runs: queued -> in_progress -> completed with the image table).
// 1. Promote on pull request + branch protection: a pull request changing production's overlay is
//    promoted before the merge, so its head commit gets `image-promotion/production` = success while
//    the pull request is open (what the required check reads); the push of the merge commit is then
//    a no-op success: nothing uploaded to prod, zero bytes.
// 2. Direct push + PreSync gate: the gate script (deploy/argocd-presync-gate, run with sh + curl as
//    the hook Job runs it) is started on the pushed commit before the webhook delivery arrives, as
//    Argo CD would sync the moved branch; it holds while there is no result or it is pending, passes
//    on success, and stops the sync on a failed promotion.
// 3. Both: the gate on the merge commit of recipe 1 passes once the no-op success is there.
// Diagnostics: the latency from the pull request delivery to the head's final result and the GitHub
// API calls of each delivery (webhook + worker).
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  articleOverlayFiles,
  ENVIRONMENT,
  IMAGE_REPOSITORY,
  OVERLAYS_REPOSITORY,
  startLocalStack,
  STATUS_CONTEXT,
  type LocalStack,
} from '../../demo/local-stack';
import { inspectDigest } from '../../demo/verify-registry';
import { pushRandomImage } from '../support/images';
import { startPresyncGate, type RunningGate } from '../support/presync-gate';

interface Result {
  readonly state: string;
  readonly description: string;
  /** Check runs only: the summary (image table). */
  readonly summary?: string;
  /** What the commit got in order: statuses, or the run's status changes seen by the server. */
  readonly trail: readonly string[];
}

for (const mode of ['token', 'app'] as const) {
  describe(`docs/deploy.md recipes end to end (local stack, ${mode === 'app' ? 'GitHub App: check runs' : 'token: commit statuses'})`, () => {
    let stack: LocalStack;

    before(async () => {
      stack = await startLocalStack({
        retryDelaySeconds: 1,
        maxReceiveCount: 3,
        githubApp: mode === 'app',
      });
    });
    after(async () => {
      await stack?.stop();
    });

    /** The final result of `commit` (statuses or the check run), waiting for it (bounded). */
    const waitForResult = async (commit: string, timeoutMs = 120_000): Promise<Result> => {
      if (mode === 'token') {
        const final = await stack.waitForFinalStatus(commit, timeoutMs);
        return {
          state: final.state,
          description: final.description ?? '',
          trail: stack.statuses(commit).map((s) => s.state),
        };
      }
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const run = stack.github.checkRuns(commit).find((r) => r.name === STATUS_CONTEXT);
        if (run?.status === 'completed') {
          return {
            state: run.conclusion ?? '',
            description: run.output.title ?? '',
            summary: run.output.summary ?? '',
            trail: runTrail(run.id),
          };
        }
        if (Date.now() > deadline) {
          throw new Error(
            `no completed ${STATUS_CONTEXT} run on ${commit}:\n${stack.output().worker.slice(-3000)}`,
          );
        }
        await sleep(50);
      }
    };

    /** The statuses a check run was given, in order, from the requests the server received. */
    const runTrail = (id: number | bigint): string[] =>
      stack.github
        .requests()
        .filter(
          (r) =>
            r.method !== 'GET' &&
            (r.path.endsWith('/check-runs') || r.path.endsWith(`/check-runs/${String(id)}`)),
        )
        .map((r) => String((JSON.parse(r.body) as { status?: unknown }).status));

    /** GitHub API requests by operation (`GET /repos/.../git/trees/:sha` style), with a total. */
    const apiCalls = (): { total: number; byOperation: Record<string, number> } => {
      const byOperation: Record<string, number> = {};
      for (const r of stack.github.requests()) {
        const operation = `${r.method} ${r.path
          .replace(/\?.*$/, '')
          .replace(/[0-9a-f]{40}(\.\.\.[0-9a-f]{40})?/g, ':sha')
          .replace(/check-runs\/\d+/, 'check-runs/:id')
          .replace(/installations\/\d+/, 'installations/:id')}`;
        byOperation[operation] = (byOperation[operation] ?? 0) + 1;
      }
      return { total: stack.github.requests().length, byOperation };
    };

    const uploadsToProd = (): string[] =>
      stack.prodProxy
        .requests()
        .filter((r) => r.method !== 'GET' && r.method !== 'HEAD')
        .map((r) => `${r.method} ${r.url}`);

    /** The PreSync gate on `revision`, as the hook Job runs it when Argo CD syncs that commit. */
    const gate = (revision: string): RunningGate =>
      startPresyncGate({
        GITHUB_API_URL: stack.github.url,
        GITHUB_REPOSITORY: OVERLAYS_REPOSITORY,
        PROMOTION_ENVIRONMENT: ENVIRONMENT,
        GITHUB_TOKEN: stack.github.token,
        REVISION: revision,
        GATE_INTERVAL_SECONDS: '1',
        GATE_TIMEOUT_SECONDS: '180',
      });

    /** Waits until the gate has polled at least once (it said what it waits for). */
    const gateWaiting = async (running: RunningGate): Promise<void> => {
      for (let i = 0; i < 600 && !/still waiting/.test(running.output()); i++) await sleep(50);
      assert.match(running.output(), /still waiting: /);
    };

    it('recipe 1 + 3: the pull request head gets success before the merge; the merge push is a no-op success the gate lets through', async (t: TestContext) => {
      // Prepare: the image is in dev; a branch changes production's tag; main does not move.
      const tag = '2.1.0';
      const image = await pushRandomImage(`${stack.dev.host}/${IMAGE_REPOSITORY}:${tag}`, stack.dev);
      const mainTip = (await stack.repo.git('rev-parse', 'HEAD')).trim();
      const branch = `promote/web-${tag}`;
      await stack.repo.git('checkout', '-q', '-b', branch);
      const { after: head } = await stack.pushCommit(
        articleOverlayFiles({ productionTag: tag }),
        `production: ${tag}`,
      );
      await stack.repo.git('checkout', '-q', 'main');
      stack.github.clearRequests();
      stack.prodProxy.setRules([]);

      // Act 1: the pull request is opened
      const started = performance.now();
      const opened = await stack.deliverPullRequest({
        action: 'opened',
        number: 7,
        baseSha: mainTip,
        headSha: head,
        headRef: branch,
      });
      const onHead = await waitForResult(head);
      const latencyMs = performance.now() - started;
      const prCalls = apiCalls();

      // Assess 1: promoted ahead of the merge, reported on the head commit
      assert.equal(opened.status, 202, JSON.stringify(opened.body));
      assert.deepEqual(opened.body['environments'], { production: 'pending' }, JSON.stringify(onHead));
      assert.equal(onHead.state, 'success');
      assert.match(onHead.description, /^1 image promoted, /);
      assert.equal(await inspectDigest(stack.prod, `${IMAGE_REPOSITORY}:${tag}`), image.digest);
      assert.ok(uploadsToProd().length > 0, 'the pull request copied the image');
      if (mode === 'token') {
        assert.deepEqual(onHead.trail, ['pending', 'success']);
      } else {
        assert.deepEqual(onHead.trail, ['queued', 'in_progress', 'completed']);
        assert.match(
          onHead.summary ?? '',
          new RegExp(`\\| \`${image.digest}\` \\| [0-9.]+ kB \\| promoted \\|$`, 'm'),
        );
        assert.equal(stack.statuses(head).length, 0);
      }
      t.diagnostic(
        `[${mode}] pull request delivery -> final result on the head: ${Math.round(latencyMs)} ms; ` +
          `GitHub API calls: ${prCalls.total} ${JSON.stringify(prCalls.byOperation)}`,
      );

      // Act 2: merged (a merge commit on main), GitHub sends closed+merged and the push
      await stack.repo.git(
        'merge',
        '-q',
        '--no-ff',
        '-m',
        `Merge pull request #7 from acme/${branch}`,
        branch,
      );
      const merge = (await stack.repo.git('rev-parse', 'HEAD')).trim();
      stack.github.clearRequests();
      stack.prodProxy.setRules([]);
      const closed = await stack.deliverPullRequest({
        action: 'closed',
        number: 7,
        baseSha: mainTip,
        headSha: head,
        headRef: branch,
        merged: true,
      });
      // Recipe 3: Argo CD syncs the merge commit as soon as main moved; the gate holds it until the
      // push's result is there (the GitHub calls below include the gate's polls).
      const mergeGate = gate(merge);
      await gateWaiting(mergeGate);
      const pushed = await stack.deliver({ before: mainTip, after: merge });
      const onMerge = await waitForResult(merge);
      const mergeGateRun = await mergeGate.done;
      const mergeCalls = apiCalls();

      // Assess 2: the merge push plans the same image again and finds it present: nothing uploaded
      assert.equal(closed.status, 202);
      assert.match(String(closed.body['message']), /push to main plans it/);
      assert.equal(pushed.status, 202);
      assert.deepEqual(pushed.body['environments'], { production: 'pending' });
      assert.equal(onMerge.state, 'success');
      assert.equal(onMerge.description, '1 image already present');
      assert.deepEqual(uploadsToProd(), [], 'no upload to prod after the merge');
      const present = stack
        .output()
        .worker.split('\n')
        .filter((line) => line.includes('"image already present"') && line.includes(merge));
      assert.equal(present.length, 1);
      assert.equal((JSON.parse(present[0]!) as { bytes: unknown }).bytes, 0);
      if (mode === 'app') assert.match(onMerge.summary ?? '', /\| 0 B \| already present \|$/m);
      assert.equal(mergeGateRun.code, 0, mergeGateRun.output);
      assert.match(
        mergeGateRun.output,
        /image-promotion\/production is success at [0-9a-f]{12} .*sync proceeds/,
      );
      t.diagnostic(
        `[${mode}] merge (closed + push deliveries, and the gate's polls): GitHub API calls: ${mergeCalls.total} ${JSON.stringify(mergeCalls.byOperation)}`,
      );
    });

    it('recipe 2: a direct push; the gate holds the sync while the promotion is pending and lets it through on success', async () => {
      // Prepare: main moves first (a direct push); Argo CD would sync it at once
      const tag = '2.2.0';
      const image = await pushRandomImage(`${stack.dev.host}/${IMAGE_REPOSITORY}:${tag}`, stack.dev);
      const push = await stack.pushCommit(articleOverlayFiles({ productionTag: tag }), `production: ${tag}`);
      const running = gate(push.after);
      await gateWaiting(running);
      // Act: the webhook delivery arrives while the gate holds the sync
      const delivery = await stack.deliver(push);
      const result = await waitForResult(push.after);
      const run = await running.done;
      // Assess
      assert.equal(delivery.status, 202);
      assert.equal(result.state, 'success');
      assert.equal(run.code, 0, run.output);
      assert.match(run.output, /still waiting: /);
      assert.match(run.output, /image-promotion\/production is success at [0-9a-f]{12} .*sync proceeds/);
      assert.equal(await inspectDigest(stack.prod, `${IMAGE_REPOSITORY}:${tag}`), image.digest);
    });

    it('recipe 2: a direct push naming an image dev does not have; the gate stops the sync', async () => {
      // Prepare
      const push = await stack.pushCommit(
        articleOverlayFiles({ productionTag: '9.9.9-missing' }),
        'production: 9.9.9-missing',
      );
      const running = gate(push.after);
      await gateWaiting(running);
      // Act
      await stack.deliver(push);
      const result = await waitForResult(push.after);
      const run = await running.done;
      // Assess
      assert.equal(result.state, 'failure');
      assert.equal(run.code, 1, run.output);
      assert.match(run.output, /image-promotion\/production failed at [0-9a-f]{12}: .*; sync stopped/);
      if (mode === 'token') assert.match(run.output, /9\.9\.9-missing/);
      assert.equal(await inspectDigest(stack.prod, `${IMAGE_REPOSITORY}:9.9.9-missing`), undefined);
    });
  });
}
