// Every error resolveOverlayImages throws names the repository-relative file and, where there is
// one, the line; every unsupported construct becomes exactly one warning naming file and line.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { OverlayError } from '../../../lambdas/core/errors';
import { resolveOverlayImages } from '../../../lambdas/core/overlay/resolve-overlay-images';
import { MemoryFileSource } from './memory-file-source';

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      containers:
        - name: app
          image: team/app:1
`;

/** "Billion laughs": `levels` anchors, each a list of `fanout` aliases of the previous one. */
function laughs(levels: number, fanout: number, indent = ''): string {
  let text = `${indent}a0: &a0 [${Array<string>(fanout).fill('lol').join(', ')}]\n`;
  for (let level = 1; level < levels; level++) {
    text += `${indent}a${level}: &a${level} [${Array<string>(fanout)
      .fill(`*a${level - 1}`)
      .join(', ')}]\n`;
  }
  return text;
}

const COMPONENT = 'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n';

interface ErrorCase {
  readonly name: string;
  readonly files: Readonly<Record<string, string>>;
  readonly overlay?: string;
  readonly file: string;
  readonly line: number | undefined;
  readonly reason: RegExp;
  /** False where kubectl kustomize cannot judge: it builds the layout (limits of ours: repository root,
   * size limits) or it would need the network (remote bases). */
  readonly kustomizeFails?: false;
}

const errorCases: readonly ErrorCase[] = [
  {
    name: 'a builtin PatchTransformer config without patch or path',
    files: {
      'o/kustomization.yaml': 'resources: [d.yaml]\ntransformers: [t.yaml]\n',
      'o/d.yaml': DEPLOYMENT,
      'o/t.yaml':
        'apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\ntarget: {kind: Deployment}\n',
    },
    file: 'o/t.yaml',
    line: undefined,
    reason: /PatchTransformer "p": PatchTransformer needs patch or path/,
  },
  {
    name: 'a builtin PrefixSuffixTransformer config without fieldSpecs',
    files: {
      'o/kustomization.yaml': 'resources: [d.yaml]\ntransformers: [t.yaml]\n',
      'o/d.yaml': DEPLOYMENT,
      'o/t.yaml': 'apiVersion: builtin\nkind: PrefixSuffixTransformer\nmetadata: {name: p}\nprefix: a-\n',
    },
    file: 'o/t.yaml',
    line: undefined,
    reason: /needs fieldSpecs/,
  },
  {
    name: 'malformed YAML in a resource',
    files: {
      'o/kustomization.yaml': 'resources: [d.yaml]\n',
      'o/d.yaml': 'kind: Pod\nmetadata:\n  name: [oops\n',
    },
    file: 'o/d.yaml',
    line: 4,
    reason: /malformed YAML/,
  },
  {
    name: 'malformed YAML in a kustomization',
    files: { 'o/kustomization.yaml': 'resources:\n  - a.yaml\n bad: indent\n' },
    file: 'o/kustomization.yaml',
    line: 3,
    reason: /malformed YAML/,
  },
  {
    name: 'duplicate keys in a resource',
    files: {
      'o/kustomization.yaml': 'resources: [d.yaml]\n',
      'o/d.yaml':
        'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - {name: c, image: a, image: b}\n',
    },
    file: 'o/d.yaml',
    line: 6,
    reason: /malformed YAML: duplicated mapping key "image"/,
  },
  {
    name: 'a resource leaving the repository root',
    files: {
      'o/kustomization.yaml': 'resources:\n  - ../base\n  - ../../outside\n',
      'base/kustomization.yaml': 'resources: [d.yaml]\n',
      'base/d.yaml': DEPLOYMENT,
    },
    file: 'o/kustomization.yaml',
    line: 3,
    reason: /resource "\.\.\/\.\.\/outside" leaves the repository root/,
  },
  {
    name: 'a patch leaving the repository root',
    files: { 'o/kustomization.yaml': 'resources: []\npatches:\n  - path: ../../p.yaml\n' },
    file: 'o/kustomization.yaml',
    line: 3,
    reason: /patch "\.\.\/\.\.\/p\.yaml" leaves the repository root/,
  },
  {
    name: 'a resource file outside the kustomization directory',
    files: { 'o/kustomization.yaml': 'resources:\n  - ../shared/d.yaml\n', 'shared/d.yaml': DEPLOYMENT },
    file: 'o/kustomization.yaml',
    line: 2,
    reason: /resource file "\.\.\/shared\/d\.yaml" is not in or below o \(kustomize's load restrictor\)/,
  },
  {
    name: 'a patch file outside the kustomization directory',
    files: { 'o/kustomization.yaml': 'resources: []\npatchesStrategicMerge:\n  - ../shared/p.yaml\n' },
    file: 'o/kustomization.yaml',
    line: 3,
    reason: /file "\.\.\/shared\/p\.yaml" is not in or below o/,
  },
  {
    name: 'a resource cycle',
    files: {
      'a/kustomization.yaml': 'resources: [../b]\n',
      'b/kustomization.yaml': 'resources:\n  - d.yaml\n  - ../a\n',
      'b/d.yaml': DEPLOYMENT,
    },
    overlay: 'a',
    file: 'b/kustomization.yaml',
    line: 3,
    reason: /resource cycle: a -> b -> a/,
  },
  {
    name: 'a kustomization listing itself',
    files: { 'o/kustomization.yaml': 'resources: [.]\n' },
    file: 'o/kustomization.yaml',
    line: 1,
    reason: /resource cycle: o -> o/,
  },
  {
    name: 'a component cycle',
    files: {
      'o/kustomization.yaml': 'components: [../c]\n',
      'c/kustomization.yaml': `${COMPONENT}components: [../c]\n`,
    },
    file: 'c/kustomization.yaml',
    line: 3,
    reason: /resource cycle: c -> c/,
  },
  {
    name: 'a resource cycle through a base two resources share',
    files: {
      'o/kustomization.yaml': 'resources: [../b, ../c]\n',
      'b/kustomization.yaml': 'resources: [../c]\n',
      'c/kustomization.yaml': 'resources:\n  - ../b\n',
    },
    file: 'c/kustomization.yaml',
    line: 2,
    reason: /resource cycle: c -> b -> c/,
  },
  {
    // go-yaml v3 (kustomize's YAML library) refuses this; `kubectl kustomize` itself still expands
    // it (over a minute here) because kyaml copies nodes before decoding: it cannot be the judge.
    name: 'a YAML alias bomb (billion laughs)',
    kustomizeFails: false,
    files: {
      'o/kustomization.yaml': 'resources: [d.yaml]\n',
      'o/d.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n${laughs(9, 9, '  ')}`,
    },
    file: 'o/d.yaml',
    line: 6,
    reason: /excessive aliasing/,
  },
  {
    // go-yaml v3 refuses it ("anchor 'a' value contains itself"); `kubectl kustomize` 5.5 dies of a
    // 1 GB stack overflow in kyaml's deAnchor first: too costly to run as the judge.
    name: 'a YAML anchor that holds an alias of itself',
    kustomizeFails: false,
    files: {
      'o/kustomization.yaml': 'resources: [d.yaml]\n',
      'o/d.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  a: &a [*a]\n',
    },
    file: 'o/d.yaml',
    line: 5,
    reason: /excessive aliasing: an anchor holds an alias of itself/,
  },
  {
    name: 'no kustomization in the overlay',
    files: { 'o/d.yaml': DEPLOYMENT },
    file: 'o',
    line: undefined,
    reason: /no kustomization\.yaml, kustomization\.yml or Kustomization in o/,
  },
  {
    name: 'an overlay directory that does not exist',
    files: { 'o/kustomization.yaml': '' },
    overlay: 'overlays/production',
    file: 'overlays/production',
    line: undefined,
    reason: /overlay directory not found/,
  },
  {
    name: 'an overlay path leaving the repository',
    kustomizeFails: false,
    files: { 'o/kustomization.yaml': '' },
    overlay: '../elsewhere',
    file: '../elsewhere',
    line: undefined,
    reason: /leaves the repository root/,
  },
  {
    name: 'no kustomization in a base',
    files: { 'o/kustomization.yaml': 'resources:\n  - ../base\n', 'base/d.yaml': DEPLOYMENT },
    file: 'o/kustomization.yaml',
    line: 2,
    reason: /no kustomization.* in base/,
  },
  {
    name: 'two kustomization files',
    files: { 'o/kustomization.yaml': '', 'o/kustomization.yml': '' },
    file: 'o',
    line: undefined,
    reason: /more than one kustomization file in o: kustomization\.yaml, kustomization\.yml/,
  },
  {
    name: 'a missing resource file',
    files: { 'o/kustomization.yaml': 'resources:\n  - d.yaml\n  - missing.yaml\n', 'o/d.yaml': DEPLOYMENT },
    file: 'o/kustomization.yaml',
    line: 3,
    reason: /resource "missing\.yaml" not found \(o\/missing\.yaml\)/,
  },
  {
    name: 'a missing patch file',
    files: {
      'o/kustomization.yaml': 'resources: [d.yaml]\npatches:\n  - path: p.yaml\n',
      'o/d.yaml': DEPLOYMENT,
    },
    file: 'o/kustomization.yaml',
    line: 3,
    reason: /patch file o\/p\.yaml not found/,
  },
  {
    name: 'a strategic merge patch that matches nothing',
    files: {
      'o/kustomization.yaml': 'resources: [d.yaml]\npatches:\n  - path: p.yaml\n',
      'o/d.yaml': DEPLOYMENT,
      'o/p.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: other}\n',
    },
    file: 'o/p.yaml',
    line: 1,
    reason: /no resource matches the patch for apps\/v1\/Deployment other/,
  },
  {
    name: 'a patch matching nothing, although a sibling base is remote',
    files: {
      'o/kustomization.yaml': 'resources:\n  - ../a\n  - ../b\n',
      'a/kustomization.yaml': 'resources: [https://github.com/acme/infra//redis?ref=v1]\n',
      'b/kustomization.yaml': 'resources: [d.yaml]\npatches:\n  - path: p.yaml\n',
      'b/d.yaml': DEPLOYMENT,
      'b/p.yaml': 'apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: redis}\n',
    },
    file: 'b/p.yaml',
    line: 1,
    reason: /no resource matches the patch for apps\/v1\/StatefulSet redis/,
    kustomizeFails: false,
  },
  {
    name: 'a JSON6902 operation on a missing path',
    files: {
      'o/kustomization.yaml':
        'resources: [d.yaml]\npatches:\n  - target: {kind: Deployment}\n    patch: |-\n      - {op: replace, path: /spec/nope/x, value: 1}\n',
      'o/d.yaml': DEPLOYMENT,
    },
    file: 'o/kustomization.yaml',
    line: 3,
    reason: /JSON6902 patch on apps\/v1\/Deployment app: path \/spec\/nope\/x does not exist/,
  },
  {
    name: 'a JSON6902 patch without a target',
    files: {
      'o/kustomization.yaml':
        'resources: [d.yaml]\npatches:\n  - patch: |-\n      - {op: remove, path: /spec}\n',
      'o/d.yaml': DEPLOYMENT,
    },
    file: 'o/kustomization.yaml',
    line: 3,
    reason: /JSON6902 patch needs a target/,
  },
  {
    name: 'a patch starting with [ that is not JSON',
    files: {
      'o/kustomization.yaml':
        'resources: [d.yaml]\npatches:\n  - target: {kind: Deployment}\n    path: p.yaml\n',
      'o/p.yaml': '[{op: remove, path: /spec}]\n',
      'o/d.yaml': DEPLOYMENT,
    },
    file: 'o/p.yaml',
    line: 1,
    reason: /a patch starting with "\[" must be a JSON list of operations/,
  },
  {
    name: 'a Component listed under resources',
    files: { 'o/kustomization.yaml': 'resources:\n  - ../c\n', 'c/kustomization.yaml': COMPONENT },
    file: 'o/kustomization.yaml',
    line: 2,
    reason: /is a Component: list it under components/,
  },
  {
    name: 'a Kustomization listed under components',
    files: { 'o/kustomization.yaml': 'components:\n  - ../k\n', 'k/kustomization.yaml': 'resources: []\n' },
    file: 'o/kustomization.yaml',
    line: 2,
    reason: /listed in components but is not kind: Component/,
  },
  {
    name: 'a number where kustomize wants a string',
    files: { 'o/kustomization.yaml': 'images:\n  - name: app\n    newTag: 2.0\n' },
    file: 'o/kustomization.yaml',
    line: 3,
    reason: /images\.0\.newTag must be a string/,
  },
  {
    name: 'the same resource twice',
    files: {
      'o/kustomization.yaml': 'resources:\n  - a.yaml\n  - b.yaml\n',
      'o/a.yaml': DEPLOYMENT,
      'o/b.yaml': DEPLOYMENT,
    },
    file: 'o/kustomization.yaml',
    line: 3,
    reason: /apps\/v1\/Deployment app from o\/b\.yaml is already added \(from o\/a\.yaml\)/,
  },
  {
    name: 'a replacement whose source selects nothing',
    files: {
      'o/kustomization.yaml':
        'resources: [d.yaml]\nreplacements:\n  - source: {kind: ConfigMap, name: c, fieldPath: data.tag}\n' +
        '    targets:\n      - select: {kind: Deployment}\n        fieldPaths:\n          - spec.template.spec.containers.[name=app].image\n',
      'o/d.yaml': DEPLOYMENT,
    },
    file: 'o/kustomization.yaml',
    line: 3,
    reason: /replacement source \(kind ConfigMap, name c\): no resource matches/,
  },
  {
    name: 'a replacement target without the field (no create)',
    files: {
      'o/kustomization.yaml': 'resources: [d.yaml]\nreplacements:\n  - path: r.yaml\n',
      'o/r.yaml':
        'source: {kind: Deployment, fieldPath: spec.template.spec.containers.0.image}\n' +
        'targets:\n  - select: {kind: Deployment}\n    fieldPaths: [spec.template.spec.initContainers.0.image]\n',
      'o/d.yaml': DEPLOYMENT,
    },
    file: 'o/kustomization.yaml',
    line: 3,
    reason: /unable to find field "spec\.template\.spec\.initContainers\.0\.image" in replacement target/,
  },
  {
    name: 'a replacement source index out of bounds',
    files: {
      'o/kustomization.yaml':
        'resources: [d.yaml]\nreplacements:\n  - source:\n      kind: Deployment\n' +
        '      fieldPath: spec.template.spec.containers.0.image\n      options: {delimiter: ":", index: 2}\n' +
        '    targets:\n      - select: {kind: Deployment}\n        fieldPaths: [metadata.name]\n',
      'o/d.yaml': DEPLOYMENT,
    },
    file: 'o/kustomization.yaml',
    line: 3,
    reason: /options\.index 2 is out of bounds for value team\/app:1/,
  },
  {
    name: 'a replacement without targets (ReplacementTransformer config)',
    files: {
      'o/kustomization.yaml': 'resources: [d.yaml]\ntransformers: [t.yaml]\n',
      'o/t.yaml':
        'apiVersion: builtin\nkind: ReplacementTransformer\nmetadata: {name: r}\n' +
        'replacements:\n  - source: {kind: Deployment}\n',
      'o/d.yaml': DEPLOYMENT,
    },
    file: 'o/kustomization.yaml',
    line: 2,
    reason: /replacements must specify a source and at least one target/,
  },
  {
    name: 'namespace: gives two Deployments of other namespaces one identity',
    files: {
      'o/kustomization.yaml': 'resources: [d.yaml]\nnamespace: app\n',
      'o/d.yaml':
        'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: a}\n---\n' +
        'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: b}\n',
    },
    file: 'o/kustomization.yaml',
    line: 2,
    reason:
      /namespace transformation produces ID conflict: apps\/v1\/Deployment app\/web from o\/d\.yaml and apps\/v1\/Deployment app\/web from o\/d\.yaml/,
  },
  {
    name: 'namespace: renames a Namespace onto one that exists',
    files: {
      'o/kustomization.yaml': 'namespace: app\nresources: [../base, n.yaml]\n',
      'o/n.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n',
      'base/kustomization.yaml': 'resources: [n.yaml, d.yaml]\n',
      'base/n.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata: {name: system}\n',
      'base/d.yaml': DEPLOYMENT,
    },
    file: 'o/kustomization.yaml',
    line: 1,
    reason: /ID conflict: v1\/Namespace app from base\/n\.yaml and v1\/Namespace app from o\/n\.yaml/,
  },
  {
    name: 'a NamespaceTransformer (unsetOnly) giving a Deployment the identity of another',
    files: {
      'o/kustomization.yaml': 'resources: [d.yaml, x.yaml]\ntransformers: [ns.yaml]\n',
      'o/d.yaml': DEPLOYMENT,
      'o/x.yaml': DEPLOYMENT.replace('name: app', 'name: app\n  namespace: x'),
      'o/ns.yaml':
        'apiVersion: builtin\nkind: NamespaceTransformer\nmetadata: {name: ns, namespace: x}\nunsetOnly: true\n',
    },
    file: 'o/kustomization.yaml',
    line: 2,
    reason:
      /NamespaceTransformer "ns".*: namespace transformation produces ID conflict: apps\/v1\/Deployment x\/app from o\/d\.yaml and apps\/v1\/Deployment x\/app from o\/x\.yaml/,
  },
  {
    name: 'a resource without kind',
    files: {
      'o/kustomization.yaml': 'resources: [r.yaml]\n',
      'o/r.yaml': 'apiVersion: v1\n---\nmetadata: {name: x}\n',
    },
    file: 'o/r.yaml',
    line: 1,
    reason: /resource has no kind/,
  },
  {
    name: 'a replacement file that is not a replacement',
    files: {
      'o/kustomization.yaml': 'resources: [d.yaml]\nreplacements:\n  - path: r.yaml\n',
      'o/r.yaml': '# a comment\n\nsource: 3\n',
      'o/d.yaml': DEPLOYMENT,
    },
    file: 'o/r.yaml',
    line: 3,
    reason: /replacements must specify a source and at least one target/,
  },
];

