// A real CNCF distribution registry (Debian `docker-registry`) on a free loopback port, with
// htpasswd basic auth for user `AWS`: how ECR authenticates, with the password standing for the
// token (`<account>-auth-token` when it stands for an account moto issues tokens for).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { answers, freePort, startProcess, type ManagedProcess } from './processes';

export interface RegistryServer {
  /** `127.0.0.1:PORT`: the host part of image references pointing at this registry. */
  readonly host: string;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly username: string;
  readonly password: string;
  /** Storage root on disk (for tests that inspect or corrupt storage). */
  readonly rootDirectory: string;
  /** The registry's process id (benchmarks read its CPU time from /proc). */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** Basic-auth password for user AWS; omit `auth` to run without authentication. */
  readonly password?: string;
  readonly auth?: boolean;
}

/**
 * bcrypt cost of the htpasswd entry: the minimum (Go's bcrypt.MinCost). docker-registry checks the
 * password on every request: ~3.5 ms more per request than without auth at cost 5, ~1.5 ms at 4
 * (measured here). ECR checks a token instead; every test and benchmark paid that cost.
 */
const BCRYPT_COST = 4;

export async function startRegistry(options: RegistryOptions = {}): Promise<RegistryServer> {
  const dir = await mkdtemp(join(tmpdir(), 'ip-registry-'));
  const port = await freePort();
  const username = 'AWS';
  const password = options.password ?? 'test-password';
  const auth = options.auth ?? true;
  const htpasswd = join(dir, 'htpasswd');
  await writeFile(htpasswd, `${username}:${bcrypt.hashSync(password, BCRYPT_COST)}\n`);
  const url = `http://127.0.0.1:${port}`;
  const server = await serveRegistry(
    dir,
    port,
    auth ? ['auth:', '  htpasswd:', '    realm: basic-realm', `    path: ${htpasswd}`] : [],
  );
  return {
    host: `127.0.0.1:${port}`,
    url,
    username,
    password,
    rootDirectory: join(dir, 'data'),
    pid: server.child.pid,
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Writes a docker-registry config under `dir` (storage in `dir/data`, deletes allowed, quiet logs)
 * with the given `auth:` section lines and serves it on 127.0.0.1:`port`; resolves once /v2/ answers.
 */
export async function serveRegistry(
  dir: string,
  port: number,
  authLines: readonly string[],
): Promise<ManagedProcess> {
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(8).toString('hex')}`,
    ...authLines,
    '',
  ].join('\n');
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, config);
  return startProcess('docker-registry', ['serve', configPath], {
    env: { ...process.env, OTEL_TRACES_EXPORTER: 'none' },
    ready: () => answers(`http://127.0.0.1:${port}/v2/`),
  });
}
