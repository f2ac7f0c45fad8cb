// The webhook's two secrets: the webhook secret(s) (several during a rotation) and the GitHub token.
// From the environment when set directly (WEBHOOK_SECRET, comma-separated; GITHUB_TOKEN: local use),
// else from AWS Secrets Manager by ARN (WEBHOOK_SECRET_ARN, GITHUB_TOKEN_SECRET_ARN), cached per
// container for a TTL so a rotation is picked up without a deploy. With GitHub App credentials
// (GITHUB_APP_SECRET_ARN, or GITHUB_APP_ID + GITHUB_APP_PRIVATE_KEY(_FILE) locally) the token is an
// installation token of the App (github-app.ts) and they win over a token. Never logs, returns in errors or
// otherwise reveals a secret value: error messages name the ARN only.
import { readFileSync } from 'node:fs';
import {
  GetSecretValueCommand,
  type GetSecretValueCommandOutput,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { ENV } from '../core/contract';
import {
  createEnvironmentReader,
  missingEnvironmentError,
  type EnvironmentReader,
  type EnvironmentRecord,
} from '../core/environment';
import { AwsServiceError, ConfigError, toAwsServiceError } from '../core/errors';
import { createExpiringCache, type Expiring } from '../core/expiring-cache';
import {
  createInstallationTokenSource,
  parseAppCredentials,
  parseInstallationId,
  type GitHubAppCredentials,
  type InstallationTokenSource,
} from './github-app';

/** How image-promoter authenticates to GitHub: a token (commit statuses) or an App (check runs). */
export type GitHubAuthKind = 'token' | 'app';

/** Secret values are re-read after this long (5 minutes). */
export const SECRET_CACHE_TTL_MS = 5 * 60 * 1000;

/** A secret value written as a JSON object; anything else is a one-line ConfigError (never echoing it). */
function parseSecretJson(text: string, what: string, where: string): Readonly<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError('', `${what} looks like JSON but does not parse`, where);
  }
  // Only text starting with `{` comes here, so what parses is an object.
  return parsed as Record<string, unknown>;
}

/** A webhook secret value: a plain string, or JSON `{"secrets": ["current", "previous"]}`. */
export function parseWebhookSecrets(value: string, where: string): readonly string[] {
  const trimmed = value.trim();
  if (trimmed.startsWith('{')) {
    const list = parseSecretJson(trimmed, 'webhook secret', where)['secrets'];
    if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string' && s !== '')) {
      throw new ConfigError('secrets', 'must be a non-empty array of non-empty strings', where);
    }
    return list as string[];
  }
  if (trimmed === '') throw new ConfigError('', 'webhook secret is empty', where);
  return [trimmed];
}

/** A GitHub token secret value: the token itself, or JSON `{"token": "..."}`. */
export function parseGitHubToken(value: string, where: string): string {
  const trimmed = value.trim();
  if (trimmed.startsWith('{')) {
    const token = parseSecretJson(trimmed, 'GitHub token secret', where)['token'];
    if (typeof token !== 'string' || token === '')
      throw new ConfigError('token', 'must be a non-empty string', where);
    return token;
  }
  if (trimmed === '') throw new ConfigError('', 'GitHub token is empty', where);
  return trimmed;
}

export interface SecretReader {
  /** The secret string of `arn`, from cache when read less than the TTL ago. */
  read(arn: string): Promise<string>;
}

export function createSecretReader(
  client: SecretsManagerClient,
  ttlMs: number = SECRET_CACHE_TTL_MS,
  clock: () => number = Date.now,
): SecretReader {
  const cache = createExpiringCache<string, string>({ refreshBeforeMs: 0, clock });
  const load = async (arn: string): Promise<Expiring<string>> => {
    const readAt = clock();
    let out: GetSecretValueCommandOutput;
    try {
      out = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    } catch (e: unknown) {
      throw toAwsServiceError(
        e,
        'secretsmanager',
        `Secrets Manager GetSecretValue ${arn}`,
        'check that the secret exists and this function may read it (secretsmanager:GetSecretValue)',
      );
    }
    if (out.SecretString === undefined) {
      throw new AwsServiceError(
        `secret ${arn} has no SecretString (binary secrets are not supported)`,
        'secretsmanager',
        false,
      );
    }
    return { value: out.SecretString, expiresAt: readAt + ttlMs };
  };
  return { read: (arn: string): Promise<string> => cache.get(arn, () => load(arn)) };
}

