// How the webhook reaches a destination registry to look up a manifest: the registry API's manifest
// HEAD (OCI distribution spec: `HEAD /v2/<name>/manifests/<reference>` answers
// `Docker-Content-Digest`), through the same RegistryClient and registryEndpoints the worker uses,
// with an ECR token from the function's own credentials (ECR API Reference, GetAuthorizationToken:
// the token "represents your IAM authentication credentials and can be used to access any Amazon ECR
// registry that your IAM principal has access to", so the role's ecr:BatchGetImage on the
// allowlisted repositories is all it can read). Chosen over ECR's own BatchGetImage API (up to 100
// image ids per call, but per repository, and a push's images are mostly in different repositories;
// ECR hosts only): the same question, asked the way the worker asks it right before copying, so
// "already present" means what the worker would find; and it works for every registry the config
// can name (registryEndpoints, the local stack). Never a source registry, never an assumed role,
// never a write. Wiring only.
import { createEcrCredentialProvider } from '../adapters/ecr-credentials';
import { RegistryClient, type CredentialProvider } from '../adapters/registry-client';
import type { Config, EnvironmentConfig } from '../core/config';
import type { ManifestLookup } from '../core/drift';

/** The destination of one environment, its lookups ended by `signal` (the delivery's deadline). */
export type DestinationLookups = (
  environment: EnvironmentConfig,
  signal: AbortSignal | undefined,
) => ManifestLookup;

export interface DestinationLookupOptions {
  /** Registry credentials (default: an ECR token from the function's own AWS credentials; other
   * hosts anonymous). */
  readonly credentials?: CredentialProvider;
}

/** One client per registry for the life of the container (its token and connections reused). One
 * attempt per lookup: a lookup that fails costs only a job the worker would have run anyway, and a
 * retry's wait would come out of the delivery's deadline. */
export function createDestinationLookups(
  config: Config,
  options: DestinationLookupOptions = {},
): DestinationLookups {
  const credentials = options.credentials ?? createEcrCredentialProvider();
  const clients = new Map<string, RegistryClient>();
  return (environment, signal) => {
    const registry = environment.destination.registry;
    let client = clients.get(registry);
    if (client === undefined) {
      const endpoint = config.registryEndpoints[registry];
      client = new RegistryClient({
        registry,
        ...(endpoint === undefined ? {} : { endpoint }),
        credentials,
        retry: { attempts: 1 },
        userAgent: 'image-promoter-webhook',
      });
      clients.set(registry, client);
    }
    const bound = signal === undefined ? client : client.withSignal(signal);
    return {
      digestOf: async (repository, reference) =>
        (await abortable(bound.headManifest(repository, reference), signal))?.digest,
    };
  };
}

/** `work`, or the signal's reason once it aborts: the ECR token request (an AWS SDK call) does not
 * listen to the signal, and the answer must not wait for it. */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}
