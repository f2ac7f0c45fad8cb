// `npm run bench:worker [-- --quick]`: does the worker really promote a job's images in parallel?
// A job of 10 images x 5 layers x 16 MB against the largest single-image job, in the same run, on
// the same loopback world the worker tests use (moto for STS/ECR tokens, two docker-registry
// instances, the GitHub test server). Target: the 10-image job takes <= 1.5 x the largest single
// image job. Each copy goes to a fresh destination repository, so nothing is skipped. A benchmark,
// not a test: it asserts nothing and prints the figures next to the target.
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { processPromotionJob } from '../lambdas/worker/process-job';
import { addImage, ImageLayout, pushLayout } from '../test/support/images';
import { DST, SRC, startWorld } from '../test/worker/world';

const MB = 1_000_000;
const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'blob-jobs': { type: 'string', default: '8' },
  },
});
const quick = flags.quick === true;
const BLOB_JOBS = Number(flags['blob-jobs']);
const IMAGES = 10;
const LAYERS = 5;
const LAYER_BYTES = quick ? 2 * MB : 16 * MB;

const world = await startWorld();
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

  const deps = world.dependencies({
    registryEndpoints: { [SRC]: world.source.url, [DST]: world.destination.url },
    copy: { imageJobs: IMAGES, blobJobs: BLOB_JOBS },
  });
  // One commit for every job: the source role session (and its ECR token) is per commit, so after
  // the warm-up every job measures copying, not STS.
  const commit = await world.newCommit();
  /** Wall and CPU (this process: hashing, streams, HTTP; the registries' CPU is not counted). */
  const runJob = async (
    prefix: string,
    indexes: readonly number[],
  ): Promise<{ ms: number; cpuMs: number }> => {
    const job = world.job(
      commit,
      indexes.map((i) => ({
        source: `${SRC}/bench/img${i}:1.0`,
        destination: `${DST}/${prefix}/img${i}:1.0`,
      })),
    );
    const started = performance.now();
    const cpu = process.cpuUsage();
    const outcome = await processPromotionJob({ job, attempt: 1 }, deps);
    const ms = performance.now() - started;
    const used = process.cpuUsage(cpu);
    if (outcome.decision.kind !== 'success') {
      throw new Error(`bench job failed: ${JSON.stringify(outcome.decision)}`);
    }
    return { ms, cpuMs: (used.user + used.system) / 1000 };
  };

  // Warm-up (STS, ECR tokens, connections, JIT), not measured.
  await runJob('warmup', [0]);
  const singleRuns: { ms: number; cpuMs: number }[] = [];
  for (let i = 0; i < IMAGES; i++) singleRuns.push(await runJob('single', [i]));
  const jobRun = await runJob(
    'job',
    Array.from({ length: IMAGES }, (_, i) => i),
  );

  const singles = singleRuns.map((r) => r.ms);
  const job = jobRun.ms;
  const largest = Math.max(...singles);
  const sum = singles.reduce((a, b) => a + b, 0);
  const singlesCpu = singleRuns.reduce((total, r) => total + r.cpuMs, 0);
  const ratio = job / largest;
  const fmt = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
  const lines = [
    `bench:worker — ${IMAGES} images x ${LAYERS} layers x ${LAYER_BYTES / MB} MB (${(IMAGES * LAYERS * LAYER_BYTES) / MB} MB), ` +
      `imageJobs ${IMAGES}, blobJobs ${BLOB_JOBS}; ${cpus().length} CPUs, load ${loadavg()[0]?.toFixed(2)}`,
    '',
    '| measure | time |',
    '| --- | --- |',
    `| largest single-image job | ${fmt(largest)} |`,
    `| median single-image job | ${fmt([...singles].sort((a, b) => a - b)[Math.floor(IMAGES / 2)]!)} |`,
    `| sum of the ${IMAGES} single-image jobs (sequential) | ${fmt(sum)} |`,
    `| one job of ${IMAGES} images | ${fmt(job)} |`,
    `| job / largest single (target <= 1.5) | ${ratio.toFixed(2)} ${ratio <= 1.5 ? '(met)' : '(NOT met)'} |`,
    `| job / sum of singles (below 1: parallel gain) | ${(job / sum).toFixed(2)} |`,
    `| worker CPU: 10 single jobs / the 10-image job | ${fmt(singlesCpu)} / ${fmt(jobRun.cpuMs)} |`,
  ];
  console.log(lines.join('\n'));
} finally {
  await world.stop();
}
