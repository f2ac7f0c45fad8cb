// A test server whose program is missing fails at once, naming what to install: no test waits for
// a server that can never start (npm test once hung for minutes without docker-registry).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pushRandomImage } from './images';
import { startMoto } from './moto-server';
import { answers, startProcess } from './processes';
import { startRegistry } from './registry-server';
import { startTokenRegistry } from './token-registry';

async function withEmptyPath<T>(act: () => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ip-empty-path-'));
  const saved = process.env['PATH'];
  process.env['PATH'] = dir;
  try {
    return await act();
  } finally {
    process.env['PATH'] = saved;
    await rm(dir, { recursive: true, force: true });
  }
}

describe('test servers without their program', () => {
  const cases = [
    {
      name: 'docker-registry',
      start: () => startRegistry(),
      line: /^docker-registry is not installed \(not found on PATH\): /,
    },
    {
      name: 'moto_server',
      start: () => startMoto(),
      line: /^moto_server is not installed \(not found on PATH\): pip install 'moto\[server\]>=5'$/,
    },
    {
      name: 'the token registry',
      start: () => startTokenRegistry(),
      line: /^openssl is not installed \(not found on PATH\): /,
    },
    {
      name: 'skopeo',
      start: () => pushRandomImage('127.0.0.1:1/x:1', { username: 'u', password: 'p' }),
      line: /^skopeo is not installed \(not found on PATH\): /,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: fails at once naming what to install`, async () => {
      const started = Date.now();
      await withEmptyPath(() => assert.rejects(c.start(), { message: c.line }));
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    });
  }

  it('a program that cannot start does not leave startProcess waiting', async () => {
    const started = Date.now();
    await assert.rejects(
      startProcess('/nonexistent/registry', [], {
        ready: () => answers('http://127.0.0.1:1/'),
        timeoutMs: 60_000,
      }),
      { message: /exited before it was ready:[\s\S]*spawn error: spawn \/nonexistent\/registry ENOENT/ },
    );
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  });
});
