// STS AssumeRole for the source account: temporary credentials for the role the config names, with
// its ExternalId and a session name that names the commit (so CloudTrail says which push read the
// source registry). Credentials are cached at module scope until shortly before they expire, and
// concurrent callers share one request. Must never log or put credentials into an error message.
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { AwsServiceError } from '../core/errors';

export interface AssumeRoleOptions {
  readonly roleArn: string;
  readonly externalId: string;
  /** 2-64 characters of [\w+=,.@-], e.g. `image-promoter-0123456789ab`. */
  readonly sessionName: string;
  /** Default 3600 (the role's maximum session duration must allow it). */
  readonly durationSeconds?: number;
  /** An STS client to use (default: one shared client built from the environment). */
  readonly client?: STSClient;
  /** Milliseconds since the epoch (tests). */
  readonly now?: () => number;
}

/** Refresh this long before the credentials expire, so a copy never starts on credentials that
 * lapse halfway through (ECR tokens obtained with them live 12 h and outlive them anyway). */
export const REFRESH_MARGIN_MS = 5 * 60_000;
const MAX_CACHED = 256;

interface Entry {
  readonly credentials: Promise<AwsCredentialIdentity>;
  expiresAt: number;
}

const cache = new Map<string, Entry>();
let sharedClient: STSClient | undefined;

/** A credential provider for the assumed role (cached per role, ExternalId and session name). */
export function createAssumeRoleCredentialProvider(
  options: AssumeRoleOptions,
): AwsCredentialIdentityProvider {
  return () => assumeRoleCached(options);
}

/** Drops every cached credential and the shared STS client, which keeps the endpoint and
 * credentials it was created with (tests, and after a role's trust policy changed). */
export function clearAssumedRoleCache(): void {
  cache.clear();
  sharedClient?.destroy();
  sharedClient = undefined;
}

async function assumeRoleCached(options: AssumeRoleOptions): Promise<AwsCredentialIdentity> {
  const now = options.now ?? Date.now;
  const key = `${options.roleArn}\n${options.externalId}\n${options.sessionName}`;
  const cached = cache.get(key);
  if (cached !== undefined && now() < cached.expiresAt - REFRESH_MARGIN_MS) return cached.credentials;

  // Pending requests count as fresh: concurrent callers share them.
  const entry: Entry = { credentials: assumeRole(options), expiresAt: Number.POSITIVE_INFINITY };
  cache.set(key, entry);
  evictOldest();
  try {
    const credentials = await entry.credentials;
    entry.expiresAt = credentials.expiration?.getTime() ?? now() + REFRESH_MARGIN_MS * 2;
    return credentials;
  } catch (e: unknown) {
    if (cache.get(key) === entry) cache.delete(key);
    throw e;
  }
}

async function assumeRole(options: AssumeRoleOptions): Promise<AwsCredentialIdentity> {
  const client = options.client ?? (sharedClient ??= new STSClient({}));
  try {
    const response = await client.send(
      new AssumeRoleCommand({
        RoleArn: options.roleArn,
        ExternalId: options.externalId,
        RoleSessionName: options.sessionName,
        DurationSeconds: options.durationSeconds ?? 3600,
      }),
    );
    const c = response.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey) {
      throw new AwsServiceError(`STS AssumeRole ${options.roleArn} returned no credentials`, 'sts', true);
    }
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      ...(c.SessionToken === undefined ? {} : { sessionToken: c.SessionToken }),
      ...(c.Expiration === undefined ? {} : { expiration: c.Expiration }),
    };
  } catch (e: unknown) {
    if (e instanceof AwsServiceError) throw e;
    throw toStsError(e, options.roleArn);
  }
}

/** AccessDenied and malformed requests are permanent (the role or its trust policy must change);
 * throttling, 5xx and network errors are transient. */
function toStsError(e: unknown, roleArn: string): AwsServiceError {
  const name = e instanceof Error ? e.name : 'Error';
  const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const fault = (e as { $fault?: string }).$fault;
  const permanent =
    fault === 'client' && !/Throttl|RequestExpired|IDPCommunication/i.test(name) && status !== 429;
  const what = e instanceof Error ? e.message : String(e);
  const hint = permanent
    ? `check that the role exists, trusts this function's role and expects this ExternalId`
    : 'will retry';
  return new AwsServiceError(
    `STS AssumeRole ${roleArn} failed (${name}: ${what}); ${hint}`,
    'sts',
    !permanent,
    {
      awsCode: name,
      cause: e,
    },
  );
}

function evictOldest(): void {
  while (cache.size > MAX_CACHED) {
    const oldest = cache.keys().next().value;
    if (oldest === undefined) return;
    cache.delete(oldest);
  }
}
