// `npm run demo`: image-promoter end to end on the embedded local stack (demo/local-stack.ts), no AWS
// account needed, as docs/deploy.md's recipe 1 (promote on pull request + branch protection). Pushes
// a signed multi-arch image into "dev", opens a pull request whose overlay change promotes it to
// production, delivers the signed pull_request webhook to the real `image-promoter webhook` process,
// waits for the worker's status on the pull request's head (what branch protection requires), merges
// and delivers the push (a no-op success: nothing uploaded), then proves with skopeo that prod holds
// the very same bytes (index and signature) and nothing else. Then a delivery is lost: the next
// release reaches main but its push webhook is never sent; `verify` reports the drift, the scheduled
// reconcile (the reconcile Lambda's handler, fired by the local scheduler once its EventBridge rule
// is enabled) heals it, `verify` passes, `history` shows who promoted what, and a prune dry run lists
// what production no longer deploys. Exits 0 only when all of that is true; always stops what it
// started (also on Ctrl-C and on failure). Never talks to anything but 127.0.0.1.
import { performance } from 'node:perf_hooks';
import {
  articleOverlayFiles,
  DEV_REGISTRY,
  findMissingPrerequisites,
  IMAGE_REPOSITORY,
  INITIAL_PRODUCTION_TAG,
  PROD_REGISTRY,
  startLocalStack,
  STATUS_CONTEXT,
  type LocalStack,
} from './local-stack';
import { runCli, type CliResult } from '../test/support/run-cli';
import { pushSampleImage } from './sample-image';
import { inspectDigest, listRegistry } from './verify-registry';

// The AWS SDK warns on every Node 20 process that its 2027 releases need Node 22: not news a demo
// viewer can act on. Every other warning is still printed.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (!`${warning.name}: ${warning.message}`.includes('NodeVersionSupportWarning'))
    process.stderr.write(`${warning.name}: ${warning.message}\n`);
});

const TAG = '1.3.0';
/** The release whose push delivery is lost. */
const NEXT_TAG = '1.4.0';
/** The local scheduler's period (EventBridge's shortest rate is a minute; the deployed default an hour). */
const RECONCILE_EVERY_SECONDS = 3;
const started = performance.now();
const say = (line: string): void => {
  const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(5);
  process.stdout.write(`[${seconds}s] ${line}\n`);
};
const check = (ok: boolean, line: string): boolean => {
  say(`${ok ? 'ok  ' : 'FAIL'} ${line}`);
  return ok;
};
/** A command's output, indented under its line. */
const show = (text: string): void => {
  for (const line of text.trimEnd().split('\n')) process.stdout.write(`         ${line}\n`);
};