export interface WebhookSecrets {
  /** Every accepted webhook secret, current first. */
  webhookSecrets(): Promise<readonly string[]>;
  /** The token to call GitHub with: an App's installation token when App credentials are set. */
  githubToken(): Promise<string>;
  /** `app` when App credentials are set (from the environment alone, no secret is read). */
  githubAuthKind(): GitHubAuthKind;
}

/** Where the App's token is asked for: the repository it is limited to, the REST API root. */
export interface GitHubAppTarget {
  readonly repository: string;
  readonly apiUrl?: string;
}

/** Direct values win over ARNs; missing both is a ConfigError naming the variables to set. */
export function createWebhookSecrets(
  env: EnvironmentRecord,
  reader: () => SecretReader,
  /** The App's repository and API root (the configuration's), asked for when a token is needed. */
  app?: () => Promise<GitHubAppTarget>,
): WebhookSecrets {
  const read = createEnvironmentReader(env);
  const appKind = (): boolean =>
    read.optional(ENV.githubAppSecretArn) !== undefined || read.optional(ENV.githubAppId) !== undefined;
  // One token source per set of credentials: a rotated App secret replaces it.
  let source: { readonly key: string; readonly tokens: InstallationTokenSource } | undefined;
  const appToken = async (): Promise<string> => {
    if (app === undefined) {
      throw new ConfigError('', 'GitHub App credentials are set but no repository is known', 'environment');
    }
    const target = await app();
    const credentials = await appCredentials(read, reader);
    const key = [
      target.repository,
      target.apiUrl,
      credentials.appId,
      credentials.installationId,
      credentials.privateKey,
    ].join('\0');
    if (source?.key !== key) {
      source = {
        key,
        tokens: createInstallationTokenSource({
          credentials,
          repository: target.repository,
          ...(target.apiUrl === undefined ? {} : { apiUrl: target.apiUrl }),
        }),
      };
    }
    return source.tokens.token();
  };
  return {
    githubAuthKind: () => (appKind() ? 'app' : 'token'),
    webhookSecrets: async (): Promise<readonly string[]> => {
      const direct = read.optional(ENV.webhookSecret);
      if (direct !== undefined) {
        return direct
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '');
      }
      const arn = read.optional(ENV.webhookSecretArn);
      if (arn === undefined) throw missingEnvironmentError([ENV.webhookSecretArn, ENV.webhookSecret]);
      return parseWebhookSecrets(await reader().read(arn), arn);
    },
    githubToken: async (): Promise<string> => {
      if (appKind()) return appToken();
      const direct = read.optional(ENV.githubToken);
      if (direct !== undefined) return direct;
      const arn = read.optional(ENV.githubTokenSecretArn);
      if (arn === undefined) throw missingEnvironmentError([ENV.githubTokenSecretArn, ENV.githubToken]);
      return parseGitHubToken(await reader().read(arn), arn);
    },
  };
}

/** The App's credentials: GITHUB_APP_ID with GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_FILE
 * (local use), else the JSON secret GITHUB_APP_SECRET_ARN names. */
async function appCredentials(
  read: EnvironmentReader,
  reader: () => SecretReader,
): Promise<GitHubAppCredentials> {
  const appId = read.optional(ENV.githubAppId);
  const installation = read.optional(ENV.githubAppInstallationId);
  const installationId =
    installation === undefined ? undefined : parseInstallationId(installation, ENV.githubAppInstallationId);
  if (appId !== undefined) {
    if (!/^\d+$/.test(appId)) throw new ConfigError('', 'must be the App ID (digits)', ENV.githubAppId);
    const file = read.optional(ENV.githubAppPrivateKeyFile);
    let privateKey = read.optional(ENV.githubAppPrivateKey) ?? '';
    if (file !== undefined) {
      try {
        privateKey = readFileSync(file, 'utf8');
      } catch {
        throw new ConfigError(
          '',
          `cannot read the App's private key file ${file}`,
          ENV.githubAppPrivateKeyFile,
        );
      }
    }
    if (privateKey === '')
      throw missingEnvironmentError([ENV.githubAppPrivateKeyFile, ENV.githubAppPrivateKey]);
    return { appId, privateKey, ...(installationId === undefined ? {} : { installationId }) };
  }
  const arn = read.required(ENV.githubAppSecretArn, "the GitHub App's credentials");
  const fromSecret = parseAppCredentials(await reader().read(arn), arn);
  return installationId === undefined || fromSecret.installationId !== undefined
    ? fromSecret
    : { ...fromSecret, installationId };
}
