// Randomized differential test: seeded random layouts (bases, nested overlays, components, every
// patch flavour, prefixes, namespaces, labels, images entries over a small vocabulary so that they
// collide) written to a scratch directory, built by the real `kubectl kustomize` and by the
// resolver. Both must agree: the same images, or both refusing the layout. Seeds are fixed, so a
// failure is reproducible: run the failing seed alone and read the files it wrote.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CORE_SCHEMA, loadAll } from 'js-yaml';
import { resolveOverlayImages } from '../../../lambdas/core/overlay/resolve-overlay-images';
import { DirectoryFileSource } from '../../support/directory-file-source';
import { createLimiter } from '../../../lambdas/core/limiter';
import { extractImages } from './kustomize-output';

const run = promisify(execFile);
const SEEDS = Array.from({ length: 24 }, (_, i) => 7001 + i);
const CONCURRENCY = 4;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** mulberry32: a tiny deterministic PRNG. */
function random(seed: number): {
  next(): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
} {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    chance: (p: number): boolean => next() < p,
  };
}

const DIGESTS = ['1', '2', '3'].map((c) => `sha256:${c.repeat(64)}`);
const REGISTRIES = ['', 'reg.io/', 'localhost:5000/', '111111111111.dkr.ecr.us-east-1.amazonaws.com/team/'];
const NAMES = ['app', 'web', 'api', 'db'];
const KINDS: readonly (readonly [string, string, 'template' | 'cron' | 'pod'])[] = [
  ['apps/v1', 'Deployment', 'template'],
  ['apps/v1', 'StatefulSet', 'template'],
  ['batch/v1', 'CronJob', 'cron'],
  ['v1', 'Pod', 'pod'],
  ['example.com/v1', 'Widget', 'template'],
  ['apps/v1beta2', 'Deployment', 'template'],
];

type Random = ReturnType<typeof random>;

function imageOf(r: Random): string {
  let image = r.pick(REGISTRIES) + r.pick(NAMES);
  const k = r.next();
  if (k < 0.3) image += `:${r.pick(['1', '2.0', 'v3'])}`;
  else if (k < 0.5) image += `@${r.pick(DIGESTS)}`;
  else if (k < 0.65) image += `:${r.pick(['1', 'x'])}@${r.pick(DIGESTS)}`;
  return image;
}

function containersOf(r: Random, prefix: string): Json[] {
  return Array.from({ length: 1 + Math.floor(r.next() * 3) }, (_, i) => ({
    name: `${prefix}${i}`,
    image: imageOf(r),
  }));
}

function podSpecOf(r: Random): Json {
  const spec: { [key: string]: Json } = { containers: containersOf(r, 'c') };
  if (r.chance(0.3)) spec['initContainers'] = containersOf(r, 'i');
  return spec;
}

function wrap(shape: 'template' | 'cron' | 'pod', podSpec: Json): { [key: string]: Json } {
  if (shape === 'pod') return { spec: podSpec };
  if (shape === 'cron')
    return { spec: { schedule: '@daily', jobTemplate: { spec: { template: { spec: podSpec } } } } };
  return { spec: { template: { spec: podSpec } } };
}

interface Made {
  readonly apiVersion: string;
  readonly kind: string;
  readonly shape: 'template' | 'cron' | 'pod';
  readonly name: string;
}

function resourceOf(r: Random, name: string): { object: Json; made: Made } {
  const [apiVersion, kind, shape] = r.pick(KINDS);
  const object = {
    apiVersion,
    kind,
    metadata: { name, labels: { tier: r.pick(['a', 'b']) } },
    ...wrap(shape, podSpecOf(r)),
  };
  return { object, made: { apiVersion, kind, shape, name } };
}

function imagesOf(r: Random): Json[] {
  return Array.from({ length: 1 + Math.floor(r.next() * 3) }, () => {
    const name = r.chance(0.15)
      ? r.pick(['reg.io/(app|web)', '.*db', 'a.i', 'localhost:5000/.*'])
      : r.pick(NAMES);
    const entry: { [key: string]: Json } = { name: name.includes('/') ? name : r.pick(REGISTRIES) + name };
    const k = r.next();
    if (k < 0.3) entry['newTag'] = r.pick(['9', 'rc-1']);
    else if (k < 0.5) entry['digest'] = r.pick(DIGESTS);
    else if (k < 0.6) entry['newName'] = r.pick(REGISTRIES) + r.pick(NAMES);
    else if (k < 0.7) entry['tagSuffix'] = r.pick(['-s', '-fips']);
    else
      Object.assign(entry, {
        newName: r.pick(REGISTRIES) + r.pick(NAMES),
        newTag: 'n',
        digest: r.pick(DIGESTS),
      });
    return entry;
  });
}

