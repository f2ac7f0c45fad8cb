// ECR control plane: creates a missing destination repository before a promotion (opt-in per
// environment: `destination.createRepositories`), with immutable tags, scan on push and the source
// repository's encryption type (read from the source account with the source credentials). Only
// the encryption *type* crosses accounts: a customer KMS key of the source account would not be
// usable by the destination, so KMS repositories get the destination's AWS-managed key.
// Must never delete or modify an existing repository.
import {
  CreateRepositoryCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  type ECRClientConfig,
  type EncryptionType,
  type Repository,
} from '@aws-sdk/client-ecr';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { toAwsServiceError, type AwsServiceError } from '../core/errors';
import { formatRepository, parseEcrRegistry, type ImageRef } from '../core/image-ref';

export type RepositoryState = 'exists' | 'created' | 'source-missing' | 'not-ecr';

export interface RepositoryCreator {
  /** Makes sure `destination`'s repository exists, creating it like `source`'s when missing. */
  ensureRepository(source: ImageRef, destination: ImageRef): Promise<RepositoryState>;
}

export interface RepositoryCreatorOptions {
  /** Credentials for the source account (DescribeRepositories only). */
  readonly sourceCredentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Credentials for the destination account (default: the function's own). */
  readonly destinationCredentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  readonly clientConfig?: ECRClientConfig;
}

/** Repositories known to exist (module scope: a warm Lambda asks ECR once per repository). */
const known = new Set<string>();

export function createRepositoryCreator(options: RepositoryCreatorOptions = {}): RepositoryCreator {
  const clients = new Map<string, ECRClient>();
  const clientFor = (
    side: 'source' | 'destination',
    region: string,
    credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider | undefined,
  ): ECRClient => {
    const key = `${side}\n${region}`;
    let client = clients.get(key);
    if (client === undefined) {
      client = new ECRClient({
        ...options.clientConfig,
        region,
        ...(credentials === undefined ? {} : { credentials }),
      });
      clients.set(key, client);
    }
    return client;
  };

  return {
    async ensureRepository(source: ImageRef, destination: ImageRef): Promise<RepositoryState> {
      const destinationEcr = parseEcrRegistry(destination.registry);
      if (destinationEcr === undefined) return 'not-ecr';
      const key = formatRepository(destination);
      if (known.has(key)) return 'exists';
      const destinationClient = clientFor(
        'destination',
        destinationEcr.region,
        options.destinationCredentials,
      );
      const existing = await describeRepository(destinationClient, destinationEcr.accountId, destination);
      if (existing !== undefined) {
        known.add(key);
        return 'exists';
      }

      const sourceEcr = parseEcrRegistry(source.registry);
      let encryptionType: EncryptionType = 'AES256';
      if (sourceEcr !== undefined) {
        const sourceClient = clientFor('source', sourceEcr.region, options.sourceCredentials);
        const sourceRepository = await describeRepository(sourceClient, sourceEcr.accountId, source);
        // Creating a repository for an image that does not exist would only leave litter: the copy
        // fails next with the precise "manifest unknown" error.
        if (sourceRepository === undefined) return 'source-missing';
        encryptionType = sourceRepository.encryptionConfiguration?.encryptionType ?? 'AES256';
      }
      await createRepository(destinationClient, destinationEcr.accountId, destination, encryptionType);
      known.add(key);
      return 'created';
    },
  };
}

/** Forgets which repositories exist (tests). */
export function clearKnownRepositories(): void {
  known.clear();
}

async function describeRepository(
  client: ECRClient,
  registryId: string,
  ref: ImageRef,
): Promise<Repository | undefined> {
  try {
    const response = await client.send(
      new DescribeRepositoriesCommand({ registryId, repositoryNames: [ref.repository] }),
    );
    return response.repositories?.[0];
  } catch (e: unknown) {
    if (e instanceof Error && e.name === 'RepositoryNotFoundException') return undefined;
    throw toEcrError(e, `DescribeRepositories ${formatRepository(ref)}`);
  }
}

async function createRepository(
  client: ECRClient,
  registryId: string,
  ref: ImageRef,
  encryptionType: EncryptionType,
): Promise<void> {
  try {
    await client.send(
      new CreateRepositoryCommand({
        registryId,
        repositoryName: ref.repository,
        imageTagMutability: 'IMMUTABLE',
        imageScanningConfiguration: { scanOnPush: true },
        encryptionConfiguration: { encryptionType },
        tags: [{ Key: 'created-by', Value: 'image-promoter' }],
      }),
    );
  } catch (e: unknown) {
    // Another worker created it first: that is the outcome we wanted.
    if (e instanceof Error && e.name === 'RepositoryAlreadyExistsException') return;
    throw toEcrError(e, `CreateRepository ${formatRepository(ref)}`);
  }
}

/** Permanent failures name the permissions to check. */
function toEcrError(e: unknown, action: string): AwsServiceError {
  return toAwsServiceError(
    e,
    'ecr',
    `ECR ${action}`,
    'check the IAM permissions (ecr:DescribeRepositories on the source, ecr:CreateRepository on the destination)',
  );
}
