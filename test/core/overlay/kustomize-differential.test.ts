// The proof that the resolver is exact: for every layout under test/fixtures/overlays/<case>/, the
// images resolveOverlayImages finds must equal the images in the output of the real
// `kubectl kustomize` (kustomize v5.5), extracted by a YAML walk of that output and cross-checked
// with a plain text scan of its `image:` lines.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CORE_SCHEMA, loadAll } from 'js-yaml';
import { resolveOverlayImages } from '../../../lambdas/core/overlay/resolve-overlay-images';
import { DirectoryFileSource } from '../../support/directory-file-source';
import { createLimiter } from '../../../lambdas/core/limiter';
import { extractImages } from './kustomize-output';

const run = promisify(execFile);
const FIXTURES = join(import.meta.dirname, '../../fixtures/overlays');
const KUSTOMIZE_CONCURRENCY = 4;

interface CaseFile {
  readonly description: string;
  readonly overlay?: string;
  readonly overlays?: readonly string[];
  /** Regular expressions, one per expected resolver warning. */
  readonly warnings?: readonly string[];
  /** `image:` values a text scan finds that are not deployed images (e.g. ephemeralContainers). */
  readonly textOnly?: readonly string[];
}

interface Case {
  readonly name: string;
  readonly root: string;
  readonly overlay: string;
  readonly spec: CaseFile;
}

function loadCases(): Case[] {
  return readdirSync(FIXTURES, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => {
      const root = join(FIXTURES, entry.name);
      const spec = JSON.parse(readFileSync(join(root, 'case.json'), 'utf8')) as CaseFile;
      const overlays = spec.overlays ?? (spec.overlay === undefined ? [] : [spec.overlay]);
      return overlays.map((overlay) => ({ name: `${entry.name} (${overlay})`, root, overlay, spec }));
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Every scalar after `image:` or `reference:` in the text, unquoted. */
function scanImageLines(text: string): Set<string> {
  const found = new Set<string>();
  for (const match of text.matchAll(/^[\s-]*(?:image|reference): *(\S.*)$/gm)) {
    found.add(match[1]!.replace(/^(['"])(.*)\1$/, '$2'));
  }
  return found;
}

const limit = createLimiter(KUSTOMIZE_CONCURRENCY);
const cases = loadCases();
// Start every oracle run at once (a few at a time); each test awaits its own.
const oracle = new Map(
  cases.map((c) => [
    c,
    limit(
      async () =>
        (await run('kubectl', ['kustomize', join(c.root, c.overlay)], { maxBuffer: 16 << 20 })).stdout,
    ),
  ]),
);
for (const promise of oracle.values()) promise.catch(() => undefined);

describe('resolveOverlayImages equals kubectl kustomize', () => {
  it('has at least 25 overlay layouts', () => {
    assert.ok(cases.length >= 25, `only ${cases.length} cases`);
  });

  for (const c of cases) {
    it(`${c.name}: ${c.spec.description}`, async () => {
      // Prepare
      const rendered = await oracle.get(c)!;
      const expected = new Set<string>();
      for (const document of loadAll(rendered, undefined, { schema: CORE_SCHEMA }))
        extractImages(document, expected);
      const scanned = scanImageLines(rendered);
      const source = new DirectoryFileSource(c.root);

      // Act
      const result = await resolveOverlayImages(source, 'HEAD', c.overlay);

      // Assess
      assert.ok(expected.size > 0, 'the oracle rendered no images: the case proves nothing');
      assert.deepEqual(result.images, [...expected].sort());
      const textOnly = [...scanned].filter((image) => !expected.has(image)).sort();
      assert.deepEqual(textOnly, [...(c.spec.textOnly ?? [])].sort(), 'text scan and YAML walk disagree');
      const expectedWarnings = c.spec.warnings ?? [];
      assert.equal(result.warnings.length, expectedWarnings.length, result.warnings.join('\n'));
      expectedWarnings.forEach((pattern, i) => assert.match(result.warnings[i]!, new RegExp(pattern)));
      for (const [path, count] of source.reads) assert.equal(count, 1, `${path} read ${count} times`);
    });
  }
});