const run = promisify(execFile);
const scratch = mkdtemp(join(tmpdir(), 'overlay-errors-'));
after(async () => rm(await scratch, { recursive: true, force: true }));

/** Writes the case to disk and asks the real kustomize to build it. */
async function kustomizeOutcome(c: ErrorCase, index: number): Promise<'fails' | 'builds'> {
  const root = join(await scratch, String(index));
  for (const [path, text] of Object.entries(c.files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
  try {
    await run('kubectl', ['kustomize', join(root, c.overlay ?? 'o')], { maxBuffer: 16 << 20 });
    return 'builds';
  } catch {
    return 'fails';
  }
}

describe('resolveOverlayImages errors', () => {
  errorCases.forEach((c, index) => {
    if (c.kustomizeFails === false) return;
    it(`kustomize refuses it too: ${c.name}`, async () => {
      assert.equal(await kustomizeOutcome(c, index), 'fails');
    });
  });

  for (const c of errorCases) {
    it(`names file and line: ${c.name}`, async () => {
      // Prepare
      const source = new MemoryFileSource(c.files);

      // Act
      const outcome = resolveOverlayImages(source, 'rev', c.overlay ?? 'o');

      // Assess
      await assert.rejects(outcome, (e: unknown) => {
        assert.ok(e instanceof OverlayError, `not an OverlayError: ${String(e)}`);
        assert.equal(e.file, c.file);
        assert.equal(e.line, c.line);
        assert.match(e.reason, c.reason);
        assert.equal(e.retryable, false);
        assert.ok(
          e.message.startsWith(c.line === undefined ? `${c.file}: ` : `${c.file}:${c.line}: `),
          e.message,
        );
        return true;
      });
    });
  }
});

interface WarningCase {
  readonly name: string;
  readonly kustomization: string;
  readonly extra?: Readonly<Record<string, string>>;
  readonly images: readonly string[];
  readonly warnings: readonly RegExp[];
}

const warningCases: readonly WarningCase[] = [
  {
    name: 'a remote resource',
    kustomization: 'resources:\n  - d.yaml\n  - https://github.com/acme/infra//base?ref=v1.2.0\n',
    images: ['team/app:1'],
    warnings: [/^o\/kustomization\.yaml:3: remote resource "https:\/\/github\.com\/acme.*" is not followed/],
  },
  {
    name: 'a remote base in go-getter form',
    kustomization: 'resources: [d.yaml]\nbases:\n  - github.com/acme/infra/base?ref=main\n',
    images: ['team/app:1'],
    warnings: [/^o\/kustomization\.yaml:3: remote resource "github\.com\/acme\/infra\/base\?ref=main"/],
  },
  {
    name: 'a remote component',
    kustomization: 'resources: [d.yaml]\ncomponents:\n  - git@github.com:acme/components.git//metrics\n',
    images: ['team/app:1'],
    warnings: [/^o\/kustomization\.yaml:3: remote component "git@github\.com/],
  },
  {
    name: 'a patch for a resource of a remote base',
    kustomization:
      'resources:\n  - d.yaml\n  - https://github.com/acme/infra//redis?ref=v1\npatches:\n  - path: p.yaml\n',
    extra: {
      'o/p.yaml': 'apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: redis}\nspec: {replicas: 3}\n',
    },
    images: ['team/app:1'],
    warnings: [
      /^o\/kustomization\.yaml:3: remote resource/,
      /^o\/p\.yaml:1: the patch for apps\/v1\/StatefulSet redis matches no resource read here .*: skipped/,
    ],
  },
  {
    name: 'a patch for a resource of a Helm chart',
    kustomization: 'resources: [d.yaml]\nhelmCharts: [{name: redis}]\npatchesStrategicMerge:\n  - p.yaml\n',
    extra: { 'o/p.yaml': 'apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: redis-master}\n' },
    images: ['team/app:1'],
    warnings: [
      /^o\/kustomization\.yaml:2: helmCharts/,
      /^o\/p\.yaml:1: the patch for .* redis-master matches no resource/,
    ],
  },
  {
    name: 'helmCharts',
    kustomization:
      'resources: [d.yaml]\nhelmCharts:\n  - name: redis\n    repo: https://charts.example.com\n',
    images: ['team/app:1'],
    warnings: [/^o\/kustomization\.yaml:2: helmCharts are not inflated/],
  },
  {
    name: 'generator and transformer plugins (configs that are not builtins), naming their files',
    kustomization: 'resources: [d.yaml]\ngenerators: [gen.yaml]\ntransformers: [tr.yaml]\n',
    extra: {
      'o/gen.yaml': 'apiVersion: team.example.com/v1\nkind: SecretsFromVault\nmetadata: {name: vault}\n',
      'o/tr.yaml': 'apiVersion: team.example.com/v1\nkind: Rewriter\nmetadata: {name: rewrite}\n',
    },
    images: ['team/app:1'],
    warnings: [
      /^o\/kustomization\.yaml:2: generator plugin team\.example\.com\/v1 SecretsFromVault "vault" \(o\/gen\.yaml\) is not run/,
      /^o\/kustomization\.yaml:3: transformer plugin team\.example\.com\/v1 Rewriter "rewrite" \(o\/tr\.yaml\) is not run/,
    ],
  },
  {
    name: 'a builtin transformer the resolver does not apply, and a builtin Helm generator',
    kustomization:
      'resources: [d.yaml]\ntransformers:\n  - |-\n    apiVersion: builtin\n    kind: ValueAddTransformer\n' +
      '    metadata: {name: add}\n    value: x\ngenerators:\n  - helm.yaml\n',
    extra: {
      'o/helm.yaml': 'apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata: {name: chart}\n',
    },
    images: ['team/app:1'],
    warnings: [
      /^o\/kustomization\.yaml:3: builtin transformer builtin ValueAddTransformer "add" \(o\/kustomization\.yaml\) is not run/,
      /^o\/kustomization\.yaml:9: builtin HelmChartInflationGenerator "chart" \(o\/helm\.yaml\): charts are not inflated/,
    ],
  },
  {
    name: 'configurations and openapi',
    kustomization: 'resources: [d.yaml]\nconfigurations: [c.yaml]\nopenapi: {path: s.json}\n',
    images: ['team/app:1'],
    warnings: [
      /^o\/kustomization\.yaml:2: configurations/,
      /^o\/kustomization\.yaml:3: a custom openapi schema/,
    ],
  },
  {
    name: 'vars used in an image',
    kustomization:
      'resources: [d.yaml, v.yaml]\nvars:\n  - name: TAG\n    objref: {kind: ConfigMap, name: c, apiVersion: v1}\n',
    extra: {
      'o/v.yaml':
        'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: "team/v:$(TAG)"}]}\n',
    },
    images: ['team/app:1', 'team/v:$(TAG)'],
    warnings: [/^o\/kustomization\.yaml: vars are not substituted: team\/v:\$\(TAG\)/],
  },
  {
    name: 'an unknown field',
    kustomization: 'resources: [d.yaml]\nimageTags: []\n',
    images: ['team/app:1'],
    warnings: [/^o\/kustomization\.yaml:2: unknown kustomization field "imageTags" is ignored/],
  },
  {
    name: 'nothing to warn about: generators of ConfigMaps and Secrets, vars unused in images',
    kustomization:
      'resources: [d.yaml]\nconfigMapGenerator: [{name: c, literals: [a=b]}]\nsecretGenerator: [{name: s, literals: [a=b]}]\n' +
      'vars: [{name: X, objref: {kind: Deployment, name: app, apiVersion: apps/v1}}]\n',
    images: ['team/app:1'],
    warnings: [],
  },
];

describe('resolveOverlayImages warnings', () => {
  for (const c of warningCases) {
    it(`warns once, naming file and line: ${c.name}`, async () => {
      // Prepare
      const source = new MemoryFileSource({
        'o/kustomization.yaml': c.kustomization,
        'o/d.yaml': DEPLOYMENT,
        ...c.extra,
      });

      // Act
      const result = await resolveOverlayImages(source, 'rev', 'o');

      // Assess
      assert.deepEqual(result.images, c.images);
      assert.equal(result.warnings.length, c.warnings.length, result.warnings.join('\n'));
      c.warnings.forEach((pattern, i) => assert.match(result.warnings[i]!, pattern));
    });
  }

  it('lists 100 warnings and counts the rest in one line', async () => {
    // Prepare
    const unknown = Array.from({ length: 150 }, (_, i) => `u${i}: 1\n`).join('');
    const source = new MemoryFileSource({
      'o/kustomization.yaml': `resources: [d.yaml]\n${unknown}`,
      'o/d.yaml': DEPLOYMENT,
    });

    // Act
    const result = await resolveOverlayImages(source, 'rev', 'o');

    // Assess
    assert.equal(result.warnings.length, 101);
    assert.equal(result.warnings[0], 'o/kustomization.yaml:2: unknown kustomization field "u0" is ignored');
    assert.equal(result.warnings[100], '... and 50 more warnings');
  });

  it('reports a warning of a shared base once', async () => {
    // Prepare
    const source = new MemoryFileSource({
      'o/kustomization.yaml': 'resources: [../a, ../b]\n',
      'a/kustomization.yaml': 'resources: [../base]\nnamePrefix: a-\n',
      'b/kustomization.yaml': 'resources: [../base]\nnamePrefix: b-\n',
      'base/kustomization.yaml': 'resources: [d.yaml]\nhelmCharts: [{name: x}]\n',
      'base/d.yaml': DEPLOYMENT,
    });

    // Act
    const result = await resolveOverlayImages(source, 'rev', './o/');

    // Assess
    assert.deepEqual(result.images, ['team/app:1']);
    assert.deepEqual(result.warnings, [
      'base/kustomization.yaml:2: helmCharts are not inflated: images of the charts are not listed',
    ]);
  });
});