async function runDemo(): Promise<number> {
  const missing = await findMissingPrerequisites();
  if (missing.length > 0) {
    process.stderr.write(
      `image-promoter demo: missing ${missing.map((m) => m.program).join(', ')}; install with: ${missing
        .map((m) => m.install)
        .join(' && ')}\n`,
    );
    return 3;
  }

  let stack: LocalStack | undefined;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async (): Promise<void> => {
      say('stopping the local stack');
      await stack?.stop();
    })());
  const interrupted = new AbortController();
  const interrupt = (): void => {
    say('interrupted');
    interrupted.abort();
    // While the stack is starting, startLocalStack stops what it started and rejects.
    if (stack !== undefined) void stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  try {
    say('starting the local stack on 127.0.0.1');
    stack = await startLocalStack({
      onProgress: (line) => say(`  - ${line}`),
      signal: interrupted.signal,
      // Its rule stays disabled until the drift has been shown (then enabled, as the next period).
      reconcile: { everySeconds: RECONCILE_EVERY_SECONDS },
    });
    say(`  webhook ${stack.webhookUrl}  GitHub ${stack.github.url}  moto ${stack.moto.url}`);
    say(`  dev  ECR ${DEV_REGISTRY} -> ${stack.dev.url}`);
    say(`  prod ECR ${PROD_REGISTRY} -> ${stack.prod.url}`);

    say(`pushing ${IMAGE_REPOSITORY}:${TAG} (index: linux/amd64 + linux/arm64, cosign signature) to dev`);
    const image = await pushSampleImage(stack.dev, IMAGE_REPOSITORY, TAG);
    say(`  index ${image.indexDigest}`);
    say(`  signature tag ${image.signatureTag}`);

    // docs/deploy.md recipe 1: overlay changes reach main through pull requests, promoted before the
    // merge; branch protection requires the status on the pull request's head.
    const branch = `promote/web-${TAG}`;
    const base = (await stack.repo.git('rev-parse', 'HEAD')).trim();
    say(
      `pull request #1 from ${branch}: overlays/production/patch-image.yaml ${INITIAL_PRODUCTION_TAG} -> ${TAG}`,
    );
    await stack.repo.git('checkout', '-q', '-b', branch);
    const { after: head } = await stack.pushCommit(
      articleOverlayFiles({ productionTag: TAG }),
      `Promote ${IMAGE_REPOSITORY} ${TAG} to production`,
    );
    await stack.repo.git('checkout', '-q', 'main');
    say(`  head ${head.slice(0, 7)}, base main ${base.slice(0, 7)}`);

    say('delivering the signed pull_request webhook (opened; X-Hub-Signature-256)');
    const delivery = await stack.deliverPullRequest({
      action: 'opened',
      number: 1,
      baseSha: base,
      headSha: head,
      headRef: branch,
    });
    say(`  HTTP ${delivery.status} ${JSON.stringify(delivery.body)}`);
    if (delivery.status !== 202) throw new Error(`the webhook answered ${delivery.status}`);

    say(`waiting for ${STATUS_CONTEXT} on the pull request's head (the check branch protection requires)`);
    const final = await stack.waitForFinalStatus(head, 45_000);
    for (const status of stack.statuses(head)) {
      say(`  ${STATUS_CONTEXT}: ${status.state.padEnd(7)} ${status.description ?? ''}`);
    }

    say(`merging pull request #1 into main and delivering the push of the merge commit`);
    await stack.repo.git('merge', '-q', '--no-ff', '-m', `Merge pull request #1 from ${branch}`, branch);
    const merge = (await stack.repo.git('rev-parse', 'HEAD')).trim();
    stack.prodProxy.setRules([]); // zeroes its request log: what follows is the merge's traffic
    const pushDelivery = await stack.deliver({ before: base, after: merge });
    say(`  HTTP ${pushDelivery.status} ${JSON.stringify(pushDelivery.body)}`);
    if (pushDelivery.status !== 202) throw new Error(`the webhook answered ${pushDelivery.status}`);
    const mergeFinal = await stack.waitForFinalStatus(merge, 45_000);
    for (const status of stack.statuses(merge)) {
      say(`  ${STATUS_CONTEXT}: ${status.state.padEnd(7)} ${status.description ?? ''}`);
    }
    const uploads = stack.prodProxy
      .requests()
      .filter((r) => r.method !== 'GET' && r.method !== 'HEAD').length;

    say('verifying with skopeo inspect --raw on both registries');
    const reference = `${IMAGE_REPOSITORY}:${TAG}`;
    const [devIndex, prodIndex, devSig, prodSig] = await Promise.all([
      inspectDigest(stack.dev, reference),
      inspectDigest(stack.prod, reference),
      inspectDigest(stack.dev, `${IMAGE_REPOSITORY}:${image.signatureTag}`),
      inspectDigest(stack.prod, `${IMAGE_REPOSITORY}:${image.signatureTag}`),
    ]);
    say(`  dev  ${reference}  ${devIndex ?? '(missing)'}`);
    say(`  prod ${reference}  ${prodIndex ?? '(missing)'}`);
    const platforms = await Promise.all(
      image.platformDigests.map((d) => inspectDigest(stack!.prod, `${IMAGE_REPOSITORY}@${d}`)),
    );
    const prodContents = await listRegistry(stack.prod);
    say(`  prod contents: ${JSON.stringify(prodContents)}`);
    const dlq = await stack.dlqDepth();

    const results = [
      check(
        final.state === 'success',
        `pull request head status ${final.state} before the merge: ${final.description ?? ''}`,
      ),
      check(
        mergeFinal.state === 'success' && uploads === 0,
        `merge commit status ${mergeFinal.state}: ${mergeFinal.description ?? ''} (${uploads} uploads to prod)`,
      ),
      check(
        devIndex === image.indexDigest && prodIndex === image.indexDigest,
        'index digest identical in dev and prod',
      ),
      check(
        platforms.every((d, i) => d === image.platformDigests[i]),
        'both platform manifests present in prod',
      ),
      check(
        devSig === image.signatureDigest && prodSig === image.signatureDigest,
        `signature ${image.signatureTag} identical in prod`,
      ),
      check(
        JSON.stringify(prodContents) ===
          JSON.stringify({ [IMAGE_REPOSITORY]: [TAG, image.signatureTag].sort() }),
        'nothing else in prod',
      ),
      check(dlq.visible + dlq.inFlight === 0, 'dead-letter queue empty'),
    ];
    results.push(...(await healLostDelivery(stack)));
    const ok = results.every((r) => r);
    await stop();
    say(ok ? 'promotion succeeded' : 'promotion did NOT succeed');
    return ok ? 0 : 1;
  } catch (e: unknown) {
    if (interrupted.signal.aborted) {
      await stop();
      return 130;
    }
    say(`FAIL ${e instanceof Error ? e.message : String(e)}`);
    const output = stack?.output();
    if (output !== undefined) {
      process.stdout.write(`--- webhook output (tail) ---\n${output.webhook.slice(-2000)}\n`);
      process.stdout.write(`--- worker output (tail) ---\n${output.worker.slice(-2000)}\n`);
    }
    await stop();
    return 1;
  }
}

