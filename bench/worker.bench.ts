// `npm run bench:worker [-- --quick] [-- --blob-jobs N] [-- --rate MBPS] [-- --network-singles N]`:
// does the worker really promote a job's images in parallel? A job of 10 images x 5 layers x 16 MB
// against single-image jobs of the same images, in the same run, on the loopback world the worker
// tests use (moto for STS/ECR tokens, two docker-registry instances, the GitHub test server).
// Target: the 10-image job takes <= 1.5 x the largest single-image job.
// Two modes, one after the other in this process, each with its own table:
//  - loopback: the worker talks to the registries directly. Every byte is hashed and moved by
//    processes sharing this machine's CPUs, so the copy is CPU-bound and parallel images cannot
//    beat the machine's throughput: this mode measures CPU cost, not parallelism.
//  - network model: both registries behind the fault proxy, each HTTP request (one TCP stream to
//    ECR or S3 in AWS) capped at `--rate` MB/s each way, low enough that all 50 blobs of the job in
//    flight stay well below what the machine sustains: this mode measures whether the job's
//    images and blobs really overlap, as a cross-account copy bound by per-connection throughput.
// Each copy goes to a fresh destination repository, so nothing is skipped or mounted. A benchmark,
// not a test: it asserts nothing and prints the figures next to the target.
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { processPromotionJob, type WorkerDependencies } from '../lambdas/worker/process-job';
import { startFaultProxy } from '../test/support/fault-proxy';
import { addImage, ImageLayout, pushLayout } from '../test/support/images';
import { DST, SRC, startWorld } from '../test/worker/world';

const MB = 1_000_000;
const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'blob-jobs': { type: 'string', default: '8' },
    rate: { type: 'string', default: '1.5' },
    'network-singles': { type: 'string', default: '5' },
  },
});
const quick = flags.quick === true;
const BLOB_JOBS = Number(flags['blob-jobs']);
const IMAGES = 10;
const LAYERS = 5;
const LAYER_BYTES = quick ? 2 * MB : 16 * MB;
/** Per-request cap of the network model, each way. */
const RATE = Number(flags.rate) * MB;
/** Single-image jobs measured in the network model (each takes ~LAYER_BYTES / RATE). */
const NETWORK_SINGLES = Math.min(IMAGES, Math.max(1, Number(flags['network-singles'])));

interface Run {
  readonly ms: number;
  /** This process's CPU (worker, and in the network model the two proxies too). */
  readonly cpuMs: number;
  /** Cores busy on the whole machine meanwhile (every process, other users' included). */
  readonly machineCores: number;
}

interface ModeResult {
  readonly name: string;
  readonly singles: readonly Run[];
  readonly job: Run;
  /** Extra rows for this mode's table. */
  readonly notes?: readonly (readonly [string, string])[];
}

