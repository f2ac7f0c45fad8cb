// `npm run load`: a load run on the local stack (demo/local-stack.ts), not a test. 200 signed push
// deliveries spread over 30 s, each promoting its own new image tag to production; then it waits
// (bounded) until every commit has a final status and checks that every one succeeded, the
// dead-letter queue is empty and nothing was promoted twice (exactly one final status per commit,
// exactly one manifest PUT per promoted tag in prod). Reports push-to-status latency p50/p95 next to
// a baseline measured in the same process (sequential promotions on the idle stack), prints a table
// and rewrites the figures block of docs/demo.md. Loopback only; stops by itself.
// Options: --count N (default 200) --seconds S (default 30) --no-docs (do not touch docs/demo.md).
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { articleOverlayFiles, IMAGE_REPOSITORY, startLocalStack, type LocalStack } from '../demo/local-stack';
import { MEDIA, sha256 } from '../test/support/images';
import { pushBlobRaw, putManifestRaw } from '../test/support/raw-push';

const DOCS = new URL('../docs/demo.md', import.meta.url);
const BEGIN = '<!-- load-figures:begin -->';
const END = '<!-- load-figures:end -->';
const BASELINE_RUNS = 5;
const DRAIN_TIMEOUT_MS = 180_000;

interface Sent {
  readonly commit: string;
  readonly tag: string;
  readonly sentAt: number;
  status?: number;
  /** The webhook's answer, when it was not 202. */
  answer?: string;
  finalAt?: number;
  finalState?: string;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Pushes `tags.length` distinct single-platform images (one shared layer, a config of their own)
 * to dev with plain HTTP: far faster than one skopeo run per image, and the bytes are exact. */
async function pushLoadImages(stack: LocalStack, tags: readonly string[]): Promise<void> {
  const layer = randomBytes(16 * 1024);
  const layerDigest = sha256(layer);
  await pushBlobRaw(stack.dev, IMAGE_REPOSITORY, layer, layerDigest);
  let next = 0;
  const pushOne = async (): Promise<void> => {
    while (next < tags.length) {
      const tag = tags[next++]!;
      const config = Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          config: { Labels: { release: tag } },
          rootfs: { type: 'layers', diff_ids: [sha256(randomBytes(8))] },
        }),
      );
      const configDigest = sha256(config);
      await pushBlobRaw(stack.dev, IMAGE_REPOSITORY, config, configDigest);
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.ociManifest,
        config: { mediaType: MEDIA.ociConfig, digest: configDigest, size: config.length },
        layers: [{ mediaType: MEDIA.ociLayer, digest: layerDigest, size: layer.length }],
      });
      await putManifestRaw(stack.dev, IMAGE_REPOSITORY, tag, manifest, MEDIA.ociManifest);
    }
  };
  await Promise.all(Array.from({ length: 8 }, pushOne));
}

/** Sends deliveries, one per commit, spread evenly over `seconds`; resolves when all were answered. */
async function deliverSpread(
  stack: LocalStack,
  pushes: readonly { readonly before: string; readonly after: string; readonly tag: string }[],
  seconds: number,
  sent: Sent[] = [],
): Promise<Sent[]> {
  const interval = (seconds * 1000) / pushes.length;
  const start = performance.now();
  const answers: Promise<void>[] = [];
  for (const [i, push] of pushes.entries()) {
    const wait = start + i * interval - performance.now();
    if (wait > 0) await sleep(wait);
    const entry: Sent = { commit: push.after, tag: push.tag, sentAt: performance.now() };
    sent.push(entry);
    answers.push(
      stack.deliver(push).then(
        (d) => {
          entry.status = d.status;
          if (d.status !== 202) entry.answer = JSON.stringify(d.body);
        },
        (e: unknown) => {
          entry.status = 0;
          entry.answer = e instanceof Error ? e.message : String(e);
        },
      ),
    );
  }
  await Promise.all(answers);
  return sent;
}

/** Marks the entries whose commit has a final status now (the GitHub test server is in this process). */
function markFinalStatuses(stack: LocalStack, entries: readonly Sent[]): void {
  const now = performance.now();
  for (const s of entries) {
    if (s.finalAt !== undefined) continue;
    const final = stack.statuses(s.commit).find((st) => st.state !== 'pending');
    if (final !== undefined) {
      s.finalAt = now;
      s.finalState = final.state;
    }
  }
}

/** Delivers the pushes spread over `seconds` while watching for final statuses every 20 ms from the
 * first delivery on (not only once all are sent: that would measure the sending time, not the
 * promotion), then waits until every commit has one or `timeoutMs` has passed. */
