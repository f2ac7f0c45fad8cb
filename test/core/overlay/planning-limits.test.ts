// Resolving an overlay stays within its limits (config `planning`): files, bytes, bytes per file,
// resources. Each limit reached is a PlanningLimitError naming the limit and the file; the defaults
// fit what real repositories hold (single CRD files of several MB).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_PLANNING_LIMITS, type PlanningLimits } from '../../../lambdas/core/config';
import { PlanningLimitError } from '../../../lambdas/core/errors';
import { resolveOverlayImages } from '../../../lambdas/core/overlay/resolve-overlay-images';
import { MemoryFileSource } from './memory-file-source';

const pod = (name: string, image = 'team/app:1'): string =>
  `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}}\nspec: {containers: [{name: c, image: ${image}}]}\n`;

/** An overlay listing `count` one-Pod files. */
function manyFiles(count: number): Record<string, string> {
  const names = Array.from({ length: count }, (_, i) => `p${i}.yaml`);
  return {
    'o/kustomization.yaml': `resources:\n${names.map((n) => `  - ${n}\n`).join('')}`,
    ...Object.fromEntries(names.map((n, i) => [`o/${n}`, pod(`p${i}`)])),
  };
}

/** A CustomResourceDefinition-like file of about `bytes` bytes (descriptions, as real CRDs). */
function bigCrd(bytes: number): string {
  const line = `        description: ${'x'.repeat(100)}\n`;
  return (
    'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: big.example.com}\n' +
    'spec:\n  versions:\n    - name: v1\n      schema:\n' +
    Array.from({ length: Math.ceil(bytes / line.length) }, (_, i) => `      f${i}:\n${line}`).join('')
  );
}

/** `count` ConfigMaps, each within go-yaml v3's alias rule alone: 1,000 values written, aliased 97
 * times (~98,000 nodes for 2.4 KB). */
function aliasedConfigMaps(count: number, prefix: string): string {
  const one = (i: number): string =>
    `---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${prefix}${i}}\n` +
    `data: {}\nwritten: &a [${Array<string>(1000).fill('x').join(',')}]\n` +
    `aliased: [${Array<string>(97).fill('*a').join(', ')}]\n`;
  return Array.from({ length: count }, (_, i) => one(i)).join('');
}

const limits: PlanningLimits = { ...DEFAULT_PLANNING_LIMITS };

const cases: readonly {
  readonly name: string;
  readonly files: Readonly<Record<string, string>>;
  readonly limits: Partial<PlanningLimits>;
  readonly limit: string;
  readonly file: RegExp;
}[] = [
  {
    name: 'files read',
    files: manyFiles(50),
    limits: { maxFiles: 20 },
    limit: 'planning.maxFiles',
    file: /^o\/p\d+\.yaml$/,
  },
  {
    name: 'bytes read',
    files: manyFiles(50),
    limits: { maxBytes: 2000 },
    limit: 'planning.maxBytes',
    file: /^o\/p\d+\.yaml$/,
  },
  {
    name: 'bytes of one file',
    files: { 'o/kustomization.yaml': 'resources: [crd.yaml]\n', 'o/crd.yaml': bigCrd(20_000) },
    limits: { maxFileBytes: 10_000 },
    limit: 'planning.maxFileBytes',
    file: /^o\/crd\.yaml$/,
  },
  {
    name: 'resources accumulated',
    files: {
      'o/kustomization.yaml': 'resources: [../a, ../b]\n',
      'a/kustomization.yaml': 'resources: [../base]\nnamePrefix: a-\n',
      'b/kustomization.yaml': 'resources: [../base]\nnamePrefix: b-\n',
      'base/kustomization.yaml': 'resources: [l.yaml]\n',
      'base/l.yaml': `apiVersion: v1\nkind: List\nitems:\n${Array.from({ length: 30 }, (_, i) => `  - {apiVersion: v1, kind: ConfigMap, metadata: {name: c${i}}}\n`).join('')}`,
    },
    limits: { maxResources: 80 },
    limit: 'planning.maxResources',
    file: /^o\/kustomization\.yaml$/,
  },
  {
    name: 'resources made by builtin generator configs',
    files: {
      'o/kustomization.yaml': `generators:\n${Array.from({ length: 12 }, (_, i) => `  - g${i}.yaml\n`).join('')}`,
      ...Object.fromEntries(
        Array.from({ length: 12 }, (_, i) => [
          `o/g${i}.yaml`,
          `apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata: {name: cm${i}}\nliterals: [k=v]\n`,
        ]),
      ),
    },
    limits: { maxResources: 10 },
    limit: 'planning.maxResources',
    file: /^o\/kustomization\.yaml$/,
  },
  {
    // Per document go-yaml allows 99 aliased nodes for each one written: 25 documents of 2.4 KB
    // stood for 2.4 million nodes, which the resolver's copies materialized.
    name: 'aliased YAML nodes, many documents of one file',
    files: { 'o/kustomization.yaml': 'resources: [d.yaml]\n', 'o/d.yaml': aliasedConfigMaps(25, 'c') },
    limits: {},
    limit: 'the alias budget',
    file: /^o\/d\.yaml$/,
  },
  {
    name: 'aliased YAML nodes, files together',
    files: {
      'o/kustomization.yaml': 'resources: [a.yaml, b.yaml]\n',
      'o/a.yaml': aliasedConfigMaps(12, 'a'),
      'o/b.yaml': aliasedConfigMaps(12, 'b'),
    },
    limits: {},
    limit: 'the alias budget',
    file: /^o\/[ab]\.yaml$/,
  },
];

describe('planning limits of one overlay', () => {
  for (const c of cases) {
    it(`refuses an overlay over its limit of ${c.name}, naming limit and file`, async () => {
      // Prepare
      const source = new MemoryFileSource(c.files);

      // Act
      const outcome = resolveOverlayImages(source, 'rev', 'o', { limits: { ...limits, ...c.limits } });

      // Assess
      await assert.rejects(outcome, (e: unknown) => {
        assert.ok(e instanceof PlanningLimitError, String(e));
        assert.equal(e.limit, c.limit);
        assert.match(e.file, c.file);
        assert.equal(e.retryable, false);
        assert.ok(e.message.startsWith(`${e.file}: ${c.limit} reached: `), e.message);
        return true;
      });
    });
  }

  it('accepts, with the defaults, a 3.7 MB CRD file and a few hundred files', async () => {
    // Prepare
    const files = manyFiles(400);
    files['o/kustomization.yaml'] += '  - crd.yaml\n';
    files['o/crd.yaml'] = bigCrd(3_700_000);
    const source = new MemoryFileSource(files);

    // Act
    const result = await resolveOverlayImages(source, 'rev', 'o');

    // Assess
    assert.deepEqual(result.images, ['team/app:1']);
  });

  it('stops at the first read once the deadline has passed, with its reason', async () => {
    // Prepare
    const source = new MemoryFileSource(manyFiles(3));
    const reason = new PlanningLimitError('o', 'deadline', 'planning took too long');

    // Act
    const outcome = resolveOverlayImages(source, 'rev', 'o', { signal: AbortSignal.abort(reason) });

    // Assess
    await assert.rejects(outcome, (e: unknown) => e === reason);
  });
});
