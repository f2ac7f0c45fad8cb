// Recipe 1 of docs/deploy.md end to end on the local stack (demo/local-stack.ts: the shipped
// `image-promoter webhook` and `worker` processes, moto's SQS and DynamoDB, two real registries, the
// GitHub test server over a real git repository): a pull request that changes production's overlay
// is promoted before the merge, so its head commit gets `image-promotion/production` = success while
// the pull request is open (what branch protection requires); the push of the merge commit is then
// planned again and is a no-op success: nothing uploaded to prod, zero bytes. Run twice: with a token
// (commit statuses) and as a GitHub App (check runs: queued -> in_progress -> completed with the
// image table). Each run reports, as test diagnostics, the latency from the pull request delivery to
// the head commit's final result and the GitHub API calls the delivery cost (webhook + worker).
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  articleOverlayFiles,
  IMAGE_REPOSITORY,
  startLocalStack,
  STATUS_CONTEXT,
  type LocalStack,
} from '../../demo/local-stack';
import { inspectDigest } from '../../demo/verify-registry';
import { pushRandomImage } from '../support/images';

interface Result {
  readonly state: string;
  readonly description: string;
  /** Check runs only: the summary (image table). */
  readonly summary?: string;
  /** What the commit got in order: statuses, or the run's status changes seen by the server. */
  readonly trail: readonly string[];
}

for (const mode of ['token', 'app'] as const) {
  describe(`pull request -> merge end to end (local stack, ${mode === 'app' ? 'GitHub App: check runs' : 'token: commit statuses'})`, () => {
    let stack: LocalStack;

    before(async () => {
      stack = await startLocalStack({ retryDelaySeconds: 1, maxReceiveCount: 3, githubApp: mode === 'app' });
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

    it('the pull request head gets success before the merge; the merge push is a no-op success', async (t: TestContext) => {
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
      assert.deepEqual(opened.body['environments'], { production: 'pending' });
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
      const pushed = await stack.deliver({ before: mainTip, after: merge });
      const onMerge = await waitForResult(merge);
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
      t.diagnostic(
        `[${mode}] merge (closed + push deliveries): GitHub API calls: ${mergeCalls.total} ${JSON.stringify(mergeCalls.byOperation)}`,
      );
    });
  });
}
