// The one place the fault tests, the large-layer test and the copy benchmark call the copy engine:
// references in, a flat summary out. Keeping the engine's call shape here means a change to its
// options touches one file, not every test. Test and benchmark support only: it must never hold
// logic the engine itself should have (no retries, no verification of its own).
import {
  RegistryClient,
  Throttle,
  type LanePolicy,
  type RegistryClientOptions,
  type RetryPolicy,
} from '../../lambdas/adapters/registry-client';
import { copyImage } from '../../lambdas/copy/copy-image';
import { parseImageRef } from '../../lambdas/core/image-ref';

export interface EngineSide {
  /** Base URL to reach the registry at, e.g. `http://127.0.0.1:5000`. */
  readonly endpoint: string;
  readonly credentials?: { readonly username: string; readonly password: string };
}

export interface EngineCopyRequest {
  /** Full references; their registry part is the name the engine sees (host:port of `endpoint`). */
  readonly source: string;
  readonly destination: string;
  readonly sourceSide: EngineSide;
  readonly destinationSide: EngineSide;
  readonly retry?: Partial<RetryPolicy>;
  /** Each side's rate lanes (its own Throttle): floor and throttled-retry cap (client defaults). */
  readonly lanePolicy?: Partial<LanePolicy>;
  readonly blobJobs?: number;
  readonly smallBlobJobs?: number;
  /** How both clients move blobs (the client defaults when omitted). */
  readonly transfer?: Pick<RegistryClientOptions, 'monolithicUploadBytes' | 'directDownloadBytes'>;
  readonly referrers?: boolean;
  readonly overwrite?: boolean;
}

export interface EngineCopyOutcome {
  readonly digest: string;
  readonly alreadyPresent: boolean;
  readonly manifestsCopied: number;
  readonly blobsCopied: number;
  readonly blobsSkipped: number;
  readonly blobsMounted: number;
  /** Blob bytes uploaded to the destination, as the engine counts them. */
  readonly bytesCopied: number;
}

/** Copies `source` to `destination` with the project's engine; throws what the engine throws. */
export async function copyWithEngine(request: EngineCopyRequest): Promise<EngineCopyOutcome> {
  const source = parseImageRef(request.source);
  const destination = parseImageRef(request.destination);
  const client = (registry: string, side: EngineSide): RegistryClient =>
    new RegistryClient({
      registry,
      endpoint: side.endpoint,
      ...(side.credentials === undefined ? {} : { credentials: side.credentials }),
      ...(request.retry === undefined ? {} : { retry: request.retry }),
      ...(request.lanePolicy === undefined ? {} : { throttle: new Throttle(request.lanePolicy) }),
      ...request.transfer,
    });
  const result = await copyImage({
    source,
    destination,
    sourceRegistry: client(source.registry, request.sourceSide),
    destinationRegistry: client(destination.registry, request.destinationSide),
    ...(request.blobJobs === undefined ? {} : { blobJobs: request.blobJobs }),
    ...(request.smallBlobJobs === undefined ? {} : { smallBlobJobs: request.smallBlobJobs }),
    ...(request.referrers === undefined ? {} : { referrers: request.referrers }),
    ...(request.overwrite === undefined ? {} : { overwrite: request.overwrite }),
  });
  return {
    digest: result.digest,
    alreadyPresent: result.alreadyPresent,
    manifestsCopied: result.manifests.copied,
    blobsCopied: result.blobs.copied,
    blobsSkipped: result.blobs.skipped,
    blobsMounted: result.blobs.mounted,
    bytesCopied: result.blobs.bytes,
  };
}
