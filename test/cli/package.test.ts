// What users install: `npm pack` of this checkout (bin/ and the esbuild bundle in dist/cli/) installed
// into an empty project without network or sources, run as plain node. And what `--help` loads:
// the entry chunk and its static imports only, none of them holding the AWS SDK.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Metafile } from 'esbuild';
import { version } from '../../package.json';
import { buildCli, CLI_ENTRY_FILE, CLI_OUTDIR, PROJECT_ROOT } from '../../scripts/build-cli';
import { runCli } from '../support/run-cli';

const run = promisify(execFile);

/** Every input (source file) of `output` and of the chunks it imports statically. */
function staticInputs(metafile: Metafile, output: string): string[] {
  const seen = new Set<string>();
  const visit = (path: string): void => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const imported of metafile.outputs[path]?.imports ?? []) {
      if (imported.kind === 'import-statement' && !imported.external) visit(imported.path);
    }
  };
  visit(output);
  return [...seen].flatMap((path) => Object.keys(metafile.outputs[path]?.inputs ?? {}));
}

describe('the npm package', () => {
  let metafile: Metafile;
  let workDir: string;
  let installedBin: string;
  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'ip-package-'));
    // Act: what `npm pack` does (prepare = the build), then an install from the tarball alone.
    metafile = await buildCli();
    const { stdout } = await run(
      'npm',
      ['pack', '--ignore-scripts', '--json', '--pack-destination', workDir],
      {
        cwd: PROJECT_ROOT,
      },
    );
    const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    const app = join(workDir, 'app');
    await mkdir(app);
    await writeFile(join(app, 'package.json'), '{"name":"app","version":"1.0.0","private":true}\n');
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', join(workDir, packed!.filename)], {
      cwd: app,
    });
    installedBin = join(app, 'node_modules', 'image-promoter', 'bin', 'image-promoter.mjs');
  });
  after(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it('holds the bin and the bundle, and no sources', async () => {
    const files = (
      await readdir(join(workDir, 'app', 'node_modules', 'image-promoter'), { recursive: true })
    ).map(String);
    assert.ok(files.includes(join('dist', 'cli', CLI_ENTRY_FILE)), files.join(' '));
    assert.ok(files.includes(join('bin', 'image-promoter.mjs')));
    assert.deepEqual(
      files.filter((f) => f.endsWith('.ts') || f.startsWith('lambdas') || f.startsWith('node_modules')),
      [],
    );
  });

  it('runs --help, --version and a command from the installed tarball with plain node', async () => {
    const help = await runCli(['--help'], { binary: installedBin, cwd: workDir });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^usage: image-promoter <command>/);
    assert.match(help.stdout, /^ {2}copy {6}copy one image between registries/m);

    const shown = await runCli(['--version'], { binary: installedBin, cwd: workDir });
    assert.deepEqual(shown, { code: 0, stdout: `image-promoter ${version}\n`, stderr: '' });

    // A command that loads its chunk (and the bundled AWS SDK, zod, yaml) and fails on its input.
    const copy = await runCli(['copy', 'only-one-argument'], { binary: installedBin, cwd: workDir });
    assert.deepEqual(copy, {
      code: 2,
      stdout: '',
      stderr: 'image-promoter copy: expected SOURCE and DESTINATION, got 1 argument(s) (see --help)\n',
    });
  });

  it('--help and --version load no AWS SDK module: commands are separate chunks', () => {
    const entry = relative(PROJECT_ROOT, join(CLI_OUTDIR, CLI_ENTRY_FILE));
    const loaded = staticInputs(metafile, entry);
    assert.ok(
      loaded.some((input) => input.endsWith('lambdas/cli/main.ts')),
      loaded.join(' '),
    );
    assert.deepEqual(
      loaded.filter((input) => input.includes('node_modules/')),
      [],
    );
    // ...while the copy command's chunk does hold the SDK (so the check above can fail).
    const all = Object.values(metafile.outputs).flatMap((o) => Object.keys(o.inputs));
    assert.ok(all.some((input) => input.includes('node_modules/@aws-sdk/client-ecr/')));
  });

  it('copy without --config loads neither yaml nor zod, nor node:tls before an https URL: its start-up', () => {
    const copy = Object.entries(metafile.outputs).find(([, o]) =>
      Object.keys(o.inputs).some((input) => input.endsWith('lambdas/cli/commands/copy.ts')),
    );
    assert.ok(copy, 'a chunk holds the copy command');
    const loaded = staticInputs(metafile, copy[0]);
    assert.ok(loaded.some((input) => input.endsWith('lambdas/adapters/registry-client.ts')));
    assert.deepEqual(
      loaded.filter((input) => /node_modules\/(?:yaml|zod)\//.test(input)),
      [],
      'copy imports the config module statically',
    );
    const builtins = new Set<string>();
    const visit = (path: string, seen: Set<string>): void => {
      if (seen.has(path)) return;
      seen.add(path);
      for (const imported of metafile.outputs[path]?.imports ?? []) {
        if (imported.kind !== 'import-statement') continue;
        if (imported.external) builtins.add(imported.path);
        else visit(imported.path, seen);
      }
    };
    visit(copy[0], new Set());
    assert.ok(builtins.has('node:http'), [...builtins].join(' '));
    assert.deepEqual(
      [...builtins].filter((name) => /^node:(?:https|tls)$/.test(name)),
      [],
      'copy loads node:https or node:tls at start',
    );
  });
});
