// Registry credentials from a Docker client config (`$DOCKER_CONFIG/config.json`, else
// `~/.docker/config.json`), resolved the way the docker CLI does, so the CLI finds the same logins
// docker, crane and skopeo would: a `credHelpers` entry for the host, else `credsStore`, runs that
// credential helper (`docker-credential-<name> get`: the server on stdin, JSON
// {"ServerURL","Username","Secret"} on stdout; docker-credential-helpers' protocol), falling back to
// the `auths` entry when the helper has none; without a helper, the `auths` entry `docker login`
// wrote. A helper runs bounded in time and output. Never logs or echoes a credential.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, CredentialHelperError } from '../core/errors';
import type { CredentialProvider, RegistryCredentials } from './registry-client';

interface AuthEntry {
  readonly auth?: unknown;
  readonly username?: unknown;
  readonly password?: unknown;
  readonly identitytoken?: unknown;
}

interface DockerConfig {
  readonly auths: Readonly<Record<string, AuthEntry>>;
  readonly credHelpers: Readonly<Record<string, string>>;
  readonly credsStore: string | undefined;
}

/** How long a helper may take: ecr-login and the cloud helpers call their cloud's API (seconds). */
export const HELPER_TIMEOUT_MS = 30_000;
/** A helper's answer is one small JSON object; more is not an answer. */
export const HELPER_MAX_OUTPUT_BYTES = 64 * 1024;
/** docker-credential-helpers' message when it holds nothing for the server (exit code 1). */
const NOT_FOUND = /credentials not found/i;
/** The key Docker Hub logins are stored under (docker's IndexServer). */
const DOCKER_HUB_SERVER = 'https://index.docker.io/v1/';

/** The path of the Docker config file for this environment. */
export function dockerConfigPath(env: NodeJS.ProcessEnv): string {
  const dir = env['DOCKER_CONFIG'] ?? join(env['HOME'] ?? homedir(), '.docker');
  return join(dir, 'config.json');
}

/** Credentials for a registry from the Docker config, or undefined (no file, no entry). */
export function createDockerConfigCredentialProvider(
  path: string,
  options: { readonly env?: NodeJS.ProcessEnv } = {},
): CredentialProvider {
  let config: Promise<DockerConfig> | undefined;
  return async (registry: string): Promise<RegistryCredentials | undefined> => {
    config ??= readDockerConfig(path);
    const { auths, credHelpers, credsStore } = await config;
    const keys =
      registry === 'docker.io'
        ? [DOCKER_HUB_SERVER, 'docker.io', 'index.docker.io', 'registry-1.docker.io']
        : [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`];
    const helperKey = keys.find((key) => Object.hasOwn(credHelpers, key));
    const helper = helperKey === undefined ? credsStore : credHelpers[helperKey];
    if (helper !== undefined && helper !== '') {
      const server = registry === 'docker.io' ? DOCKER_HUB_SERVER : registry;
      const found = await runCredentialHelper(helper, server, path, options.env ?? process.env);
      if (found !== undefined) return found;
    }
    for (const key of keys) {
      const entry = auths[key];
      if (entry !== undefined) return decodeEntry(entry, path, key);
    }
    return undefined;
  };
}

async function readDockerConfig(path: string): Promise<DockerConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return { auths: {}, credHelpers: {}, credsStore: undefined };
  }
  let parsed: { auths?: unknown; credHelpers?: unknown; credsStore?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    throw new ConfigError('', 'is not valid JSON', path);
  }
  const object = (value: unknown): Record<string, unknown> =>
    typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  const credHelpers: Record<string, string> = {};
  for (const [host, name] of Object.entries(object(parsed.credHelpers))) {
    if (typeof name !== 'string') throw new ConfigError(`credHelpers.${host}`, 'must be a helper name', path);
    credHelpers[host] = name;
  }
  if (parsed.credsStore !== undefined && typeof parsed.credsStore !== 'string') {
    throw new ConfigError('credsStore', 'must be a helper name', path);
  }
  return {
    auths: object(parsed.auths) as Record<string, AuthEntry>,
    credHelpers,
    credsStore: parsed.credsStore,
  };
}

/** `docker-credential-<name> get` for `server`: its credentials, or undefined when it has none. */
async function runCredentialHelper(
  name: string,
  server: string,
  configPath: string,
  env: NodeJS.ProcessEnv,
): Promise<RegistryCredentials | undefined> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new ConfigError('credHelpers/credsStore', `"${name}" is not a credential helper name`, configPath);
  }
  const program = `docker-credential-${name}`;
  const { code, stdout, stderr, error } = await new Promise<{
    code: number | string | null;
    stdout: string;
    stderr: string;
    error: (Error & { code?: unknown; killed?: boolean }) | null;
  }>((resolve) => {
    const child = execFile(
      program,
      ['get'],
      { env, timeout: HELPER_TIMEOUT_MS, maxBuffer: HELPER_MAX_OUTPUT_BYTES, encoding: 'utf8' },
      (e, out, err) =>
        resolve({ code: e === null ? 0 : (e.code ?? null), stdout: out, stderr: err, error: e }),
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(server);
  });
  const said = (text: string): string => text.trim().split('\n')[0]?.slice(0, 200) ?? '';
  if (error !== null) {
    if (error.code === 'ENOENT') {
      throw new CredentialHelperError(
        program,
        server,
        `is not installed (not on PATH); ${configPath} names helper "${name}": install ${program} or remove it from the config`,
      );
    }
    if (error.killed === true || error.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
      throw new CredentialHelperError(
        program,
        server,
        error.killed === true && error.code !== 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER'
          ? `gave no answer within ${HELPER_TIMEOUT_MS / 1000} s`
          : `answered more than ${HELPER_MAX_OUTPUT_BYTES} bytes`,
        true,
      );
    }
    // Not found is an answer, not a failure: docker then uses the auths entry, if any.
    if (NOT_FOUND.test(stdout) || NOT_FOUND.test(stderr)) return undefined;
    throw new CredentialHelperError(
      program,
      server,
      `failed (exit ${String(code)}): ${said(stderr) || said(stdout)}`,
    );
  }
  let answer: { Username?: unknown; Secret?: unknown };
  try {
    answer = JSON.parse(stdout) as typeof answer;
  } catch {
    throw new CredentialHelperError(program, server, 'did not answer JSON {"Username","Secret"}');
  }
  if (typeof answer.Username !== 'string' || typeof answer.Secret !== 'string' || answer.Secret === '') {
    throw new CredentialHelperError(program, server, 'answered without a Username and Secret');
  }
  if (answer.Username === '<token>') {
    // An identity token is exchanged at the registry's OAuth2 endpoint, which the client does not do.
    throw new CredentialHelperError(
      program,
      server,
      'answered an identity token, which image-promoter cannot use; log in with a username and password or pass --src-creds/--dst-creds',
    );
  }
  return { username: answer.Username, password: answer.Secret };
}

function decodeEntry(entry: AuthEntry, path: string, key: string): RegistryCredentials | undefined {
  if (typeof entry.username === 'string' && typeof entry.password === 'string') {
    return { username: entry.username, password: entry.password };
  }
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) throw new ConfigError(`auths.${key}.auth`, 'is not base64 of user:password', path);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}
