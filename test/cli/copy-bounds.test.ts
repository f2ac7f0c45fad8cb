// `image-promoter copy`'s bounds as a user meets them, the CLI as a real process: --timeout ends a
// copy from a registry that drips its blob (under any idle limit) with one line and exit 1, and
// --max-blob-bytes stops a Docker schema 1 blob (no size recorded) that streams without end.
// The source is the hostile registry of test/support, the destination a real docker-registry.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { startHostileRegistry, type HostileRegistry } from '../support/hostile-registry';
import { startRegistry, type RegistryServer } from '../support/registry-server';
import { runCli } from '../support/run-cli';

describe('image-promoter copy: bounded transfers', { timeout: 120_000 }, () => {
  let dst: RegistryServer;
  let hostile: HostileRegistry | undefined;
  before(async () => {
    dst = await startRegistry();
  });
  after(async () => {
    await dst?.stop();
  });
  afterEach(async () => {
    await hostile?.stop();
    hostile = undefined;
  });

  const copy = (source: HostileRegistry, ...flags: string[]): ReturnType<typeof runCli> =>
    runCli([
      'copy',
      `${source.host}/hostile/app:1`,
      `${dst.host}/copied/app:1`,
      '--src-creds',
      'robot:secret',
      '--dst-creds',
      `${dst.username}:${dst.password}`,
      ...flags,
    ]);

  it('--timeout ends a copy whose source drips its blob, with one line and exit 1', async () => {
    // Prepare: a byte every 200 ms: no idle limit is reached
    hostile = await startHostileRegistry({ trap: 'drip', dripMs: 200 });

    // Act
    const result = await copy(hostile, '--timeout', '2s');

    // Assess
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /did not finish within 2 s \(--timeout 2s\)/);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  });

  it('--max-blob-bytes stops a schema 1 blob that streams without end', async () => {
    // Prepare
    hostile = await startHostileRegistry({ trap: 'endless-blob' });

    // Act
    const result = await copy(hostile, '--max-blob-bytes', String(8 * 1024 * 1024), '--timeout', '60s');

    // Assess
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /over the 8388608 bytes allowed/);
    assert.ok(hostile.blobBytesSent() < 256 * 1024 * 1024, `${hostile.blobBytesSent()} bytes sent`);
  });

  it('refuses a --timeout that is not a duration (usage, exit 2)', async () => {
    hostile = await startHostileRegistry({ trap: 'drip' });
    const result = await copy(hostile, '--timeout', 'soon');
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--timeout soon: expected a duration such as 90s, 15m or 1h/);
  });
});
