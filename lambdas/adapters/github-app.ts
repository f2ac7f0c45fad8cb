// GitHub App authentication: the App's id and private key -> a JWT (RS256, signed with node:crypto)
// -> an installation access token for the one repository, cached until shortly before it expires.
// Organizations run bots as Apps; an App's token is short-lived and can create check runs. Never logs,
// returns in errors or otherwise reveals the private key or a token.
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { ConfigError, GitHubError } from '../core/errors';
import { createExpiringCache, type Expiring } from '../core/expiring-cache';
import { createGitHubClient, splitRepository, toGitHubError } from './github';

export interface GitHubAppCredentials {
  readonly appId: string;
  /** PEM, PKCS#1 (what GitHub generates) or PKCS#8. */
  readonly privateKey: string;
  /** Found from the repository (GET /repos/{owner}/{repo}/installation) when absent. */
  readonly installationId?: number;
}

/** GitHub refuses a JWT that expires more than 10 minutes after it was issued, and recommends an
 * `iat` 60 s in the past against clock drift (docs.github.com: "Generating a JSON Web Token (JWT)
 * for a GitHub App"). 9 minutes of life keeps us inside the limit with drift either way. */
const JWT_BACKDATE_S = 60;
const JWT_LIFETIME_S = 9 * 60;

/** Installation tokens live one hour; one with less than this left is renewed, so a worker job
 * started with it never runs into its expiry. */
export const INSTALLATION_TOKEN_REFRESH_MARGIN_MS = 5 * 60 * 1000;

const base64url = (value: Buffer | string): string => Buffer.from(value).toString('base64url');

/** The App's JWT at `nowMs` (RS256 over base64url(header).base64url(claims), RFC 7519/7518). */
export function createAppJwt(appId: string, key: KeyObject, nowMs: number): string {
  const now = Math.floor(nowMs / 1000);
  const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const claims = base64url(
    JSON.stringify({ iat: now - JWT_BACKDATE_S, exp: now - JWT_BACKDATE_S + JWT_LIFETIME_S, iss: appId }),
  );
  const signature = sign('sha256', Buffer.from(`${header}.${claims}`), key);
  return `${header}.${claims}.${base64url(signature)}`;
}

/** The private key as a KeyObject; a ConfigError (never echoing the key) when it is not an RSA PEM.
 * `\n` written as two characters (an environment variable) is read as a line break. */
export function parseAppPrivateKey(pem: string, where: string): KeyObject {
  try {
    const key = createPrivateKey(pem.includes('\\n') ? pem.replace(/\\n/g, '\n') : pem);
    if (key.asymmetricKeyType !== 'rsa') throw new Error('not RSA');
    return key;
  } catch {
    throw new ConfigError(
      'privateKey',
      'is not an RSA private key in PEM form (the .pem GitHub generated)',
      where,
    );
  }
}

/** A Secrets Manager value `{"appId": "123", "privateKey": "-----BEGIN…", "installationId": 456}`. */
export function parseAppCredentials(value: string, where: string): GitHubAppCredentials {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new ConfigError('', 'GitHub App secret must be JSON with appId and privateKey', where);
  }
  const object = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const appId = object['appId'];
  const privateKey = object['privateKey'];
  const installationId = object['installationId'];
  if ((typeof appId !== 'string' && typeof appId !== 'number') || !/^\d+$/.test(String(appId))) {
    throw new ConfigError('appId', 'must be the App ID (digits)', where);
  }
  if (typeof privateKey !== 'string' || privateKey === '') {
    throw new ConfigError('privateKey', 'must be the PEM private key', where);
  }
  return {
    appId: String(appId),
    privateKey,
    ...(installationId === undefined ? {} : { installationId: parseInstallationId(installationId, where) }),
  };
}

export function parseInstallationId(value: unknown, where: string): number {
  const id = Number(value);
  if (!Number.isSafeInteger(id) || id < 1) {
    throw new ConfigError('installationId', 'must be a positive whole number', where);
  }
  return id;
}

export interface InstallationTokenSource {
  /** A token valid for at least INSTALLATION_TOKEN_REFRESH_MARGIN_MS more. */
  token(): Promise<string>;
  /** GitHub API requests made for tokens so far (JWT-authenticated). */
  readonly apiCalls: number;
}

export interface InstallationTokenOptions {
  readonly credentials: GitHubAppCredentials;
  /** `owner/name`: the token is limited to it, and the installation found from it. */
  readonly repository: string;
  readonly apiUrl?: string;
  readonly clock?: () => number;
}

export function createInstallationTokenSource(options: InstallationTokenOptions): InstallationTokenSource {
  const clock = options.clock ?? Date.now;
  const where = `GitHub App ${options.credentials.appId}`;
  const key = parseAppPrivateKey(options.credentials.privateKey, where);
  const { owner, repo } = splitRepository(options.repository);
  let installationId = options.credentials.installationId;
  const cache = createExpiringCache<'token', string>({
    refreshBeforeMs: INSTALLATION_TOKEN_REFRESH_MARGIN_MS,
    clock,
  });
  let calls = 0;

  const appClient = (): ReturnType<typeof createGitHubClient> =>
    createGitHubClient({
      token: createAppJwt(options.credentials.appId, key, clock()),
      ...(options.apiUrl === undefined ? {} : { apiUrl: options.apiUrl }),
    });

  const fetchToken = async (): Promise<Expiring<string>> => {
    const octokit = appClient();
    try {
      if (installationId === undefined) {
        calls++;
        installationId = (await octokit.rest.apps.getRepoInstallation({ owner, repo })).data.id;
      }
      calls++;
      const { data } = await octokit.rest.apps.createInstallationAccessToken({
        installation_id: installationId,
        // Least privilege: the token reaches this one repository only.
        repositories: [repo],
      });
      const expiresAt = Date.parse(data.expires_at);
      if (Number.isNaN(expiresAt)) {
        throw new GitHubError(`GitHub returned an installation token without a valid expires_at`, undefined);
      }
      return { value: data.token, expiresAt };
    } catch (e: unknown) {
      const error = toGitHubError(e, `installation token for ${where} on ${options.repository}`);
      // 401: the JWT (App id or key) is wrong; 404: the App is not installed on the repository.
      if (error.status === 401 || error.status === 404) {
        throw new GitHubError(
          `${error.message}; check the App id and private key, and that the App is installed on ${options.repository}`,
          error.status,
          { cause: e },
        );
      }
      throw error;
    }
  };

  return {
    get apiCalls(): number {
      return calls;
    },
    token: (): Promise<string> => cache.get('token', fetchToken),
  };
}
