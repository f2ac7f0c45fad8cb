// Registry credentials from a Docker client config (`$DOCKER_CONFIG/config.json`, else
// `~/.docker/config.json`): the `auths` entries `docker login` / `crane auth login` write, so the CLI
// finds the same logins crane and skopeo would. Reads only; credential helpers (`credsStore`,
// `credHelpers`) are not run. Never logs or echoes a credential.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../core/errors';
import type { CredentialProvider, RegistryCredentials } from './registry-client';

interface AuthEntry {
  readonly auth?: unknown;
  readonly username?: unknown;
  readonly password?: unknown;
  readonly identitytoken?: unknown;
}

/** The path of the Docker config file for this environment. */
export function dockerConfigPath(env: NodeJS.ProcessEnv): string {
  const dir = env['DOCKER_CONFIG'] ?? join(env['HOME'] ?? homedir(), '.docker');
  return join(dir, 'config.json');
}

/** Credentials for a registry from the Docker config, or undefined (no file, no entry). */
export function createDockerConfigCredentialProvider(path: string): CredentialProvider {
  let auths: Promise<Readonly<Record<string, AuthEntry>>> | undefined;
  return async (registry: string): Promise<RegistryCredentials | undefined> => {
    auths ??= readAuths(path);
    const entries = await auths;
    for (const key of [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`]) {
      const entry = entries[key];
      if (entry !== undefined) return decodeEntry(entry, path, key);
    }
    return undefined;
  };
}

async function readAuths(path: string): Promise<Readonly<Record<string, AuthEntry>>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return {};
  }
  try {
    const config = JSON.parse(text) as { auths?: unknown };
    return typeof config.auths === 'object' && config.auths !== null
      ? (config.auths as Record<string, AuthEntry>)
      : {};
  } catch {
    throw new ConfigError('', 'is not valid JSON', path);
  }
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