function containerPatch(r: Random, made: Made | undefined): { [key: string]: Json } {
  const container: { [key: string]: Json } = r.chance(0.2)
    ? { name: 'c0', $patch: 'delete' }
    : { name: `c${Math.floor(r.next() * 3)}`, image: imageOf(r) };
  const containers: Json[] = r.chance(0.1) ? [{ $patch: 'replace' }, container] : [container];
  const shape = made?.shape ?? 'template';
  return {
    apiVersion: made?.apiVersion ?? 'apps/v1',
    kind: made?.kind ?? 'Deployment',
    metadata: { name: made?.name ?? 'ignored' },
    ...wrap(shape, r.chance(0.15) ? { containers, initContainers: null } : { containers }),
  };
}

function kustomizationOf(
  r: Random,
  made: readonly Made[],
  names: readonly string[],
): { [key: string]: Json } {
  const k: { [key: string]: Json } = {};
  if (r.chance(0.35)) k['namePrefix'] = r.pick(['x-', 'y-']);
  if (r.chance(0.15)) k['nameSuffix'] = '-s';
  if (r.chance(0.3)) k['namespace'] = r.pick(['ns1', 'ns2']);
  if (r.chance(0.2)) k['commonLabels'] = { tier: r.pick(['a', 'b']) };
  if (r.chance(0.15)) k['commonAnnotations'] = { owner: 'team' };
  if (r.chance(0.7)) k['images'] = imagesOf(r);
  if (r.chance(0.15)) {
    // Builtin transformer configs, inline: run after every field above.
    k['transformers'] = imagesOf(r).map((imageTag, i) =>
      JSON.stringify({
        apiVersion: 'builtin',
        kind: 'ImageTagTransformer',
        metadata: { name: `t${i}` },
        imageTag,
      }),
    );
  }
  const patches: Json[] = [];
  const legacy: Json[] = [];
  const legacyStrategic: Json[] = [];
  for (let i = Math.floor(r.next() * 4); i > 0; i--) {
    const target: { [key: string]: Json } = {};
    if (r.chance(0.6)) target['kind'] = r.pick(['Deployment', 'StatefulSet', 'Widget', 'CronJob', 'Pod']);
    if (r.chance(0.3)) {
      target['labelSelector'] = r.pick([
        'tier=a',
        'tier=b',
        'tier in (a,b)',
        'tier notin (a)',
        '!tier',
        'tier,tier!=b',
      ]);
    }
    if (r.chance(0.1)) target['annotationSelector'] = 'owner=team';
    if (r.chance(0.3)) target['name'] = r.pick([...names, 'r.*', '.*1']);
    if (r.chance(0.15)) target['namespace'] = r.pick(['ns1', 'ns2', 'default']);
    if (Object.keys(target).length === 0) target['kind'] = 'Deployment';
    const k2 = r.next();
    if (k2 < 0.35) {
      const pod = target['kind'] === 'Pod';
      const op = r.chance(0.5)
        ? {
            op: 'add',
            path: pod ? '/spec/containers/-' : '/spec/template/spec/containers/-',
            value: { name: 'j', image: imageOf(r) },
          }
        : {
            op: 'replace',
            path: pod ? '/spec/containers/0/image' : '/spec/template/spec/containers/0/image',
            value: imageOf(r),
          };
      if (r.chance(0.3)) {
        // patchesJson6902 insists on a target name.
        const name = r.pick([...names, 'r.*']);
        legacy.push({
          target: { group: 'apps', version: 'v1', ...target, name },
          patch: JSON.stringify([op]),
        });
      } else {
        patches.push({ target, patch: JSON.stringify([op]) });
      }
    } else if (k2 < 0.7 || made.length === 0) {
      patches.push({ target, patch: JSON.stringify(containerPatch(r, undefined)) });
    } else {
      // A patch without target names one resource by a name it had (original or prefixed).
      const one = r.pick(made);
      const name = r.chance(0.85) ? one.name : r.pick([`x-${one.name}`, `y-${one.name}`]);
      const body = JSON.stringify(containerPatch(r, { ...one, name }));
      if (r.chance(0.3)) legacyStrategic.push(body);
      else patches.push({ patch: body });
      if (r.chance(0.2)) {
        // Generated ConfigMaps take part in matching too (the base may or may not generate one).
        const cfg = {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: r.pick(['cfg0', 'cfg1']) },
          data: { x: 'y' },
        };
        patches.push({ patch: JSON.stringify(cfg) });
      }
    }
  }
  if (patches.length > 0) k['patches'] = patches;
  if (legacy.length > 0) k['patchesJson6902'] = legacy;
  if (legacyStrategic.length > 0) k['patchesStrategicMerge'] = legacyStrategic;
  return k;
}