/** A release reaches main without its push delivery; the scheduled reconcile heals it. */
async function healLostDelivery(stack: LocalStack): Promise<boolean[]> {
  const env = stack.cliEnv();
  const config = ['--config', stack.configFile];
  const cli = (args: readonly string[]): Promise<CliResult> => runCli(args, { env });
  const image = await pushSampleImage(stack.dev, IMAGE_REPOSITORY, NEXT_TAG);
  const { after: head } = await stack.pushCommit(
    articleOverlayFiles({ productionTag: NEXT_TAG }),
    `Promote ${IMAGE_REPOSITORY} ${NEXT_TAG} to production`,
  );
  say(
    `a lost delivery: ${IMAGE_REPOSITORY}:${NEXT_TAG} pushed to dev, production's overlay moved to it on main ` +
      `(${head.slice(0, 7)}), and the push webhook never sent`,
  );
  const drifted = await cli(['verify', ...config]);
  say(`image-promoter verify (exit ${drifted.code})`);
  show(drifted.stdout || drifted.stderr);

  say(
    `enabling the scheduled reconcile: its EventBridge rule (moto) ${stack.reconcileRule}; ` +
      `the local scheduler fires it every ${RECONCILE_EVERY_SECONDS} s`,
  );
  await stack.setReconcileRule(true);
  const healed = await stack.waitForFinalStatus(head, 60_000);
  await stack.setReconcileRule(false);
  for (const status of stack.statuses(head)) {
    say(`  ${STATUS_CONTEXT}: ${status.state.padEnd(7)} ${status.description ?? ''}`);
  }
  const scheduledRun = /reconcile \(scheduled [^)]*\): .*\d+ enqueued/.exec(stack.output().reconcile)?.[0];
  say(`  ${scheduledRun ?? '(no scheduled run seen)'}`);

  const inPlace = await cli(['verify', ...config]);
  say(`image-promoter verify (exit ${inPlace.code})`);
  show(inPlace.stdout || inPlace.stderr);

  const history = await cli(['history', '--environment', 'production']);
  say(`image-promoter history --environment production (exit ${history.code})`);
  show(history.stdout || history.stderr);

  // keep 0: the rollback window emptied, so what production deployed before shows up.
  const prune = await cli(['prune', ...config, '--environment', 'production', '--keep', '0', '--json']);
  const plan = JSON.parse(prune.stdout || '{"removals": []}') as {
    removals: { repository: string; digest: string; tags: string[]; reason: string }[];
  };
  say(`image-promoter prune --environment production --keep 0 (dry run, exit ${prune.code})`);
  show(
    plan.removals
      .map(
        (r) =>
          `would remove ${r.repository}@${r.digest.slice(0, 19)} ${r.tags.join(',') || '-'}: ${r.reason}`,
      )
      .join('\n') || prune.stderr,
  );

  const previous = await inspectDigest(stack.prod, `${IMAGE_REPOSITORY}:${TAG}`);
  const promotions = history.stdout.split('\n').filter((l) => l.includes(`${IMAGE_REPOSITORY}:`));
  return [
    check(
      drifted.code === 1 && /\bmissing\b/.test(drifted.stdout),
      `verify reported ${IMAGE_REPOSITORY}:${NEXT_TAG} missing from prod (exit 1)`,
    ),
    check(
      healed.state === 'success' &&
        /^reconciling 1 image missing/.test(stack.statuses(head)[0]?.description ?? '') &&
        scheduledRun !== undefined,
      `the scheduled reconcile healed it: status ${healed.state} on ${head.slice(0, 7)}`,
    ),
    check(
      inPlace.code === 0 &&
        (await inspectDigest(stack.prod, `${IMAGE_REPOSITORY}:${NEXT_TAG}`)) === image.indexDigest,
      'verify passes: prod holds the index dev has (exit 0)',
    ),
    check(
      promotions.length === 2 &&
        promotions.some((l) => l.includes(`:${TAG}`) && !l.includes('scheduled reconcile')) &&
        promotions.some((l) => l.includes(`:${NEXT_TAG}`) && l.includes('scheduled reconcile')),
      `history: ${TAG} by the pull request's promotion, ${NEXT_TAG} by the scheduled reconcile`,
    ),
    check(
      prune.code === 1 &&
        plan.removals.some((r) => r.digest === previous && r.tags.includes(TAG)) &&
        plan.removals.every((r) => r.digest !== image.indexDigest),
      `prune (dry run) would remove ${TAG}, no longer deployed, and keeps ${NEXT_TAG}`,
    ),
  ];
}

runDemo().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`image-promoter demo: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
