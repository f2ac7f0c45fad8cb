// Registry credentials for ECR hosts (`<account>.dkr.ecr.<region>.amazonaws.com`): ECR
// GetAuthorizationToken with the given AWS credentials (the function's own, or an assumed role's),
// decoded to the basic-auth pair the registry expects (user `AWS`). No registryIds are passed: the
// token follows the credentials' account, as ECR intends. Tokens are cached until 5 minutes before
// they expire and concurrent callers share one request. Other hosts get undefined (anonymous or
// another provider). Never logs a token or puts one into an error message.
import type { ECRClient, ECRClientConfig } from '@aws-sdk/client-ecr';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { AwsServiceError, toAwsServiceError } from '../core/errors';
import { createExpiringCache, type Expiring } from '../core/expiring-cache';
import { parseEcrRegistry } from '../core/image-ref';
import type { CredentialProvider, RegistryCredentials } from './registry-client';

export interface EcrCredentialOptions {
  /** AWS credentials to ask ECR with (default: the SDK's default chain: the function's own). */
  readonly credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  readonly clientConfig?: ECRClientConfig;
  /** Milliseconds since the epoch (tests). */
  readonly now?: () => number;
}

export const TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;
/** How long a token whose announced expiry is already (nearly) past is reused: moto announces 2015. */
const FALLBACK_TTL_MS = 60_000;

export function createEcrCredentialProvider(options: EcrCredentialOptions = {}): CredentialProvider {
  const now = options.now ?? Date.now;
  const clients = new Map<string, ECRClient>();
  const tokens = createExpiringCache<string, RegistryCredentials>({
    refreshBeforeMs: TOKEN_REFRESH_MARGIN_MS,
    clock: now,
  });

  // The SDK module is imported with the first token, not with this module: the webhook asks for one
  // only when a plan has images to check at an ECR destination, and loading an SDK client is
  // ~50-100 ms of a cold start (bench:bundle).
  const clientFor = async (region: string): Promise<ECRClient> => {
    let client = clients.get(region);
    if (client === undefined) {
      const { ECRClient } = await import('@aws-sdk/client-ecr');
      client = new ECRClient({
        ...options.clientConfig,
        region,
        ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
      });
      clients.set(region, client);
    }
    return client;
  };

  const fetchToken = async (registry: string, region: string): Promise<Expiring<RegistryCredentials>> => {
    let token: string | undefined;
    let expiresAt: Date | undefined;
    try {
      const { GetAuthorizationTokenCommand } = await import('@aws-sdk/client-ecr');
      const out = await (await clientFor(region)).send(new GetAuthorizationTokenCommand({}));
      token = out.authorizationData?.[0]?.authorizationToken;
      expiresAt = out.authorizationData?.[0]?.expiresAt;
    } catch (e: unknown) {
      throw toAwsServiceError(
        e,
        'ecr',
        `ECR GetAuthorizationToken for ${registry}`,
        'check ecr:GetAuthorizationToken in the IAM policy of these credentials',
      );
    }
    const decoded = token === undefined ? '' : Buffer.from(token, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) {
      throw new AwsServiceError(
        `ECR GetAuthorizationToken for ${registry} returned no usable token`,
        'ecr',
        true,
      );
    }
    const expiry = expiresAt?.getTime() ?? 0;
    return {
      value: { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) },
      // A token announced as (nearly) expired already is still reused for FALLBACK_TTL_MS.
      expiresAt:
        expiry - TOKEN_REFRESH_MARGIN_MS > now() ? expiry : now() + FALLBACK_TTL_MS + TOKEN_REFRESH_MARGIN_MS,
    };
  };

  return async (registry: string): Promise<RegistryCredentials | undefined> => {
    const ecr = parseEcrRegistry(registry);
    if (ecr === undefined) return undefined;
    return tokens.get(registry, () => fetchToken(registry, ecr.region));
  };
}
