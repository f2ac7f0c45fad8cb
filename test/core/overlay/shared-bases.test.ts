// A base listed along many paths is built once per resolution: a DAG of shared bases costs its size,
// not its number of paths. Each case would take 2^46 builds if every path built its bases again.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OverlayError } from '../../../lambdas/core/errors';
import { resolveOverlayImages } from '../../../lambdas/core/overlay/resolve-overlay-images';
import { MemoryFileSource } from './memory-file-source';

const LEVELS = 46;

/** Level i has kustomizations a<i> and b<i>, each listing both of level i + 1; the last level lists
 * `bottom` (a base, or nothing). `prefixes` gives a<i> and b<i> their own namePrefix. */
function sharedBaseDag(bottom: string, prefixes: boolean): Record<string, string> {
  const files: Record<string, string> = { 'o/kustomization.yaml': 'resources: [../a0, ../b0]\n' };
  for (let level = 0; level < LEVELS; level++) {
    for (const side of ['a', 'b']) {
      const below = level + 1 < LEVELS ? `[../a${level + 1}, ../b${level + 1}]` : `[${bottom}]`;
      files[`${side}${level}/kustomization.yaml`] =
        `resources: ${below}\n${prefixes ? `namePrefix: ${side}-\n` : ''}`;
    }
  }
  files['base/kustomization.yaml'] = 'resources: [d.yaml]\n';
  files['base/d.yaml'] =
    'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: team/app:1}]}\n';
  return files;
}

describe('shared bases', () => {
  // The timeout only stops the old behaviour (2^46 builds) from hanging the suite.
  it(
    'a 46-level DAG of shared bases ends with the duplicate error at its second level from the bottom',
    { timeout: 60_000 },
    async () => {
      // Prepare
      const source = new MemoryFileSource(sharedBaseDag('../base', false));

      // Act
      const outcome = resolveOverlayImages(source, 'rev', 'o');

      // Assess
      await assert.rejects(outcome, (e: unknown) => {
        assert.ok(e instanceof OverlayError, String(e));
        assert.match(
          e.message,
          /^[ab]44\/kustomization\.yaml:1: v1\/Pod p from base\/d\.yaml is already added/,
        );
        return true;
      });
    },
  );

  it(
    'a 46-level DAG of shared bases with nothing at the bottom resolves to no images',
    { timeout: 60_000 },
    async () => {
      // Prepare
      const source = new MemoryFileSource(sharedBaseDag('', true));

      // Act
      const result = await resolveOverlayImages(source, 'rev', 'o');

      // Assess
      assert.deepEqual(result, { images: [], warnings: [] });
    },
  );

  it('a base shared by two overlays is built once and copied: each overlay transforms its own copy', async () => {
    // Prepare
    const source = new MemoryFileSource({
      'o/kustomization.yaml': 'resources: [../x, ../y]\n',
      'x/kustomization.yaml':
        'resources: [../base]\nnamePrefix: x-\nimages: [{name: team/app, newTag: "2"}]\n',
      'y/kustomization.yaml': 'resources: [../base]\nnamePrefix: y-\n',
      ...Object.fromEntries(
        Object.entries(sharedBaseDag('', false)).filter(([path]) => path.startsWith('base/')),
      ),
    });

    // Act
    const result = await resolveOverlayImages(source, 'rev', 'o');

    // Assess
    assert.deepEqual(result.images, ['team/app:1', 'team/app:2']);
  });
});
