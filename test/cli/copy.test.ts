// `image-promoter copy` end to end: the real CLI entry (in process, and once as a real process
// through bin/image-promoter.cjs) against two real registries; results read back with skopeo.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { main } from '../../lambdas/cli/main';
import { startFaultProxy } from '../support/fault-proxy';
import { inspectRaw, pushRandomImage, sha256 } from '../support/images';
import { startMoto } from '../support/moto-server';
import { startRegistry, type RegistryServer } from '../support/registry-server';

const run = promisify(execFile);

interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function cli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  options: { readonly tty?: boolean } = {},
): Promise<CliRun> {
  const stdout = new PassThrough();
  const stderr: PassThrough & { isTTY?: boolean } = new PassThrough();
  if (options.tty === true) stderr.isTTY = true;
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  // HOME points at an empty directory so no real docker config leaks into the test.
  const code = await main(['copy', ...args], { stdout, stderr, env: { HOME: '/nonexistent', ...env } });
  return { code, stdout: out, stderr: err };
}

describe('image-promoter copy', () => {
  let src: RegistryServer;
  let dst: RegistryServer;
  let srcCreds: string;
  let dstCreds: string;
  let workDir: string;
  before(async () => {
    [src, dst] = await Promise.all([
      startRegistry({ password: 'source-secret' }),
      startRegistry({ password: 'destination-secret' }),
    ]);
    srcCreds = `${src.username}:${src.password}`;
    dstCreds = `${dst.username}:${dst.password}`;
    workDir = await mkdtemp(join(tmpdir(), 'ip-cli-copy-'));
  });
  after(async () => {
    await Promise.all([src?.stop(), dst?.stop(), rm(workDir, { recursive: true, force: true })]);
  });

  it('copies with the documented flags (--src-creds --dst-creds --insecure --jobs) and prints what it did', async () => {
    // Prepare
    const pushed = await pushRandomImage(`${src.host}/cli/app:1.0`, src);

    // Act
    const result = await cli([
      `${src.host}/cli/app:1.0`,
      `${dst.host}/cli/app`,
      '--src-creds',
      srcCreds,
      '--dst-creds',
      dstCreds,
      '--insecure',
      src.host,
      '--insecure',
      dst.host,
      '--jobs',
      '2',
    ]);

    // Assess
    assert.equal(result.code, 0, result.stderr);
    assert.equal(sha256(await inspectRaw(`${dst.host}/cli/app:1.0`, dst)), pushed.digest);
    assert.match(result.stdout, new RegExp(`^copied: .*-> ${dst.host}/cli/app:1.0@${pushed.digest}$`, 'm'));
    assert.match(result.stdout, /blobs: 3 copied/);
    assert.equal(result.stderr, '');
  });

  it('draws a progress line on a terminal (stderr) and erases it before the result', async () => {
    // Prepare
    await pushRandomImage(`${src.host}/cli/tty:1`, src, { layers: [3 << 20] });

    // Act
    const result = await cli(
      [`${src.host}/cli/tty:1`, `${dst.host}/cli/tty:1`, '--src-creds', srcCreds, '--dst-creds', dstCreds],
      {},
      { tty: true },
    );

    // Assess
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stderr.startsWith('\r\x1b[Kcopying: '), JSON.stringify(result.stderr.slice(0, 40)));
    assert.ok(result.stderr.endsWith('\r\x1b[K'), JSON.stringify(result.stderr.slice(-40)));
    assert.match(result.stdout, /^copied: /);
  });

  it('takes credentials from the environment and prints JSON with --json', async () => {
    // Prepare
    const pushed = await pushRandomImage(`${src.host}/cli/json:2`, src);

    // Act
    const result = await cli([`${src.host}/cli/json:2`, `${dst.host}/cli/json:2`, '--json'], {
      IMAGE_PROMOTER_SRC_CREDS: srcCreds,
      IMAGE_PROMOTER_DEST_CREDS: dstCreds,
    });

    // Assess
    assert.equal(result.code, 0, result.stderr);
    const body = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.equal(body['digest'], pushed.digest);
    assert.equal(body['destination'], `${dst.host}/cli/json:2@${pushed.digest}`);
    assert.equal(body['alreadyPresent'], false);
    const { config, layers } = pushed.manifest;
    assert.deepEqual(
      {
        manifests: body['manifests'],
        blobsCopied: body['blobsCopied'],
        blobsSkipped: body['blobsSkipped'],
        bytesCopied: body['bytesCopied'],
        referrers: body['referrers'],
      },
      {
        manifests: 1,
        blobsCopied: 1 + layers.length,
        blobsSkipped: 0,
        bytesCopied: config.size + layers.reduce((sum, layer) => sum + layer.size, 0),
        referrers: 0,
      },
    );
    assert.equal(typeof body['durationMs'], 'number');
  });

  it('takes credentials from the docker config file and reaches registries through --endpoint', async () => {
    // Prepare: a docker config with both logins, and references naming ECR-like hosts that
    // --endpoint maps to the local registries.
    const pushed = await pushRandomImage(`${src.host}/cli/ecr:3`, src);
    const sourceHost = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
    const destinationHost = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
    const dockerDir = join(workDir, 'docker');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dockerDir, { recursive: true });
    const auth = (user: string, password: string): string =>
      Buffer.from(`${user}:${password}`).toString('base64');
    await writeFile(
      join(dockerDir, 'config.json'),
      JSON.stringify({
        auths: {
          [sourceHost]: { auth: auth(src.username, src.password) },
          [`https://${destinationHost}`]: { auth: auth(dst.username, dst.password) },
        },
      }),
    );

    // Act
    const result = await cli(
      [
        `${sourceHost}/cli/ecr:3`,
        `${destinationHost}/cli/ecr:3`,
        '--endpoint',
        `${sourceHost}=${src.url}`,
        '--endpoint',
        `${destinationHost}=${dst.url}`,
        '--quiet',
      ],
      { DOCKER_CONFIG: dockerDir },
    );

    // Assess
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '');
    assert.equal(sha256(await inspectRaw(`${dst.host}/cli/ecr:3`, dst)), pushed.digest);
  });

  it('reports a tag conflict in one line and exits 1; --overwrite moves the tag', async () => {
    // Prepare
    await pushRandomImage(`${src.host}/cli/conflict:1`, src);
    const creds = ['--src-creds', srcCreds, '--dest-creds', dstCreds];
    assert.equal((await cli([`${src.host}/cli/conflict:1`, `${dst.host}/cli/conflict:1`, ...creds])).code, 0);
    const second = await pushRandomImage(`${src.host}/cli/conflict:1`, src);

    // Act
    const refused = await cli([`${src.host}/cli/conflict:1`, `${dst.host}/cli/conflict:1`, ...creds]);
    const forced = await cli([
      `${src.host}/cli/conflict:1`,
      `${dst.host}/cli/conflict:1`,
      ...creds,
      '--overwrite',
    ]);

    // Assess
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^image-promoter copy: tag conflict: .* --overwrite\n$/);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(sha256(await inspectRaw(`${dst.host}/cli/conflict:1`, dst)), second.digest);
  });

  // ECR's quotas are per account and Region (throttle.ts, ThrottlePool): within one registry the
  // source reads and the destination writes count against the same ones, so a 429 to one side
  // holds the other too.
  it('holds the destination side too when the source side of a copy within one registry answers 429', async () => {
    // Prepare: one registry behind a proxy. Its blobs are mounted (destination requests only),
    // each mount answered after 500 ms, 13 of them through 3 slots: ~2 s of destination work. The
    // source's first referrers lookup, which runs while the blobs move, is answered 429 with
    // Retry-After: 3.
    const proxy = await startFaultProxy({ upstream: src.url });
    try {
      const pushed = await pushRandomImage(`${src.host}/cli/same:1`, src, {
        layers: Array.from({ length: 12 }, () => 2000),
      });
      proxy.setRules([
        {
          name: 'slow-mount',
          methods: ['POST'],
          path: /^\/v2\/cli\/copied\/blobs\/uploads\/$/,
          action: { kind: 'delay', ms: 500 },
        },
        {
          name: '429',
          methods: ['GET'],
          path: /^\/v2\/cli\/same\/referrers\//,
          times: 1,
          action: { kind: 'status', status: 429, retryAfterSeconds: 3 },
        },
      ]);
      const creds = `${src.username}:${src.password}`;

      // Act
      const result = await cli([
        `${proxy.host}/cli/same:1`,
        `${proxy.host}/cli/copied:1`,
        '--src-creds',
        creds,
        '--dst-creds',
        creds,
        '--jobs',
        '1',
      ]);

      // Assess
      assert.equal(result.code, 0, result.stderr);
      assert.equal(sha256(await inspectRaw(`${src.host}/cli/copied:1`, src)), pushed.digest);
      const log = proxy.requests();
      const limited = log.find((r) => r.fault === '429');
      assert.ok(limited !== undefined, 'the 429 was sent');
      const answeredAt = limited.arrivedAt + limited.ms;
      // 500 ms of slack for requests the client sent before it had read the 429 (a busy machine).
      const during = log.filter((r) => r.arrivedAt > answeredAt + 500 && r.arrivedAt < answeredAt + 2900);
      assert.deepEqual(
        during.map((r) => `${r.method} ${r.url}`),
        [],
        'requests sent while the registry had asked to wait',
      );
    } finally {
      await proxy.stop();
    }
  });

  it('gets ECR tokens from the AWS credentials at hand for ECR hosts without a login', async () => {
    // Prepare: moto issues `AWS:<account>-auth-token` for its default account; two registries take
    // exactly that password, standing for ECR in that account (reached through --endpoint).
    const moto = await startMoto({ defaultAccountId: '444444444444' });
    const [ecrSource, ecrDestination] = await Promise.all([
      startRegistry({ password: '444444444444-auth-token' }),
      startRegistry({ password: '444444444444-auth-token' }),
    ]);
    const restore = moto.applyToProcess();
    try {
      const pushed = await pushRandomImage(`${ecrSource.host}/ecr/app:7`, ecrSource);
      const sourceHost = '444444444444.dkr.ecr.us-east-1.amazonaws.com';
      const destinationHost = '444444444444.dkr.ecr.eu-west-1.amazonaws.com';

      // Act
      const result = await cli([
        `${sourceHost}/ecr/app:7`,
        `${destinationHost}/ecr/app:7`,
        '--endpoint',
        `${sourceHost}=${ecrSource.url}`,
        '--endpoint',
        `${destinationHost}=${ecrDestination.url}`,
      ]);

      // Assess
      assert.equal(result.code, 0, result.stderr);
      assert.equal(
        sha256(await inspectRaw(`${ecrDestination.host}/ecr/app:7`, ecrDestination)),
        pushed.digest,
      );
    } finally {
      restore();
      await Promise.all([moto.stop(), ecrSource.stop(), ecrDestination.stop()]);
    }
  });

  const usage: readonly { readonly args: readonly string[]; readonly message: RegExp }[] = [
    { args: [], message: /expected SOURCE and DESTINATION, got 0/ },
    { args: ['a:1'], message: /expected SOURCE and DESTINATION, got 1/ },
    {
      args: ['a:1', 'b:1', '--blob-jobs', '0'],
      message: /--blob-jobs must be a whole number from 1 to 64, not "0"/,
    },
    { args: ['a:1', 'b:1', '--endpoint', 'nohost'], message: /--endpoint nohost: expected HOST=/ },
    {
      args: ['a:1', 'b:1', '--insecure', 'http://reg:5000'],
      message: /--insecure http:\/\/reg:5000: expected HOST\[:PORT\]/,
    },
    {
      args: ['a:1', 'b:1', '--jobs', 'many'],
      message: /--jobs must be a whole number from 1 to 64, not "many"/,
    },
    // One integer parser for every option: digits only (Number('1e1') is 10, and was accepted).
    {
      args: ['a:1', 'b:1', '--jobs', '1e1'],
      message: /--jobs must be a whole number from 1 to 64, not "1e1"/,
    },
    { args: ['a:1', 'b:1', '--frobnicate'], message: /unknown option --frobnicate/ },
    { args: ['a:1', 'b:1', '--src-creds', 'no-colon-secret'], message: /must be USER:PASSWORD/ },
    { args: ['Bad:1', 'b:1'], message: /invalid image reference "Bad:1"/ },
  ];
  for (const { args, message } of usage) {
    it(`rejects ${JSON.stringify(args)} with a clear message on one line, exit 2`, async () => {
      const result = await cli(args);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /^image-promoter copy: [^\n]+ \(see --help\)\n$/);
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.stderr, /no-colon-secret/, 'a credential was echoed');
    });
  }

  it('runs as a real process: exit code 1 and one line on stderr for a missing image', async () => {
    // Act
    const failed = await run(
      process.execPath,
      ['bin/image-promoter.cjs', 'copy', `${src.host}/cli/none:1`, `${dst.host}/cli/none:1`],
      {
        env: {
          ...process.env,
          HOME: '/nonexistent',
          IMAGE_PROMOTER_SRC_CREDS: srcCreds,
          IMAGE_PROMOTER_DEST_CREDS: dstCreds,
        },
      },
    ).then(
      () => assert.fail('expected a failure'),
      (e: { code: number; stderr: string }) => e,
    );

    // Assess
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /^image-promoter copy: manifest .*cli\/none:1: .* answered 404.*\n$/);
  });
});
