// A real CNCF registry behind Docker's token authentication (how Docker Hub, GHCR and most
// registries other than ECR authenticate): the registry verifies RS256 JWTs against a certificate
// made here with openssl, issued by a small token service on loopback that checks basic
// credentials and grants the scopes asked for. The registry is real; the token service is the
// spec's auth server, minimal. It records every token request for assertions.
import { execFile } from 'node:child_process';
import { createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, requireProgram, type ManagedProcess } from './processes';
import { serveRegistry } from './registry-server';

const run = promisify(execFile);

export interface TokenRequest {
  readonly user: string | undefined;
  readonly service: string | null;
  readonly scopes: readonly string[];
}

export interface TokenRegistry {
  readonly host: string;
  readonly url: string;
  readonly username: string;
  readonly password: string;
  /** Every request the token service answered, in order. */
  readonly tokenRequests: TokenRequest[];
  stop(): Promise<void>;
}

const SERVICE = 'test-registry';
const ISSUER = 'test-token-issuer';

export async function startTokenRegistry(
  options: { readonly password?: string; readonly tokenLifetimeSeconds?: number } = {},
): Promise<TokenRegistry> {
  requireProgram('openssl');
  requireProgram('docker-registry');
  const dir = await mkdtemp(join(tmpdir(), 'ip-token-registry-'));
  const username = 'robot';
  const password = options.password ?? 'token-secret';
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-subj',
    '/CN=test-token-issuer',
    '-days',
    '2',
  ]);
  const key = createPrivateKey(await readFile(keyPath));
  const certDer = pemToDer(await readFile(certPath, 'utf8'));

  const tokenRequests: TokenRequest[] = [];
  const tokenPort = await freePort();
  const tokenServer = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${tokenPort}`);
    const user = basicUser(req.headers.authorization, username, password);
    const scopes = url.searchParams.getAll('scope');
    tokenRequests.push({ user: user ?? undefined, service: url.searchParams.get('service'), scopes });
    if (user === null) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
      return;
    }
    // Anonymous callers get a token with no access (the registry then answers 401 to them).
    const access = user === undefined ? [] : scopes.map(parseScope).filter((a) => a !== undefined);
    const token = signToken(key, certDer, user ?? '', access, options.tokenLifetimeSeconds ?? 300);
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token, expires_in: options.tokenLifetimeSeconds ?? 300 }));
  });
  await new Promise<void>((resolve) => tokenServer.listen(tokenPort, '127.0.0.1', resolve));

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let registry: ManagedProcess;
  try {
    registry = await serveRegistry(dir, port, [
      'auth:',
      '  token:',
      `    realm: http://127.0.0.1:${tokenPort}/token`,
      `    service: ${SERVICE}`,
      `    issuer: ${ISSUER}`,
      `    rootcertbundle: ${certPath}`,
    ]);
  } catch (e: unknown) {
    await closeServer(tokenServer);
    throw e;
  }
  return {
    host: `127.0.0.1:${port}`,
    url,
    username,
    password,
    tokenRequests,
    stop: async () => {
      await Promise.all([registry.stop(), closeServer(tokenServer)]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** undefined: anonymous; null: wrong credentials; else the user name. */
function basicUser(
  header: string | undefined,
  username: string,
  password: string,
): string | undefined | null {
  if (header === undefined) return undefined;
  if (!header.startsWith('Basic ')) return null;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  return decoded === `${username}:${password}` ? username : null;
}

interface Access {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

function parseScope(scope: string): Access | undefined {
  // repository:<name>:<actions>, where the name itself has no colon (no port in our test names).
  const parts = scope.split(':');
  if (parts.length !== 3) return undefined;
  return { type: parts[0]!, name: parts[1]!, actions: parts[2]!.split(',') };
}

function signToken(
  key: KeyObject,
  certDer: Buffer,
  subject: string,
  access: readonly Access[],
  lifetimeSeconds: number,
): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
  const claims = {
    iss: ISSUER,
    sub: subject,
    aud: SERVICE,
    exp: now + lifetimeSeconds,
    nbf: now - 10,
    iat: now,
    jti: randomBytes(8).toString('hex'),
    access,
  };
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const payload = `${encode(header)}.${encode(claims)}`;
  return `${payload}.${sign('sha256', Buffer.from(payload), key).toString('base64url')}`;
}

function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
