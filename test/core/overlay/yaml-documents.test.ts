// The YAML files of an overlay: values as kustomize's yaml.v3 reads them (merge keys), the line of
// any node for errors and warnings, and one-line errors naming file and line for malformed YAML and
// for aliases that would expand without bound.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OverlayError } from '../../../lambdas/core/errors';
import { parseYamlDocuments, type ParseOptions } from '../../../lambdas/core/overlay/yaml-documents';
import { MAX_LINE_FRAMES } from '../../../lambdas/core/yaml';

interface LineCase {
  readonly name: string;
  readonly text: string;
  readonly options?: ParseOptions;
  /** [document index, path, expected 1-based line] */
  readonly lines: readonly (readonly [number, readonly (string | number)[], number])[];
}

const lineCases: readonly LineCase[] = [
  {
    name: 'block mappings and lists, a list at the indentation of its key, comments between',
    text:
      '# a Deployment\napiVersion: apps/v1\nspec:\n  # its pods\n  containers:\n  - name: a\n    image: x\n\n' +
      '  - name: b\n    env:\n      - {name: k, value: v}\n',
    lines: [
      [0, [], 2],
      [0, ['spec'], 3],
      [0, ['spec', 'containers'], 5],
      [0, ['spec', 'containers', 0], 6],
      [0, ['spec', 'containers', 0, 'image'], 7],
      [0, ['spec', 'containers', 1, 'name'], 9],
      [0, ['spec', 'containers', 1, 'env', 0, 'value'], 11],
    ],
  },
  {
    name: 'a missing key or index: the nearest parent that exists',
    text: 'a:\n  b:\n    c: 1\n',
    lines: [
      [0, ['a', 'b', 'missing'], 2],
      [0, ['a', 'b', 'c', 'below a scalar'], 3],
      [0, ['a', 'b', 5], 2],
      [0, ['nothing'], 1],
    ],
  },
  {
    name: 'flow collections over several lines, single pairs in a flow list',
    text: 'a: {b: 1,\n  c: [2,\n    3],\n  d: 4}\nl: [x: 1, y, {z: 2}]\n',
    lines: [
      [0, ['a', 'c'], 2],
      [0, ['a', 'c', 1], 3],
      [0, ['a', 'd'], 4],
      [0, ['l', 0, 'x'], 5],
      [0, ['l', 2, 'z'], 5],
    ],
  },
  {
    name: 'a `-` with nothing after it is a null item: later items keep their own lines',
    text: 'l:\n-\n- a\n-\n- {b: 1}\n- - x\n  - y\n',
    lines: [
      [0, ['l', 0], 2],
      [0, ['l', 1], 3],
      [0, ['l', 2], 4],
      [0, ['l', 3, 'b'], 5],
      [0, ['l', 4, 1], 7],
    ],
  },
  {
    // js-yaml reads `&k key: v` first as the item's own anchor, then again (restoring its position)
    // as a map whose first key carries the anchor: the second reading is the one that counts.
    name: 'an anchor or tag before the first key of a map in a list',
    text: 'l:\n  - &k key: v\n    other: w\n  - &s scalar\n  - !!str tagged\n  - after: 1\n',
    lines: [
      [0, ['l', 0, 'key'], 2],
      [0, ['l', 0, 'other'], 3],
      [0, ['l', 1], 4],
      [0, ['l', 2], 5],
      [0, ['l', 3, 'after'], 6],
    ],
  },
  {
    name: 'explicit keys, quoted keys, keys that are not strings',
    text: '? a\n: 1\n? b\n: [x, y]\n"c d": {"e": 1}\n2: two\ntrue: yes\n',
    lines: [
      [0, ['a'], 1],
      [0, ['b', 1], 4],
      [0, ['c d', 'e'], 5],
      [0, ['2'], 6],
      [0, ['true'], 7],
    ],
  },
  {
    name: 'aliases and merge keys: a merged key is found at the map that merges it',
    text: 'base: &b {x: 1}\nd:\n  <<: *b\n  z: 2\ne: *b\n',
    lines: [
      [0, ['d', 'x'], 2],
      [0, ['d', 'z'], 4],
      [0, ['e', 'x'], 5],
    ],
  },
  {
    name: 'several documents, an empty one (its line is its ---), a document end marker',
    text: 'a: 1\n---\n# only a comment\n---\nb: 2\n...\n---\n- x\n- y\n',
    lines: [
      [0, ['a'], 1],
      [1, [], 2],
      [2, ['b'], 5],
      [3, [1], 9],
    ],
  },
  {
    name: 'CRLF line ends and a byte order mark',
    text: '\ufeffa: 1\r\nb:\r\n  - c\r\n  - d: 2\r\n',
    lines: [
      [0, ['b'], 2],
      [0, ['b', 1, 'd'], 4],
    ],
  },
  {
    // kustomize keeps the last of a repeated key in a kustomization: its line is the one to name.
    name: 'a repeated key in a last-wins file: the line of the value kept',
    text: 'images:\n  - {name: a, newTag: "1"}\nnamePrefix: p-\nimages:\n  - {name: a, newTag: "2"}\n',
    options: { duplicateKeys: 'last-wins' },
    lines: [
      [0, ['images'], 4],
      [0, ['images', 0, 'newTag'], 5],
    ],
  },
];

