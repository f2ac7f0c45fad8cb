// Stand-in until lambdas/adapters/ecr-credentials.ts (engineer A1) lands: ECR GetAuthorizationToken
// with the given AWS credentials, decoded to the registry's basic-auth user and password.
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import type { AwsCredentialIdentityProvider } from '@aws-sdk/types';
import type { CredentialProvider } from '../../lambdas/adapters/registry-client';
import { parseEcrRegistry } from '../../lambdas/core/image-ref';

export function createEcrCredentialProvider(
  options: { readonly credentials?: AwsCredentialIdentityProvider } = {},
): CredentialProvider {
  return async (registry) => {
    const ecr = parseEcrRegistry(registry);
    if (ecr === undefined) return undefined;
    const client = new ECRClient({
      region: ecr.region,
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    });
    const out = await client.send(new GetAuthorizationTokenCommand({}));
    const token = Buffer.from(out.authorizationData?.[0]?.authorizationToken ?? '', 'base64').toString(
      'utf8',
    );
    const colon = token.indexOf(':');
    return { username: token.slice(0, colon), password: token.slice(colon + 1) };
  };
}
