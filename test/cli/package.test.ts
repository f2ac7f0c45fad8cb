// What users install: `npm pack` of this checkout (bin/ and the esbuild bundles in dist/cli/) installed
// into an empty project without network or sources, run as plain node. And what `--help` loads:
// the entry bundle and what it requires at once, none of them holding the AWS SDK.
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
    installedBin = join(app, 'node_modules', 'image-promoter', 'bin', 'image-promoter.cjs');
  });
  after(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it('holds the bin and the bundle, and no sources', async () => {
    const files = (
      await readdir(join(workDir, 'app', 'node_modules', 'image-promoter'), { recursive: true })
    ).map(String);
    assert.ok(files.includes(join('dist', 'cli', CLI_ENTRY_FILE)), files.join(' '));
    assert.ok(files.includes(join('bin', 'image-promoter.cjs')));
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

    // A command that loads its bundle and fails on its input.
    const copy = await runCli(['copy', 'only-one-argument'], { binary: installedBin, cwd: workDir });
    assert.deepEqual(copy, {
      code: 2,
      stdout: '',
      stderr: 'image-promoter copy: expected SOURCE and DESTINATION, got 1 argument(s) (see --help)\n',
    });
  });

  it('--help and --version load the entry and the error tree only: no command, no AWS SDK', async () => {
    for (const args of [['--help'], ['--version']]) {
      const loaded = await modulesLoaded(args);
      assert.deepEqual(loaded.files, [CLI_ENTRY_FILE, join('shared', 'errors.cjs')], args.join(' '));
    }
    // ...while the package does hold the SDK (so the check above can fail).
    const all = Object.values(metafile.outputs).flatMap((o) => Object.keys(o.inputs));
    assert.ok(all.some((input) => input.includes('node_modules/@aws-sdk/client-ecr/')));
  });

  it('holds the error tree in one bundle only, so instanceof holds across bundles', () => {
    const holders = Object.entries(metafile.outputs)
      .filter(([, o]) => Object.keys(o.inputs).some((input) => input.endsWith('lambdas/core/errors.ts')))
      .map(([path]) => relative(relative(PROJECT_ROOT, CLI_OUTDIR), path));
    assert.deepEqual(holders, [join('shared', 'errors.cjs')]);
  });

  it('copy without --config loads neither the config parser nor the AWS SDK, nor node:tls before an https URL', async () => {
    const loaded = await modulesLoaded(['copy', 'only-one-argument']);
    assert.deepEqual(loaded.files, [
      join('commands', 'copy.cjs'),
      CLI_ENTRY_FILE,
      join('shared', 'errors.cjs'),
    ]);
    assert.ok(loaded.builtins.includes('http'), loaded.builtins.join(' '));
    assert.deepEqual(
      loaded.builtins.filter((name) => /^(?:https|tls)$/.test(name)),
      [],
      'copy loads node:https or node:tls at start',
    );
    const copy = metafile.outputs[relative(PROJECT_ROOT, join(CLI_OUTDIR, 'commands', 'copy.cjs'))];
    assert.ok(copy, Object.keys(metafile.outputs).join(' '));
    assert.ok(
      Object.keys(copy.inputs).some((input) => input.endsWith('lambdas/adapters/registry-client.ts')),
    );
    assert.deepEqual(
      Object.keys(copy.inputs).filter((input) => /node_modules\/(?:yaml|zod|@aws-sdk)\//.test(input)),
      [],
      'the copy bundle holds the config parser or the SDK itself',
    );
  });

  /** What the built CLI loaded by the time it exits: its own files (relative to dist/cli/, sorted)
   * and Node's built-in modules. A preload reads require.cache and process.moduleLoadList at exit. */
  async function modulesLoaded(args: readonly string[]): Promise<{ files: string[]; builtins: string[] }> {
    const hook = join(workDir, 'report-modules.cjs');
    await writeFile(
      hook,
      [
        "process.on('exit', () => {",
        '  const report = { files: Object.keys(require.cache), builtins: process.moduleLoadList };',
        "  process.stderr.write('\\nMODULES ' + JSON.stringify(report) + '\\n');",
        '});',
        '',
      ].join('\n'),
    );
    const dist = join(workDir, 'app', 'node_modules', 'image-promoter', 'dist', 'cli');
    // The built CLI, not the sources (scripts/run-tests.mjs sets IMAGE_PROMOTER_CLI_FROM_SOURCES).
    const env = { ...process.env, IMAGE_PROMOTER_CLI_FROM_SOURCES: '' };
    const result = await run(process.execPath, ['-r', hook, installedBin, ...args], { env }).catch(
      (e: { stderr?: string }) => ({ stderr: e.stderr ?? '' }),
    );
    const line = result.stderr.split('\nMODULES ')[1]?.split('\n')[0];
    assert.ok(line, result.stderr);
    const report = JSON.parse(line) as { files: string[]; builtins: string[] };
    return {
      files: report.files
        .filter((file) => file.startsWith(dist))
        .map((file) => relative(dist, file))
        .sort(),
      builtins: report.builtins
        .filter((entry) => entry.startsWith('NativeModule '))
        .map((entry) => entry.slice('NativeModule '.length)),
    };
  }
});
