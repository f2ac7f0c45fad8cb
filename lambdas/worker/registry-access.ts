// Who the worker is at each registry, for one job: the source through the environment's role
// (STS AssumeRole, session named after the commit) and an ECR token obtained with those
// credentials; the destination with the function's own credentials. Wiring only: the pieces are
// adapters (sts-credentials, ECR credentials, registry-client, ecr-repositories). Credentials and
// tokens are cached at module scope across jobs; registry clients are per job (cheap: they share
// the process-wide HTTP connection pool). Never logs credentials.
import type { AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { createRepositoryCreator, type RepositoryState } from '../adapters/ecr-repositories';
import { RegistryClient, ThrottlePool, type CredentialProvider } from '../adapters/registry-client';
import { createAssumeRoleCredentialProvider } from '../adapters/sts-credentials';
import type { Config, EnvironmentConfig } from '../core/config';
import { ConfigError } from '../core/errors';
import type { ImageRef } from '../core/image-ref';
import type { PromotionJob } from '../core/job';
import { sessionNameForCommit } from '../core/promotion-summary';
import type { RegistryApi } from '../copy/copy-image';

/** Registry credentials (e.g. an ECR token) obtained with the given AWS credentials (undefined: the
 * function's own). */
export type RegistryCredentialFactory = (
  aws: AwsCredentialIdentityProvider | undefined,
) => CredentialProvider;

export interface JobRegistries {
  readonly source: RegistryApi;
  readonly destination: RegistryApi;
  /** Creates the destination repository when missing (only called when the environment asks for it). */
  ensureRepository(source: ImageRef, destination: ImageRef): Promise<RepositoryState>;
}

export interface RegistryAccess {
  openJob(job: PromotionJob, environment: EnvironmentConfig): JobRegistries;
  /** The same registries for work that is not a job (drift checks): the source session is named
   * after `commit`, the revision being checked. */
  openEnvironment(environment: EnvironmentConfig, commit: string): JobRegistries;
}

export interface RegistryAccessOptions {
  readonly config: Config;
  readonly registryCredentials: RegistryCredentialFactory;
  /** Registry client retry policy (tests shorten it). */
  readonly retry?: {
    readonly attempts?: number;
    readonly baseDelayMs?: number;
    readonly maxDelayMs?: number;
  };
}

export function createRegistryAccess(options: RegistryAccessOptions): RegistryAccess {
  const endpoints = options.config.registryEndpoints;
  // One registry credential provider per identity, kept for the life of the container so ECR
  // tokens (12 h) are fetched once, not once per job.
  const providers = new Map<string, CredentialProvider>();
  const providerFor = (key: string, aws: AwsCredentialIdentityProvider | undefined): CredentialProvider => {
    let provider = providers.get(key);
    if (provider === undefined) {
      provider = options.registryCredentials(aws);
      providers.set(key, provider);
      if (providers.size > 256) providers.delete(providers.keys().next().value ?? key);
    }
    return provider;
  };
  // One rate state per registry for the life of the container: every copy of a job, and every job
  // it runs, slows down together on a 429 (ECR's quotas are per account and Region, not per
  // client; adapters/registry/throttle.ts).
  const throttles = new ThrottlePool();
  const clientFor = (registry: string, credentials: CredentialProvider): RegistryClient =>
    new RegistryClient({
      registry,
      throttle: throttles.for(registry),
      ...(endpoints[registry] === undefined ? {} : { endpoint: endpoints[registry] }),
      credentials,
      ...(options.retry === undefined ? {} : { retry: options.retry }),
      userAgent: 'image-promoter-worker',
      maxBlobBytes: options.config.copy.maxBlobBytes,
    });

  const openEnvironment = (environment: EnvironmentConfig, commit: string): JobRegistries => {
    const { roleArn, externalId } = environment.source;
    if (roleArn !== undefined && externalId === undefined) {
      // parseConfig refuses this; a Config built by other means must not fall back to a constant.
      throw new ConfigError(
        `environments.${environment.name}.source.externalId`,
        'is required with a roleArn',
      );
    }
    const sourceAws =
      roleArn === undefined || externalId === undefined
        ? undefined
        : createAssumeRoleCredentialProvider({
            roleArn,
            externalId,
            sessionName: sessionNameForCommit(commit),
          });
    const sourceKey = sourceAws === undefined ? 'own' : `${roleArn}\n${externalId}\n${commit}`;
    const source = clientFor(environment.source.registry, providerFor(sourceKey, sourceAws));
    const destination = clientFor(environment.destination.registry, providerFor('own', undefined));
    const repositories = createRepositoryCreator(
      sourceAws === undefined ? {} : { sourceCredentials: sourceAws },
    );
    return {
      source,
      destination,
      ensureRepository: (src, dst) => repositories.ensureRepository(src, dst),
    };
  };
  return {
    openJob: (job: PromotionJob, environment: EnvironmentConfig): JobRegistries =>
      openEnvironment(environment, job.commit),
    openEnvironment,
  };
}
