// README's two commands on a bare machine: the set-up step installs what apt can when root on
// Debian/Ubuntu, and otherwise stops at once with one line naming what to install. PATH decides
// what is "installed" (a temporary directory of symlinks stands for a machine without a program);
// who we are and which system this is are injected, so nothing is really installed here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensurePrerequisites, findProgram, NEEDS, type System } from '../../scripts/prerequisites';

/** A PATH holding node and every program `npm test` needs, except `without`. */
async function pathWithout(without: readonly string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ip-prereq-path-'));
  for (const name of NEEDS.test) {
    const found = findProgram(name);
    if (found !== undefined && !without.includes(name)) await symlink(found, join(dir, name));
  }
  await symlink(process.execPath, join(dir, 'node'));
  return dir;
}

function run(options: {
  readonly purpose: 'test' | 'demo';
  readonly path: string;
  readonly system: System;
  readonly aptInstall?: (packages: readonly string[]) => void;
}): { code: number; lines: string[] } {
  const lines: string[] = [];
  const code = ensurePrerequisites({
    purpose: options.purpose,
    env: { PATH: options.path },
    system: options.system,
    aptInstall: options.aptInstall ?? ((): void => assert.fail('must not install')),
    write: (line) => lines.push(line),
  });
  return { code, lines };
}

describe('scripts/prerequisites', () => {
  let bare: string;
  before(async () => {
    bare = await pathWithout(['docker-registry', 'skopeo']);
  });
  after(async () => {
    await rm(bare, { recursive: true, force: true });
  });

  it('says nothing and succeeds when every program is on PATH', async () => {
    const full = await pathWithout([]);
    try {
      assert.deepEqual(run({ purpose: 'test', path: full, system: { root: false, debian: true } }), {
        code: 0,
        lines: [],
      });
    } finally {
      await rm(full, { recursive: true, force: true });
    }
  });

  it('installs docker-registry and skopeo with apt-get as root on Debian, saying so on one line', async () => {
    // Prepare: the "installer" links the real programs into the bare PATH.
    const installed: string[][] = [];
    const aptInstall = (packages: readonly string[]): void => {
      installed.push([...packages]);
      for (const name of packages) spawnSync('ln', ['-s', findProgram(name)!, join(bare, name)]);
    };
    // Act
    const result = run({ purpose: 'demo', path: bare, system: { root: true, debian: true }, aptInstall });
    // Assess
    assert.deepEqual(installed, [['skopeo', 'docker-registry']]);
    assert.deepEqual(result, {
      code: 0,
      lines: [
        'image-promoter: npm run demo needs skopeo, docker-registry: installing with apt-get install -y skopeo docker-registry',
      ],
    });
    await rm(join(bare, 'skopeo'));
    await rm(join(bare, 'docker-registry'));
  });

  it('reports a failed apt-get on one line and fails', () => {
    const result = run({
      purpose: 'test',
      path: bare,
      system: { root: true, debian: true },
      aptInstall: () => {
        throw new Error('apt-get update exited 100: E: Could not get lock /var/lib/apt/lists/lock');
      },
    });
    assert.equal(result.code, 1);
    assert.equal(result.lines.length, 2);
    assert.match(
      result.lines[1]!,
      /^image-promoter: apt-get failed: apt-get update exited 100: E: Could not/,
    );
  });

  it('on Debian without root names the sudo apt-get line and installs nothing', () => {
    const result = run({ purpose: 'test', path: bare, system: { root: false, debian: true } });
    assert.deepEqual(result, {
      code: 1,
      lines: [
        'image-promoter: npm test needs skopeo, docker-registry (not found on PATH); install: sudo apt-get install -y skopeo docker-registry',
      ],
    });
  });

  it('elsewhere names where to get each program, and installs nothing even as root', () => {
    const result = run({ purpose: 'test', path: bare, system: { root: true, debian: false } });
    assert.equal(result.code, 1);
    assert.equal(result.lines.length, 1);
    assert.match(
      result.lines[0]!,
      /^image-promoter: npm test needs skopeo, docker-registry \(not found on PATH\); install: skopeo \(https:\/\/github\.com\/containers\/skopeo\/blob\/main\/install\.md\); the CNCF distribution registry as `docker-registry` on PATH/,
    );
  });

  it('programs apt cannot install (moto 5) are named with their own installer', async () => {
    const noMoto = await pathWithout(['moto_server', 'skopeo']);
    try {
      const result = run({ purpose: 'demo', path: noMoto, system: { root: false, debian: true } });
      assert.deepEqual(result, {
        code: 1,
        lines: [
          "image-promoter: npm run demo needs skopeo, moto_server (not found on PATH); install: sudo apt-get install -y skopeo; pip install 'moto[server]>=5'",
        ],
      });
    } finally {
      await rm(noMoto, { recursive: true, force: true });
    }
  });
});
