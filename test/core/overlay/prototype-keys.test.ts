// Keys named `__proto__` (in overlay files, or in paths written in them) are literal keys, as in
// kustomize: they never reach Object.prototype, and the images found are kubectl kustomize's.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { loadAll } from 'js-yaml';
import { resolveOverlayImages } from '../../../lambdas/core/overlay/resolve-overlay-images';
import { extractImages } from './kustomize-output';
import { MemoryFileSource } from './memory-file-source';

const DEPLOYMENT =
  'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n' +
  '      containers:\n        - name: app\n          image: team/app:1\n';

const cases: readonly { readonly name: string; readonly files: Readonly<Record<string, string>> }[] = [
  {
    name: 'a replacement target path through __proto__, created',
    files: {
      'o/kustomization.yaml':
        'resources: [d.yaml]\nreplacements:\n- source: {kind: Deployment, fieldPath: metadata.name}\n' +
        '  targets:\n  - select: {kind: Deployment}\n    fieldPaths: [spec.__proto__.polluted]\n' +
        '    options: {create: true}\n',
      'o/d.yaml': DEPLOYMENT,
    },
  },
  {
    name: 'a strategic merge patch with a __proto__ map',
    files: {
      'o/kustomization.yaml': 'resources: [d.yaml]\npatches: [{path: p.yaml}]\n',
      'o/p.yaml':
        'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n  __proto__: {polluted: x}\n' +
        '  template:\n    spec:\n      __proto__: {containers: [{name: b, image: team/b:1}]}\n',
      'o/d.yaml': DEPLOYMENT,
    },
  },
  {
    name: 'a __proto__ key holding containers in a resource read through an alias (copied)',
    files: {
      'o/kustomization.yaml': 'resources: [d.yaml]\n',
      'o/d.yaml':
        'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: &n app\n  labels: {app: *n}\n' +
        'spec:\n  template:\n    spec:\n      __proto__: {containers: [{name: c, image: team/c:1}]}\n',
    },
  },
  {
    name: 'labels and commonLabels named __proto__',
    files: {
      'o/kustomization.yaml':
        'resources: [d.yaml]\ncommonLabels: {__proto__: one}\nlabels:\n- pairs: {__proto__: two}\n',
      'o/d.yaml': DEPLOYMENT,
    },
  },
];

const run = promisify(execFile);
const scratch = mkdtemp(join(tmpdir(), 'prototype-keys-'));
after(async () => rm(await scratch, { recursive: true, force: true }));

async function kustomizeImages(files: Readonly<Record<string, string>>, index: number): Promise<string[]> {
  const root = join(await scratch, String(index));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
  const { stdout } = await run('kubectl', ['kustomize', join(root, 'o')], { maxBuffer: 16 << 20 });
  const found = new Set<string>();
  for (const document of loadAll(stdout)) extractImages(document, found);
  return [...found].sort();
}

describe('__proto__ keys in overlays', () => {
  cases.forEach((c, index) => {
    it(`${c.name}: Object.prototype untouched, kustomize's images`, async () => {
      // Prepare
      const prototypeKeys = Object.getOwnPropertyNames(Object.prototype);
      const expected = await kustomizeImages(c.files, index);

      // Act
      const resolved = await resolveOverlayImages(new MemoryFileSource(c.files), 'rev', 'o');

      // Assess
      assert.deepEqual(Object.getOwnPropertyNames(Object.prototype), prototypeKeys);
      assert.deepEqual(resolved.images, expected);
    });
  });
});