/** Busy and total jiffies of all CPUs since boot (Linux /proc/stat). */
function readCpuTimes(): { busy: number; total: number } {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

const world = await startWorld();
const destinationProxy = await startFaultProxy({ upstream: world.destination.url });
try {
  console.error(
    `bench:worker: pushing ${IMAGES} images x ${LAYERS} x ${LAYER_BYTES / MB} MB to the source registry`,
  );
  const pushOne = async (i: number): Promise<void> => {
    const layout = await ImageLayout.create();
    try {
      const image = await addImage(layout, { layers: Array<number>(LAYERS).fill(LAYER_BYTES) });
      layout.tag(image.descriptor, 'image');
      await pushLayout(layout, 'image', `${world.source.host}/bench/img${i}:1.0`, world.source);
    } finally {
      await layout.remove();
    }
  };
  for (let i = 0; i < IMAGES; i += 2) await Promise.all([pushOne(i), pushOne(i + 1)]);

  // One commit for every job: the source role session (and its ECR token) is per commit, so after
  // the warm-up every job measures copying, not STS.
  const commit = await world.newCommit();
  const runJob = async (
    deps: WorkerDependencies,
    prefix: string,
    indexes: readonly number[],
  ): Promise<Run> => {
    const job = world.job(
      commit,
      indexes.map((i) => ({
        source: `${SRC}/bench/img${i}:1.0`,
        destination: `${DST}/${prefix}/img${i}:1.0`,
      })),
    );
    const machine = readCpuTimes();
    const started = performance.now();
    const cpu = process.cpuUsage();
    const outcome = await processPromotionJob({ job, attempt: 1 }, deps);
    const ms = performance.now() - started;
    const used = process.cpuUsage(cpu);
    const machineAfter = readCpuTimes();
    if (outcome.decision.kind !== 'success') {
      throw new Error(`bench job failed: ${JSON.stringify(outcome.decision)}`);
    }
    const share = (machineAfter.busy - machine.busy) / Math.max(1, machineAfter.total - machine.total);
    return { ms, cpuMs: (used.user + used.system) / 1000, machineCores: share * cpus().length };
  };

  const runMode = async (
    name: string,
    endpoints: Readonly<Record<string, string>>,
    singleCount: number,
  ): Promise<ModeResult> => {
    const deps = world.dependencies({
      registryEndpoints: endpoints,
      copy: { imageJobs: IMAGES, blobJobs: BLOB_JOBS },
    });
    const tag = name.replace(/[^a-z]/g, '');
    // Warm-up (STS, ECR tokens, connections, JIT), not measured: a full copy in the first mode; in
    // the next the destination already holds it (a few manifest round trips through the proxies).
    await runJob(deps, 'warmup', [0]);
    console.error(`bench:worker: ${name}: ${singleCount} single-image jobs, then the ${IMAGES}-image job`);
    const singles: Run[] = [];
    for (let i = 0; i < singleCount; i++) singles.push(await runJob(deps, `${tag}-single`, [i]));
    const job = await runJob(
      deps,
      `${tag}-job`,
      Array.from({ length: IMAGES }, (_, i) => i),
    );
    return { name, singles, job };
  };

  const fmt = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
  const renderMode = (mode: ModeResult): string[] => {
    const singles = mode.singles.map((r) => r.ms);
    const measured = singles.length;
    const largest = Math.max(...singles);
    const mean = singles.reduce((a, b) => a + b, 0) / measured;
    // Every image is the same size: with fewer singles measured, the sum is their mean x IMAGES.
    const sum = mean * IMAGES;
    const sumLabel =
      measured === IMAGES
        ? `sum of the ${IMAGES} single-image jobs (sequential)`
        : `sum of ${IMAGES} single-image jobs (${IMAGES} x mean of ${measured} measured)`;
    const singlesCpu = mode.singles.reduce((total, r) => total + r.cpuMs, 0);
    const singlesCores =
      mode.singles.reduce((total, r) => total + r.machineCores * r.ms, 0) / (mean * measured);
    const ratio = mode.job.ms / largest;
    return [
      `### ${mode.name}`,
      '',
      '| measure | time |',
      '| --- | --- |',
      `| largest single-image job (of ${measured}) | ${fmt(largest)} |`,
      `| median single-image job | ${fmt([...singles].sort((a, b) => a - b)[Math.floor(measured / 2)]!)} |`,
      `| ${sumLabel} | ${fmt(sum)} |`,
      `| one job of ${IMAGES} images | ${fmt(mode.job.ms)} |`,
      `| job / largest single (target <= 1.5) | ${ratio.toFixed(2)} ${ratio <= 1.5 ? '(met)' : '(NOT met)'} |`,
      `| job / sum of singles (below 1: parallel gain) | ${(mode.job.ms / sum).toFixed(2)} |`,
      `| this process's CPU: ${measured} single jobs / the ${IMAGES}-image job | ${fmt(singlesCpu)} / ${fmt(mode.job.cpuMs)} |`,
      `| machine cores busy (all processes): singles / the ${IMAGES}-image job | ${singlesCores.toFixed(2)} / ${mode.job.machineCores.toFixed(2)} of ${cpus().length} |`,
      ...(mode.notes ?? []).map(([measure, value]) => `| ${measure} | ${value} |`),
      '',
    ];
  };

  const loopback = await runMode(
    'loopback (worker straight to the registries)',
    { [SRC]: world.source.url, [DST]: world.destination.url },
    IMAGES,
  );
  world.proxy.setRules([]);
  world.proxy.setBandwidth(RATE);
  destinationProxy.setBandwidth(RATE);
  const network = await runMode(
    `network model (both registries behind the proxy, ${RATE / MB} MB/s per request each way)`,
    { [SRC]: world.proxy.url, [DST]: destinationProxy.url },
    NETWORK_SINGLES,
  );
  // Proof the model was in the path: every layer byte went through both proxies.
  const pulled = world.proxy.requests().reduce((total, r) => total + r.responseBytes, 0);
  const pushed = destinationProxy.requests().reduce((total, r) => total + r.requestBytes, 0);
  const networkResult: ModeResult = {
    ...network,
    notes: [
      ['one layer alone at the cap (the floor of any job)', fmt((LAYER_BYTES / RATE) * 1000)],
      [
        'bodies through the proxies: source responses / destination requests',
        `${(pulled / MB).toFixed(0)} / ${(pushed / MB).toFixed(0)} MB`,
      ],
    ],
  };

  const lines = [
    `bench:worker — ${IMAGES} images x ${LAYERS} layers x ${LAYER_BYTES / MB} MB (${(IMAGES * LAYERS * LAYER_BYTES) / MB} MB), ` +
      `imageJobs ${IMAGES}, blobJobs ${BLOB_JOBS}; ${cpus().length} CPUs, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    `network model: ${RATE / MB} MB/s per request each way; the job's ${IMAGES * LAYERS} layers all in flight ` +
      `= ${((IMAGES * LAYERS * RATE) / MB).toFixed(0)} MB/s at most through the worker`,
    '',
    ...renderMode(loopback),
    ...renderMode(networkResult),
  ];
  console.log(lines.join('\n'));
} finally {
  await destinationProxy.stop();
  await world.stop();
}
