// STS AssumeRole for the source account: temporary credentials for the role the config names, with
// its ExternalId and a session name that names the commit (so CloudTrail says which push read the
// source registry). Credentials are cached at module scope until shortly before they expire, and
// concurrent callers share one request. Must never log or put credentials into an error message.
import type { STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { AwsServiceError, toAwsServiceError } from '../core/errors';
import { createExpiringCache } from '../core/expiring-cache';

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

const cache = createExpiringCache<string, AwsCredentialIdentity>({
  refreshBeforeMs: REFRESH_MARGIN_MS,
  maxEntries: MAX_CACHED,
});
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

function assumeRoleCached(options: AssumeRoleOptions): Promise<AwsCredentialIdentity> {
  const now = options.now ?? Date.now;
  const key = `${options.roleArn}\n${options.externalId}\n${options.sessionName}`;
  return cache.get(
    key,
    async () => {
      const credentials = await assumeRole(options);
      return {
        value: credentials,
        expiresAt: credentials.expiration?.getTime() ?? now() + REFRESH_MARGIN_MS * 2,
      };
    },
    now(),
  );
}

async function assumeRole(options: AssumeRoleOptions): Promise<AwsCredentialIdentity> {
  // Imported on the first AssumeRole, not with the module: only environments with a roleArn ever
  // call STS, and loading an SDK client is ~50-100 ms of a cold start (bench:bundle).
  const { AssumeRoleCommand, STSClient } = await import('@aws-sdk/client-sts');
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
    // AccessDenied and malformed requests are permanent (the role or its trust policy must change).
    throw toAwsServiceError(
      e,
      'sts',
      `STS AssumeRole ${options.roleArn}`,
      "check that the role exists, trusts this function's role and expects this ExternalId",
    );
  }
}