async function writeLayout(seed: number, root: string): Promise<string> {
  const r = random(seed);
  const files: Record<string, string> = {};
  const made: Made[] = [];
  const bases = 1 + Math.floor(r.next() * 2);
  for (let b = 0; b < bases; b++) {
    const objects: Json[] = [];
    for (let i = 0; i < 1 + Math.floor(r.next() * 3); i++) {
      const resource = resourceOf(r, `r${b}${i}`);
      objects.push(resource.object);
      made.push(resource.made);
    }
    files[`base${b}/r.yaml`] = objects.map((o) => JSON.stringify(o)).join('\n---\n');
    files[`base${b}/kustomization.yaml`] = JSON.stringify({
      resources: ['r.yaml'],
      ...(r.chance(0.3) ? { configMapGenerator: [{ name: `cfg${b}`, literals: ['k=v'] }] } : {}),
      ...kustomizationOf(r, [], []),
    });
  }
  const hasComponent = r.chance(0.4);
  if (hasComponent) {
    files['comp/kustomization.yaml'] = JSON.stringify({
      apiVersion: 'kustomize.config.k8s.io/v1alpha1',
      kind: 'Component',
      images: imagesOf(r),
      patches: [{ target: { kind: 'Deployment' }, patch: JSON.stringify(containerPatch(r, undefined)) }],
      ...(r.chance(0.5) ? { resources: ['job.yaml'] } : {}),
    });
    const job = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'comp-job' },
      ...wrap('template', podSpecOf(r)),
    };
    files['comp/job.yaml'] = JSON.stringify(job);
  }
  let below = Array.from({ length: bases }, (_, b) => `../base${b}`);
  let overlay = '';
  const names = made.map((m) => m.name);
  for (let depth = 0; depth < 1 + Math.floor(r.next() * 3); depth++) {
    overlay = `o${depth}`;
    files[`${overlay}/kustomization.yaml`] = JSON.stringify({
      resources: below,
      ...(hasComponent && depth === 0 ? { components: ['../comp'] } : {}),
      ...kustomizationOf(r, made, names),
    });
    below = [`../${overlay}`];
  }
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return overlay;
}

type Outcome = { readonly images: readonly string[] } | { readonly error: string };

const scratch = mkdtemp(join(tmpdir(), 'overlay-random-'));
after(async () => rm(await scratch, { recursive: true, force: true }));

const limited = createLimiter(CONCURRENCY);

const layouts = new Map(
  SEEDS.map((seed) => [
    seed,
    limited(async () => {
      const root = join(await scratch, String(seed));
      const overlay = await writeLayout(seed, root);
      let oracle: Outcome;
      try {
        const { stdout } = await run('kubectl', ['kustomize', join(root, overlay)], { maxBuffer: 16 << 20 });
        const found = new Set<string>();
        for (const document of loadAll(stdout, undefined, { schema: CORE_SCHEMA }))
          extractImages(document, found);
        oracle = { images: [...found].sort() };
      } catch (e: unknown) {
        oracle = {
          error: String((e as { stderr?: unknown }).stderr ?? e)
            .split('\n')
            .filter((l) => !l.startsWith('# Warning'))
            .join(' ')
            .slice(0, 400),
        };
      }
      return { root, overlay, oracle };
    }),
  ]),
);
for (const layout of layouts.values()) layout.catch(() => undefined);

describe('resolveOverlayImages equals kubectl kustomize on random layouts', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}`, async () => {
      // Prepare
      const { root, overlay, oracle } = await layouts.get(seed)!;

      // Act
      let outcome: Outcome;
      try {
        outcome = {
          images: (await resolveOverlayImages(new DirectoryFileSource(root), 'HEAD', overlay)).images,
        };
      } catch (e: unknown) {
        outcome = { error: String(e) };
      }

      // Assess
      if ('error' in oracle)
        assert.ok('error' in outcome, `kustomize refused it (${oracle.error}) but we did not`);
      else assert.deepEqual(outcome, oracle);
    });
  }

  it('most random layouts build (the comparison is not vacuous)', async () => {
    const built = (await Promise.all(layouts.values())).filter((l) => 'images' in l.oracle).length;
    assert.ok(built >= SEEDS.length * 0.6, `only ${built} of ${SEEDS.length} layouts build`);
  });
});
