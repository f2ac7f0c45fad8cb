// `npm run demo`: image-promoter end to end on the embedded local stack (demo/local-stack.ts), no AWS
// account needed, as docs/deploy.md's recipe 1 (promote on pull request + branch protection). Pushes
// a signed multi-arch image into "dev", opens a pull request whose overlay change promotes it to
// production, delivers the signed pull_request webhook to the real `image-promoter webhook` process,
// waits for the worker's status on the pull request's head (what branch protection requires), merges
// and delivers the push (a no-op success: nothing uploaded), then proves with skopeo that prod holds
// the very same bytes (index and signature) and nothing else. Exits 0 only when all of that is true; always
// stops what it started (also on Ctrl-C and on failure). Never talks to anything but 127.0.0.1.
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
const started = performance.now();
const say = (line: string): void => {
  const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(5);
  process.stdout.write(`[${seconds}s] ${line}\n`);
};
const check = (ok: boolean, line: string): boolean => {
  say(`${ok ? 'ok  ' : 'FAIL'} ${line}`);
  return ok;
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

runDemo().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`image-promoter demo: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