async function deliverAndWatch(
  stack: LocalStack,
  pushes: readonly { readonly before: string; readonly after: string; readonly tag: string }[],
  seconds: number,
  timeoutMs: number,
): Promise<{ readonly sent: Sent[]; readonly sendSeconds: number }> {
  const sent: Sent[] = [];
  const start = performance.now();
  let sending = true;
  const watching = (async (): Promise<void> => {
    while (sending) {
      markFinalStatuses(stack, sent);
      await sleep(20);
    }
  })();
  await deliverSpread(stack, pushes, seconds, sent);
  const sendSeconds = (performance.now() - start) / 1000;
  sending = false;
  await watching;
  const deadline = performance.now() + timeoutMs;
  while (sent.some((s) => s.finalAt === undefined) && performance.now() < deadline) {
    markFinalStatuses(stack, sent);
    await sleep(20);
  }
  return { sent, sendSeconds };
}

/** CPU seconds used so far by this process and each of its direct children (the stack's servers),
 * by role; from /proc (Linux), empty elsewhere. Shows which part a load saturates. */
async function readCpuSeconds(): Promise<Map<string, number>> {
  const usage = process.cpuUsage();
  const out = new Map<string, number>([
    ['load process (GitHub test server, proxies)', (usage.user + usage.system) / 1e6],
  ]);
  const pids = await readdir('/proc').catch(() => [] as string[]);
  for (const pid of pids.filter((p) => /^\d+$/.test(p))) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) !== process.pid) continue;
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
    const role = /moto_server/.test(cmdline)
      ? 'moto_server'
      : /docker-registry/.test(cmdline)
        ? 'docker-registry (both)'
        : / webhook /.test(cmdline)
          ? 'webhook process'
          : /worker/.test(cmdline)
            ? 'worker process'
            : 'other children';
    // utime + stime, in clock ticks (100 per second on Linux).
    const seconds = (Number(fields[11]) + Number(fields[12])) / 100;
    out.set(role, (out.get(role) ?? 0) + seconds);
  }
  return out;
}