describe('parseYamlDocuments lines', () => {
  for (const c of lineCases) {
    it(c.name, () => {
      // Act
      const documents = parseYamlDocuments('f.yaml', c.text, c.options);

      // Assess
      for (const [index, path, line] of c.lines) {
        assert.equal(documents[index]!.lineOf(path), line, `document ${index} ${JSON.stringify(path)}`);
      }
    });
  }
});

describe('parseYamlDocuments lines of many nodes', () => {
  // Each map's keys and each list's items are indexed on the first lookup (a kustomization with
  // thousands of unknown keys asks for the line of every one: this was quadratic in the file).
  it('every key of a large map and item of a large block list, asked last first', () => {
    // Prepare
    const keys = Array.from({ length: 300 }, (_, i) => `  k${i}: v\n`).join('');
    const items = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? '-\n' : `- {i: ${i}}\n`)).join('');
    const text = `m:\n${keys}  k7: again\nl:\n${items}`;

    // Act
    const [document] = parseYamlDocuments('f.yaml', text, { duplicateKeys: 'last-wins' });

    // Assess
    for (let i = 299; i >= 0; i--) {
      assert.equal(document!.lineOf(['l', i, 'i']), 304 + i, `l[${i}]`);
      assert.equal(document!.lineOf(['m', `k${i}`]), i === 7 ? 302 : 2 + i, `m.k${i}`);
    }
  });
});

describe('parseYamlDocuments lines past the frame bound', () => {
  // A line costs a frame per node of the file; past MAX_LINE_FRAMES nodes (an 8 MiB map of short
  // keys has a million) only documents keep one, so a line asked for there is its document's.
  it('names the line of the document, not of the node, in a file of more nodes', () => {
    // Prepare: a small document, one of MAX_LINE_FRAMES / 2 keys (each key and value a node), a
    // small one after it.
    const keys = Array.from({ length: MAX_LINE_FRAMES / 2 }, (_, i) => `k${i}: ${i}\n`).join('');
    const text = `a:\n  b: 1\n---\n${keys}---\nc:\n  d: 1\n`;
    const lastDocument = 3 + MAX_LINE_FRAMES / 2 + 2;

    // Act
    const documents = parseYamlDocuments('f.yaml', text, { duplicateKeys: 'last-wins' });

    // Assess: values are whole; lines are the documents' own.
    assert.equal(documents.length, 3);
    assert.equal((documents[1]!.value as Record<string, number>)['k99'], 99);
    assert.equal(documents[0]!.lineOf(['a', 'b']), 1);
    assert.equal(documents[1]!.lineOf(['k99']), 4);
    assert.equal(documents[2]!.lineOf(['c', 'd']), lastDocument);
    assert.equal(documents[2]!.lineOf([]), lastDocument);
  });
});

