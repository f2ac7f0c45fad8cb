import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createProgressLine, formatBytes } from '../../lambdas/cli/progress-line';

describe('createProgressLine', () => {
  it('redraws in place at most every interval, counts partial and finished blobs, and clears itself', () => {
    // Prepare
    let clock = 0;
    const out: string[] = [];
    const line = createProgressLine({ write: (t) => out.push(t), now: () => clock, intervalMs: 100 });
    const a = `sha256:${'a'.repeat(64)}`;
    const b = `sha256:${'b'.repeat(64)}`;

    // Act
    clock = 1000;
    line.onEvent({ type: 'progress', digest: a, bytes: 1 << 20, size: 2 << 20 });
    clock = 1050; // within the interval: not drawn
    line.onEvent({ type: 'progress', digest: b, bytes: 512, size: 512 });
    clock = 2000;
    line.onEvent({ type: 'blob', digest: a, action: 'copied', bytes: 2 << 20 });
    line.onEvent({ type: 'manifest', digest: b, action: 'copied' });
    line.finish();

    // Assess
    assert.deepEqual(out, [
      '\r\x1b[Kcopying: 1.0 MiB (1.0 MiB/s), 0 blobs and 0 manifests done, 1 in flight',
      '\r\x1b[Kcopying: 2.0 MiB (1.0 MiB/s), 1 blob and 0 manifests done, 1 in flight',
      '\r\x1b[K',
    ]);
  });

  it('writes nothing at all when no event came', () => {
    const out: string[] = [];
    createProgressLine({ write: (t) => out.push(t) }).finish();
    assert.deepEqual(out, []);
  });
});

describe('formatBytes', () => {
  const cases: readonly [number, string][] = [
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [3 << 20, '3.0 MiB'],
    [2 ** 31, '2.0 GiB'],
  ];
  for (const [bytes, text] of cases) it(`${bytes} -> ${text}`, () => assert.equal(formatBytes(bytes), text));
});
