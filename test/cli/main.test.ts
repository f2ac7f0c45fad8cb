// The command line itself: --help from the static command table (each summary the command's own),
// --version, and usage errors as one line ending in "(see --help)" with exit code 2 - never node's
// parseArgs paragraph, never the whole usage.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { version } from '../../package.json';
import { COMMANDS, main } from '../../lambdas/cli/main';

async function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await main(args, { stdout, stderr, env: { HOME: '/nonexistent' } });
  return { code, stdout: out, stderr: err };
}

describe('image-promoter (main)', () => {
  it('--help lists every command with the summary its module declares', async () => {
    const result = await cli(['--help']);
    assert.equal(result.code, 0);
    for (const [name, entry] of Object.entries(COMMANDS)) {
      const command = await entry.load();
      assert.equal(entry.summary, command.summary, name);
      assert.match(
        result.stdout,
        new RegExp(`^ {2}${name} +${entry.summary.replace(/[()]/g, '\\$&')}$`, 'm'),
      );
    }
  });

  it('--version prints the package version', async () => {
    assert.deepEqual(await cli(['--version']), {
      code: 0,
      stdout: `image-promoter ${version}\n`,
      stderr: '',
    });
    assert.equal((await cli(['-V'])).stdout, `image-promoter ${version}\n`);
  });

  const usageErrors: readonly [readonly string[], string][] = [
    [
      [],
      'image-promoter: expected a command: copy, history, images, plan, prune, reconcile, verify, webhook, worker (see --help)',
    ],
    [
      ['cpy'],
      'image-promoter: unknown command "cpy": copy, history, images, plan, prune, reconcile, verify, webhook, worker (see --help)',
    ],
    [
      ['toString'],
      'image-promoter: unknown command "toString": copy, history, images, plan, prune, reconcile, verify, webhook, worker (see --help)',
    ],
    [['copy', 'a:1', 'b:1', '--frobnicate'], 'image-promoter copy: unknown option --frobnicate (see --help)'],
    [['copy', 'a:1', 'b:1', '--jobs'], 'image-promoter copy: --jobs needs a value (see --help)'],
    [['copy', 'a:1', 'b:1', '--quiet=yes'], 'image-promoter copy: --quiet takes no value (see --help)'],
    [
      ['images', '--overlay', 'o', 'extra'],
      'image-promoter images: unexpected argument "extra" (see --help)',
    ],
    [['copy', 'a:1'], 'image-promoter copy: expected SOURCE and DESTINATION, got 1 argument(s) (see --help)'],
    [['webhook'], 'image-promoter webhook: --port PORT is required (0-65535) (see --help)'],
    // The CLI's one integer parser: Number('0x50') is 80, and was taken as port 80.
    [
      ['webhook', '--port', '0x50'],
      'image-promoter webhook: --port must be a whole number from 0 to 65535, not "0x50" (see --help)',
    ],
    [
      ['reconcile', '--every', '5'],
      'image-promoter reconcile: --every SECONDS and --rule NAME go together (see --help)',
    ],
    [
      ['reconcile', '--rule', 'r'],
      'image-promoter reconcile: --every SECONDS and --rule NAME go together (see --help)',
    ],
    [
      ['reconcile', '--every', '0', '--rule', 'r'],
      'image-promoter reconcile: --every must be a whole number from 1 to 86400, not "0" (see --help)',
    ],
  ];
  for (const [args, line] of usageErrors) {
    it(`${JSON.stringify(args)}: one line, exit 2`, async () => {
      assert.deepEqual(await cli(args), { code: 2, stdout: '', stderr: `${line}\n` });
    });
  }
});
