// Aliases nest their anchor's value where they stand: a chain of anchors builds values far deeper
// than js-yaml's 100-level limit on the text. Up to 1,000 levels the whole build runs (patches,
// replacements, copies, the image walk; none of them overflows the call stack); deeper is a one-line
// error naming file and line, not a RangeError.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OverlayError } from '../../../lambdas/core/errors';
import { resolveOverlayImages } from '../../../lambdas/core/overlay/resolve-overlay-images';
import { MemoryFileSource } from './memory-file-source';

/** `anchors` maps, each nesting the previous anchor 90 levels down: ~90 x anchors levels. */
function chain(anchors: number, indent: string): string {
  let text = '';
  for (let k = 0; k < anchors; k++) {
    const inner = k === 0 ? 'x' : `*a${k - 1}`;
    text += `${indent}a${k}: &a${k} ${'{a: '.repeat(90)}${inner}${'}'.repeat(90)}\n`;
  }
  return text;
}

function overlay(anchors: number): Record<string, string> {
  const deep = (key: string): string => `      ${key}:\n${chain(anchors, '        ')}`;
  return {
    'o/kustomization.yaml':
      'resources: [d.yaml]\nnamePrefix: p-\ncommonLabels: {a: b}\npatches:\n- path: p.yaml\n' +
      '- target: {kind: Deployment}\n  patch: |\n    - op: copy\n      from: /spec/template/spec/deep\n' +
      '      path: /spec/template/spec/copied\nreplacements:\n' +
      '- source: {kind: Deployment, fieldPath: spec.template.spec.deep}\n' +
      '  targets: [{select: {kind: Deployment}, fieldPaths: [spec.template.spec.replaced], options: {create: true}}]\n' +
      'images: [{name: team/app, newTag: "2"}]\n',
    'o/p.yaml': `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n  template:\n    spec:\n${deep('patched')}`,
    'o/d.yaml':
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n  template:\n    spec:\n' +
      `      containers: [{name: app, image: team/app:1}]\n${deep('deep')}`,
  };
}

describe('values nested deep through aliases', () => {
  it('~990 levels: the whole build runs', async () => {
    // Act
    const resolved = await resolveOverlayImages(new MemoryFileSource(overlay(11)), 'rev', 'o');

    // Assess
    assert.deepEqual(resolved.images, ['team/app:2']);
  });

  it('~4,000 levels: one line naming the file and the line of the first alias', async () => {
    // Act
    const outcome = resolveOverlayImages(new MemoryFileSource(overlay(45)), 'rev', 'o');

    // Assess
    await assert.rejects(outcome, (e: unknown) => {
      assert.ok(e instanceof OverlayError, `not an OverlayError: ${String(e)}`);
      assert.equal(e.message, `o/d.yaml:10: ${e.reason}`);
      assert.match(
        e.reason,
        /^nesting too deep: with its aliases expanded the YAML nests more than 1000 levels/,
      );
      return true;
    });
  });
});
