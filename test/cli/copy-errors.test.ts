// `image-promoter copy` errors a person can act on, and the inputs behind them: http(s):// in
// references, --endpoint checked (never silently unused), docker config credential helpers run the
// docker way (a tiny docker-credential-* script on PATH), missing AWS credentials and region named.
// Against a real registry with basic auth; the helper is a real process speaking docker's protocol.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { main } from '../../lambdas/cli/main';
import { inspectRaw, pushRandomImage, sha256 } from '../support/images';
import { startRegistry, type RegistryServer } from '../support/registry-server';
import { runCli } from '../support/run-cli';

async function cli(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await main(['copy', ...args], { stdout, stderr, env });
  return { code, stdout: out, stderr: err };
}

describe('image-promoter copy: references, endpoints, credentials', () => {
  let registry: RegistryServer;
  let dir: string;
  let bin: string;
  let creds: string[];
  let env: NodeJS.ProcessEnv;
  before(async () => {
    registry = await startRegistry({ password: 'helper-secret' });
    dir = await mkdtemp(join(tmpdir(), 'ip-cli-errors-'));
    bin = join(dir, 'bin');
    await writeFile(join(dir, 'placeholder'), '');
    await import('node:fs/promises').then((fs) => fs.mkdir(bin));
    // docker-credential-helpers' protocol: `get`, the server on stdin, JSON on stdout.
    const helper = (name: string, body: string): Promise<void> =>
      writeFile(join(bin, `docker-credential-${name}`), `#!/bin/sh\n${body}\n`).then(() =>
        chmod(join(bin, `docker-credential-${name}`), 0o755),
      );
    await helper(
      'iptest',
      `read server; [ "$1" = get ] && [ "$server" = "${registry.host}" ] || { echo "bad call $1 $server" >&2; exit 3; }\n` +
        `echo '{"ServerURL":"'"$server"'","Username":"AWS","Secret":"helper-secret"}'`,
    );
    await helper('empty', 'cat >/dev/null; echo "credentials not found in native keychain"; exit 1');
    await helper('broken', 'cat >/dev/null; echo "helper exploded" >&2; exit 4');
    await helper('chatty', 'cat >/dev/null; head -c 200000 /dev/zero | tr "\\\\0" x');
    await pushRandomImage(`${registry.host}/cli/app:1`, registry);
    creds = ['--src-creds', `AWS:${registry.password}`, '--dst-creds', `AWS:${registry.password}`];
    env = {
      HOME: dir,
      PATH: `${bin}${delimiter}${process.env['PATH'] ?? ''}`,
      DOCKER_CONFIG: join(dir, 'none'),
    };
  });
  after(async () => {
    await Promise.all([registry?.stop(), rm(dir, { recursive: true, force: true })]);
  });

  /** A docker config directory holding `config`. */
  async function dockerConfig(name: string, config: unknown): Promise<string> {
    const path = join(dir, name);
    await import('node:fs/promises').then((fs) => fs.mkdir(path, { recursive: true }));
    await writeFile(join(path, 'config.json'), JSON.stringify(config));
    return path;
  }

  it('understands http:// in front of a reference (plain HTTP to that registry)', async () => {
    const result = await cli(
      [`http://${registry.host}/cli/app:1`, `http://${registry.host}/cli/http:1`, ...creds],
      env,
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      new RegExp(`^copied: ${registry.host}/cli/app:1@sha256:\\w+ -> ${registry.host}/cli/http:1@`),
    );
  });

  it('https:// means TLS, even on loopback (this registry speaks plain HTTP, so it fails)', async () => {
    const result = await cli(
      [`https://${registry.host}/cli/app:1`, `${registry.host}/cli/tls:1`, ...creds],
      env,
    );
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`^image-promoter copy: cannot reach ${registry.host} at https://`),
    );
  });

  const refused: readonly [string, () => readonly string[], RegExp][] = [
    [
      'another scheme',
      () => [`oci://${registry.host}/cli/app:1`, `${registry.host}/cli/x:1`],
      /^image-promoter copy: SOURCE oci:\/\/\S+: oci:\/\/ is not understood; give HOST\/REPOSITORY/,
    ],
    [
      'http:// before a Docker Hub name',
      () => ['http://nginx:1', `${registry.host}/cli/x:1`],
      /^image-promoter copy: SOURCE http:\/\/nginx:1: http:\/\/ needs a registry host/,
    ],
    [
      'an invalid reference',
      () => [`${registry.host}/cli/App:1`, `${registry.host}/cli/x:1`],
      /^image-promoter copy: SOURCE: invalid image reference "\S+": repository name must be lowercase/,
    ],
    [
      '--endpoint for a name a reference reads as a Docker Hub path',
      () => [`${registry.host}/cli/app:1`, `${registry.host}/cli/x:1`, '--endpoint', `myreg=${registry.url}`],
      /^image-promoter copy: --endpoint myreg=\S+: "myreg" is not a registry host/,
    ],
    [
      '--endpoint for a host neither reference names',
      () => [
        `${registry.host}/cli/app:1`,
        `${registry.host}/cli/x:1`,
        '--endpoint',
        `other.test=${registry.url}`,
      ],
      /^image-promoter copy: --endpoint other\.test=\S+: other\.test is neither SOURCE's registry/,
    ],
    [
      '--insecure for a host neither reference names',
      () => [`${registry.host}/cli/app:1`, `${registry.host}/cli/x:1`, '--insecure', 'other.test:5000'],
      /^image-promoter copy: --insecure other\.test:5000: other\.test:5000 is neither SOURCE's registry/,
    ],
    [
      '--endpoint with a path',
      () => [
        `${registry.host}/cli/app:1`,
        `${registry.host}/cli/x:1`,
        '--endpoint',
        `reg.test=${registry.url}/v2`,
      ],
      /^image-promoter copy: --endpoint reg\.test=\S+: the URL must be an origin/,
    ],
  ];
  for (const [name, args, line] of refused) {
    it(`refuses ${name}: one line, exit 2`, async () => {
      const result = await cli(args(), env);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, line);
      assert.match(result.stderr, / \(see --help\)\n$/);
      assert.equal(result.stderr.split('\n').length, 2);
    });
  }

  it('--endpoint maps a registry name to a URL; a URL without a port means its default port', async () => {
    const mapped = await cli(
      ['reg.test/cli/app:1', 'reg.test/cli/endpoint:1', ...creds, '--endpoint', `reg.test=${registry.url}`],
      env,
    );
    assert.equal(mapped.code, 0, mapped.stderr);
    // Port 80 on loopback: nothing listens there, so the copy fails - at the URL given, not ignored.
    const noPort = await cli(
      ['reg.test/cli/app:1', 'reg.test/cli/endpoint:2', ...creds, '--endpoint', 'reg.test=http://127.0.0.1'],
      env,
    );
    assert.equal(noPort.code, 1);
    assert.match(
      noPort.stderr,
      /^image-promoter copy: cannot reach reg\.test at http:\/\/127\.0\.0\.1\/v2\/ /,
    );
  });

  it('runs the credHelpers entry for the host (docker-credential-<name> get, server on stdin)', async () => {
    const config = await dockerConfig('helpers', { credHelpers: { [registry.host]: 'iptest' } });
    const result = await cli([`${registry.host}/cli/app:1`, `${registry.host}/cli/helper:1`], {
      ...env,
      DOCKER_CONFIG: config,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      sha256(await inspectRaw(`${registry.host}/cli/helper:1`, registry)),
      sha256(await inspectRaw(`${registry.host}/cli/app:1`, registry)),
    );
  });

  it('credsStore without the credentials falls back to the auths entry, as docker does', async () => {
    const config = await dockerConfig('store', {
      credsStore: 'empty',
      auths: { [registry.host]: { auth: Buffer.from(`AWS:${registry.password}`).toString('base64') } },
    });
    const result = await cli([`${registry.host}/cli/app:1`, `${registry.host}/cli/store:1`], {
      ...env,
      DOCKER_CONFIG: config,
    });
    assert.equal(result.code, 0, result.stderr);
  });

  const helperFailures: readonly [string, unknown, RegExp][] = [
    [
      'a helper that is not installed',
      { credsStore: 'nothere' },
      /^image-promoter copy: docker-credential-nothere \(credentials for \S+\) is not installed \(not on PATH\); \S+config\.json names helper "nothere"/,
    ],
    [
      'a helper that fails',
      { credHelpers: { REGISTRY: 'broken' } },
      /^image-promoter copy: docker-credential-broken \(credentials for \S+\) failed \(exit 4\): helper exploded\n$/,
    ],
    [
      'a helper that answers too much',
      { credsStore: 'chatty' },
      /^image-promoter copy: docker-credential-chatty \(credentials for \S+\) answered more than 65536 bytes\n$/,
    ],
  ];
  for (const [name, config, line] of helperFailures) {
    it(`fails on ${name} with one line naming it, exit 1`, async () => {
      const path = await dockerConfig(
        name.replace(/\W/g, '-'),
        JSON.parse(JSON.stringify(config).replace('REGISTRY', registry.host)),
      );
      const result = await cli([`${registry.host}/cli/app:1`, `${registry.host}/cli/fail:1`], {
        ...env,
        DOCKER_CONFIG: path,
      });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, line);
      assert.doesNotMatch(result.stderr, /helper-secret/);
    });
  }

  /** The environment of a process that has no AWS credentials or region anywhere. */
  const noAws = (): NodeJS.ProcessEnv => {
    const cleared: NodeJS.ProcessEnv = { HOME: dir, DOCKER_CONFIG: join(dir, 'none') };
    for (const key of Object.keys(process.env)) if (key.startsWith('AWS_')) cleared[key] = undefined;
    return {
      ...cleared,
      AWS_CONFIG_FILE: join(dir, 'none'),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'),
      AWS_EC2_METADATA_DISABLED: 'true',
      // Should credentials turn up after all, no real AWS endpoint is ever asked.
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    };
  };

  it('ECR without AWS credentials names the variables and profile to set', async () => {
    const ecr = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
    const result = await runCli(
      [
        'copy',
        `${ecr}/cli/app:1`,
        `${registry.host}/cli/ecr:1`,
        '--endpoint',
        `${ecr}=${registry.url}`,
        '--dst-creds',
        `AWS:${registry.password}`,
      ],
      { env: noAws() },
    );
    assert.equal(result.code, 1, result.stderr);
    assert.equal(
      result.stderr,
      'image-promoter copy: no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus ' +
        'AWS_SESSION_TOKEN for temporary ones), or AWS_PROFILE to a profile in ~/.aws/config (aws configure, ' +
        'aws sso login), or run with an instance or task role\n',
    );
  });

  it('worker without an AWS region names AWS_REGION', async () => {
    const result = await runCli(
      [
        'worker',
        '--queue-url',
        'http://127.0.0.1:9/123456789012/jobs',
        '--config',
        'image-promoter.example.yaml',
        '--once',
      ],
      { env: { ...noAws(), AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b', GITHUB_TOKEN: 'x' } },
    );
    assert.equal(result.code, 1, result.stderr);
    assert.equal(
      result.stderr,
      'image-promoter worker: no AWS region: set AWS_REGION (e.g. us-east-1), or AWS_PROFILE to a profile with a region\n',
    );
  });
});
