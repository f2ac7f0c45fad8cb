// A check run's title and summary: the failure's one-line reason, a table row per image, cells that
// cannot break the table, and the 65,535-character cap of `output.summary` honoured by counting the
// rows left out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_CHECK_SUMMARY, renderCheckOutput } from '../../lambdas/core/check-output';
import type { ImageReport } from '../../lambdas/core/commit-status';

const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const DST = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
const DIGEST = `sha256:${'ab'.repeat(32)}`;

const promoted: ImageReport = {
  source: `${SRC}/shop/web:2.0.0`,
  destination: `${DST}/shop/web:2.0.0`,
  digest: DIGEST,
  bytes: 2_345_678,
  result: 'promoted',
};

describe('renderCheckOutput', () => {
  it('success: the description, then one row per image (image, source → destination, digest, bytes, result)', () => {
    const output = renderCheckOutput({
      state: 'success',
      description: '1 image promoted, 1 already present, 2.3 MB, 3 s',
      images: [
        promoted,
        {
          source: `${SRC}/shop/api:1.0`,
          destination: `${DST}/shop/api:1.0`,
          digest: DIGEST,
          bytes: 0,
          result: 'already present',
        },
      ],
    });
    assert.equal(output.title, '1 image promoted, 1 already present, 2.3 MB, 3 s');
    assert.equal(
      output.summary,
      [
        '1 image promoted, 1 already present, 2.3 MB, 3 s',
        '',
        '| image | source → destination | digest | bytes | result |',
        '| --- | --- | --- | --- | --- |',
        `| shop/web:2.0.0 | \`${SRC}/shop/web:2.0.0\` → \`${DST}/shop/web:2.0.0\` | \`${DIGEST}\` | 2.3 MB | promoted |`,
        `| shop/api:1.0 | \`${SRC}/shop/api:1.0\` → \`${DST}/shop/api:1.0\` | \`${DIGEST}\` | 0 B | already present |`,
      ].join('\n'),
    );
  });

  it("failure: the first failed image's reason in bold first, the failed row says why", () => {
    const output = renderCheckOutput({
      state: 'failure',
      description: '1 of 2 images failed: shop/web:9.9: manifest unknown',
      images: [
        promoted,
        {
          source: `${SRC}/shop/web:9.9`,
          destination: `${DST}/shop/web:9.9`,
          result: 'failed',
          reason: 'shop/web:9.9: manifest unknown | not found\nat source',
        },
      ],
    });
    const lines = output.summary.split('\n');
    assert.equal(lines[0], '**shop/web:9.9: manifest unknown \\| not found at source**');
    assert.equal(lines[2], '1 of 2 images failed: shop/web:9.9: manifest unknown');
    assert.equal(
      lines.at(-1),
      `| shop/web:9.9 | \`${SRC}/shop/web:9.9\` → \`${DST}/shop/web:9.9\` | – | – | failed: shop/web:9.9: manifest unknown \\| not found at source |`,
    );
    assert.equal(lines.filter((l) => l.startsWith('| shop/')).length, 2);
  });

  it('a job that failed before any image (no rows): the reason and the description only', () => {
    const output = renderCheckOutput({
      state: 'error',
      description: 'gave up after 3 attempts: STS AssumeRole throttled',
    });
    assert.equal(
      output.summary,
      '**gave up after 3 attempts: STS AssumeRole throttled**\n\ngave up after 3 attempts: STS AssumeRole throttled',
    );
  });

  it('a title is one line of at most 140 characters; Markdown in text cells is escaped', () => {
    const output = renderCheckOutput({
      state: 'pending',
      description: `promoting ${'x'.repeat(200)} <b>*now*</b>`,
    });
    assert.equal(output.title.length, 140);
    assert.match(output.summary, /\\<b\\>\\\*now\\\*\\<\/b\\>$/);
  });

  it('stays within the summary cap: rows that do not fit are counted in a last line', () => {
    const images = Array.from({ length: 2000 }, (_, i) => ({
      ...promoted,
      destination: `${DST}/shop/web-${i}:2.0.0`,
    }));
    const output = renderCheckOutput({ state: 'success', description: '2000 images promoted' }, undefined);
    assert.equal(output.summary, '2000 images promoted');
    const full = renderCheckOutput({ state: 'success', description: '2000 images promoted', images });
    assert.ok(full.summary.length <= MAX_CHECK_SUMMARY, String(full.summary.length));
    const rows = full.summary.split('\n').filter((l) => l.startsWith('| shop/web-')).length;
    assert.ok(rows > 100 && rows < 2000, String(rows));
    assert.equal(
      full.summary.split('\n').at(-1),
      `… and ${2000 - rows} more images (the worker's log has every image)`,
    );
    // Exactly at a small cap: every row that fits, then the count.
    const small = renderCheckOutput({ state: 'success', description: 'd', images: images.slice(0, 3) }, 400);
    assert.ok(small.summary.length <= 400);
    assert.match(small.summary, /… and \d more images? \(/);
  });
});