describe('parseYamlDocuments values', () => {
  it('reads 10,000 documents (the bound)', () => {
    assert.equal(parseYamlDocuments('f.yaml', '--- x\n...\n'.repeat(10_000)).length, 10_000);
  });

  it('merges `<<` keys as kustomize (yaml.v3) does: one map, a list of maps, explicit keys winning', () => {
    // Act
    const [document] = parseYamlDocuments(
      'f.yaml',
      'web: &web {name: web, image: team/web:1}\nworker:\n  <<: *web\n  name: worker\n' +
        'sidecar:\n  <<: [{image: team/sidecar:2}, *web]\n  name: sidecar\n',
    );

    // Assess
    assert.deepEqual(document!.value, {
      web: { name: 'web', image: 'team/web:1' },
      worker: { name: 'worker', image: 'team/web:1' },
      sidecar: { name: 'sidecar', image: 'team/sidecar:2' },
    });
  });
});

describe('parseYamlDocuments errors', () => {
  const errors: readonly (readonly [string, string, number, RegExp])[] = [
    ['a repeated key, named', 'a: 1\nb: 2\na: 3\n', 3, /^malformed YAML: duplicated mapping key "a"$/],
    [
      'a repeated key in a flow map',
      'x:\n  - {name: c, image: a, image: b}\n',
      2,
      /duplicated mapping key "image"$/,
    ],
    ['a repeated quoted key', '"a b": 1\n"a b": 2\n', 2, /duplicated mapping key "a b"$/],
    [
      'a repeated key of 20,000 blanks, cut to 80 characters',
      `a${' '.repeat(20_000)}b: 1\na${' '.repeat(20_000)}b: 2\n`,
      2,
      /^malformed YAML: duplicated mapping key "a {79}\.\.\."$/,
    ],
    ['a repeated key holding a colon', 'a:b: 1\na:b: 2\n', 2, /duplicated mapping key "a:b"$/],
    [
      'a tab as indentation',
      'a:\n\tb: 1\n',
      2,
      /^malformed YAML: tab characters must not be used in indentation$/,
    ],
    [
      'an unclosed flow list',
      'a: [1,\n',
      2,
      /^malformed YAML: unexpected end of the stream within a flow collection$/,
    ],
    [
      'an anchor that holds an alias of itself',
      'x: 1\nl: &a [1, *a]\n',
      2,
      /^excessive aliasing: an anchor holds an alias of itself/,
    ],
    // 8 MiB of `---` took 6.4 s and 958 MiB to resolve: refused from the markers, before parsing.
    [
      '20,001 document markers',
      '---\n'.repeat(20_001),
      20_001,
      /^more than 10000 YAML documents in one file$/,
    ],
    ['10,001 documents', '--- x\n'.repeat(10_001), 10_001, /^more than 10000 YAML documents in one file$/],
    [
      'a map anchor that holds an alias of itself, deeper',
      'm: &m\n  a:\n    b: [*m]\n',
      3,
      /^excessive aliasing: an anchor holds an alias of itself/,
    ],
  ];
  for (const [name, text, line, reason] of errors) {
    it(`one line naming file and line: ${name}`, () => {
      assert.throws(
        () => parseYamlDocuments('o/f.yaml', text),
        (e: unknown) => {
          assert.ok(e instanceof OverlayError, `not an OverlayError: ${String(e)}`);
          assert.equal(e.line, line);
          assert.match(e.reason, reason);
          assert.ok(e.message.startsWith(`o/f.yaml:${line}: `), e.message);
          assert.ok(!e.message.includes('\n'), e.message);
          return true;
        },
      );
    });
  }
});