async function runLoad(): Promise<number> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '200' },
      seconds: { type: 'string', default: '30' },
      'no-docs': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const count = Number(values.count);
  const seconds = Number(values.seconds);
  if (!Number.isInteger(count) || count < 1 || count > 1000 || !(seconds > 0 && seconds <= 300)) {
    throw new Error('--count must be 1-1000 and --seconds 0-300');
  }
  const log = (line: string): void => void process.stdout.write(`${line}\n`);

  log(`load: starting the local stack`);
  const stack = await startLocalStack({ retryDelaySeconds: 1, maxReceiveCount: 3 });
  const stopOnSignal = (): void => {
    void stack.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    const baselineTags = Array.from({ length: BASELINE_RUNS }, (_, i) => `baseline-${i}`);
    const loadTags = Array.from({ length: count }, (_, i) => `load-${String(i).padStart(4, '0')}`);
    log(`load: pushing ${baselineTags.length + loadTags.length} images to dev`);
    await pushLoadImages(stack, [...baselineTags, ...loadTags]);

    // Baseline: one promotion at a time on the idle stack, measured the same way.
    log(`load: baseline, ${BASELINE_RUNS} sequential promotions`);
    const baseline: Sent[] = [];
    for (const tag of baselineTags) {
      const push = await stack.pushCommit(articleOverlayFiles({ productionTag: tag }), `production: ${tag}`);
      const {
        sent: [entry],
      } = await deliverAndWatch(stack, [{ ...push, tag }], 0.001, 60_000);
      baseline.push(entry!);
    }

    log(`load: committing ${count} overlay changes`);
    const pushes: { before: string; after: string; tag: string }[] = [];
    for (const tag of loadTags) {
      const push = await stack.pushCommit(articleOverlayFiles({ productionTag: tag }), `production: ${tag}`);
      pushes.push({ ...push, tag });
    }

    log(`load: ${count} signed deliveries over ${seconds} s`);
    const cpuBefore = await readCpuSeconds();
    const loadBefore = loadavg()[0]!;
    const t0 = performance.now();
    const { sent, sendSeconds } = await deliverAndWatch(stack, pushes, seconds, DRAIN_TIMEOUT_MS);
    log(`load: all deliveries answered after ${sendSeconds.toFixed(1)} s; every commit final or timed out`);
    const lastFinal = Math.max(t0, ...sent.map((s) => s.finalAt ?? t0));
    const drainSeconds = (lastFinal - t0) / 1000;

    // Let the worker delete the last messages, then read the queues.
    let queue = await stack.queueDepth();
    for (let i = 0; i < 50 && queue.visible + queue.inFlight + queue.delayed > 0; i++) {
      await sleep(100);
      queue = await stack.queueDepth();
    }
    const dlq = await stack.dlqDepth();
    const cpuAfter = await readCpuSeconds();
    const cpu = [...cpuAfter].map(([role, total]) => [role, total - (cpuBefore.get(role) ?? 0)] as const);

    const accepted = sent.filter((s) => s.status === 202).length;
    const finals = sent.filter((s) => s.finalAt !== undefined);
    const successes = sent.filter((s) => s.finalState === 'success').length;
    const statusCounts = sent.map(
      (s) => stack.statuses(s.commit).filter((st) => st.state !== 'pending').length,
    );
    const twiceStatus = statusCounts.filter((n) => n > 1).length;
    const puts = new Map<string, number>();
    for (const r of stack.prodProxy.requests()) {
      const match = new RegExp(`^/v2/${IMAGE_REPOSITORY}/manifests/(load-\\d+)$`).exec(r.url);
      if (r.method === 'PUT' && match) puts.set(match[1]!, (puts.get(match[1]!) ?? 0) + 1);
    }
    const twicePut = [...puts.values()].filter((n) => n > 1).length;
    const notPut = loadTags.filter((t) => !puts.has(t)).length;

    const latencies = finals.map((s) => s.finalAt! - s.sentAt).sort((a, b) => a - b);
    const baseLatencies = baseline.map((s) => s.finalAt! - s.sentAt).sort((a, b) => a - b);
    const ms = (n: number): string => (Number.isNaN(n) ? 'n/a' : `${Math.round(n)} ms`);
    const checks = [
      { what: 'deliveries accepted (202)', value: `${accepted} / ${count}`, ok: accepted === count },
      {
        what: 'commits with a final status',
        value: `${finals.length} / ${count}`,
        ok: finals.length === count,
      },
      { what: 'final status success', value: `${successes} / ${count}`, ok: successes === count },
      { what: 'commits with more than one final status', value: String(twiceStatus), ok: twiceStatus === 0 },
      { what: 'tags written to prod more than once', value: String(twicePut), ok: twicePut === 0 },
      { what: 'tags never written to prod', value: String(notPut), ok: notPut === 0 },
      {
        what: 'jobs left on the queue',
        value: String(queue.visible + queue.inFlight + queue.delayed),
        ok: queue.visible + queue.inFlight + queue.delayed === 0,
      },
      {
        what: 'dead-letter queue',
        value: String(dlq.visible + dlq.inFlight),
        ok: dlq.visible + dlq.inFlight === 0,
      },
    ];
    const rows: [string, string, string][] = [
      ['push-to-status p50', ms(percentile(latencies, 50)), ms(percentile(baseLatencies, 50))],
      ['push-to-status p95', ms(percentile(latencies, 95)), ms(percentile(baseLatencies, 95))],
      ['push-to-status max', ms(latencies.at(-1) ?? Number.NaN), ms(baseLatencies.at(-1) ?? Number.NaN)],
      ['last final status after first delivery', `${drainSeconds.toFixed(1)} s`, ''],
      ['throughput', `${(finals.length / drainSeconds).toFixed(1)} promotions/s`, ''],
    ];

    const table = [
      `| figure | ${count} deliveries in ${seconds} s | baseline (${BASELINE_RUNS} sequential, idle) |`,
      '| --- | --- | --- |',
      ...rows.map(([a, b, c]) => `| ${a} | ${b} | ${c} |`),
      ...checks.map((c) => `| ${c.what} | ${c.value} ${c.ok ? '(ok)' : '(FAIL)'} | |`),
      ...cpu.map(
        ([role, used]) =>
          `| CPU: ${role} | ${used.toFixed(1)} s (${((used * 1000) / count).toFixed(0)} ms per delivery) | |`,
      ),
    ].join('\n');
    const ok = checks.every((c) => c.ok);
    // Other work on the machine changes every figure here: say how busy it was.
    const machine =
      `${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, ` +
      `load average ${loadBefore.toFixed(1)} before / ${loadavg()[0]!.toFixed(1)} after the run`;
    log('');
    log(table);
    log('');
    log(`measured ${new Date().toISOString().slice(0, 16)}Z on ${machine}`);
    log(ok ? 'load: PASS' : 'load: FAIL');

    if (!values['no-docs']) {
      const docs = await readFile(DOCS, 'utf8').catch(() => undefined);
      if (docs?.includes(BEGIN) && docs.includes(END)) {
        const block = `${BEGIN}\nMeasured ${new Date().toISOString().slice(0, 10)} on ${machine}; \`npm run load\` (${ok ? 'PASS' : 'FAIL'}):\n\n${table}\n${END}`;
        await writeFile(
          DOCS,
          docs.slice(0, docs.indexOf(BEGIN)) + block + docs.slice(docs.indexOf(END) + END.length),
        );
        log('load: figures written to docs/demo.md');
      }
    }
    if (!ok) {
      const failed = sent.filter((s) => s.finalState !== 'success').slice(0, 5);
      for (const s of failed) {
        log(
          `  ${s.tag} ${s.commit.slice(0, 7)} HTTP ${s.status}: ${JSON.stringify(stack.statuses(s.commit))}`,
        );
      }
    }
    if (!ok) {
      const errors = (out: string): string[] =>
        out.split('\n').filter((l) => l.includes('"level":"ERROR"') || l.includes('"level":"WARN"'));
      const { webhook, worker } = stack.output();
      for (const line of [...errors(webhook).slice(-5), ...errors(worker).slice(-5)]) log(`  ${line}`);
    }
    return ok ? 0 : 1;
  } finally {
    await stack.stop();
  }
}

runLoad().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`load: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
