// Blob reads over the registry transport: existence (HEAD) and a stream of the blob's bytes,
// verified against its descriptor as they pass (digest, and size when known). Large blobs are
// read over a connection of their own (http-download.ts); redirects to storage (ECR's presigned
// S3 URLs) are followed without the registry's credentials (auth.ts).
import { createHash, type Hash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import {
  BlobTooLargeError,
  DigestMismatchError,
  PromoterError,
  RegistryUnavailableError,
  type RegistryErrorDetails,
} from '../../core/errors';
import type { Descriptor } from '../../core/manifest';
import { describeRef, networkReason, pullScope } from './exchange';
import type { RegistryTransport } from './transport';

export async function hasBlob(
  transport: RegistryTransport,
  repository: string,
  digest: string,
): Promise<boolean> {
  const response = await transport.send({
    method: 'HEAD',
    url: `/v2/${repository}/blobs/${digest}`,
    repository,
    scopes: [pullScope(repository)],
    what: `blob ${describeRef(transport.registry, repository, digest)}`,
    api: 'BatchCheckLayerAvailability',
    notFound: 'blob',
    accept: [404],
  });
  return response.status !== 404;
}

export interface BlobReadLimits {
  /** From this size (or unknown) the blob is read over a connection of its own. */
  readonly directDownloadBytes: number;
  /** Longest blob of unknown size (size -1: Docker schema 1) read before BlobTooLargeError. */
  readonly maxBlobBytes: number;
}

/**
 * A stream of the blob's bytes that fails with DigestMismatchError when they do not hash to
 * `descriptor.digest` or are not `descriptor.size` long, and, when the size is unknown (-1), with
 * BlobTooLargeError once more than `limits.maxBlobBytes` came: a registry that streams without
 * end is stopped there, not read until the disk or the deadline gives out.
 */
export async function openBlob(
  transport: RegistryTransport,
  repository: string,
  descriptor: Descriptor,
  limits: BlobReadLimits,
): Promise<Readable> {
  const where = describeRef(transport.registry, repository, descriptor.digest);
  const details = transport.details(repository);
  const message = await transport.openStream({
    method: 'GET',
    url: `/v2/${repository}/blobs/${descriptor.digest}`,
    repository,
    scopes: [pullScope(repository)],
    what: `blob ${where}`,
    api: 'GetDownloadUrlForLayer',
    notFound: 'blob',
    timeoutMs: null,
    direct: descriptor.size < 0 || descriptor.size >= limits.directDownloadBytes,
  });
  const verifier = new VerifyingTransform(descriptor, details, where, limits.maxBlobBytes);
  const signal = transport.context.signal;
  message.once('error', (e: unknown) =>
    verifier.destroy(
      // Ended by the view's signal (a deadline, a failed copy): its reason is the failure.
      signal?.aborted === true && signal.reason instanceof Error
        ? signal.reason
        : e instanceof PromoterError
          ? e
          : new RegistryUnavailableError(
              `blob ${where}: the connection broke while reading (${networkReason(e)}); retry`,
              details,
              { cause: e },
            ),
    ),
  );
  verifier.once('close', () => {
    if (!message.readableEnded) message.destroy();
  });
  return message.pipe(verifier);
}

/** Passes a blob's bytes through while hashing and counting them; fails with
 * DigestMismatchError when they are not what `descriptor` announced (size -1: not checked, but
 * bounded by `maxUnsizedBytes`). */
class VerifyingTransform extends Transform {
  private readonly hash: Hash;
  private readonly algorithm: string;
  private received = 0;

  constructor(
    private readonly descriptor: Descriptor,
    private readonly details: RegistryErrorDetails,
    private readonly where: string,
    private readonly maxUnsizedBytes: number,
  ) {
    // 1 MiB read ahead: enough to keep the upload socket busy, small enough to stay bounded.
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
    this.algorithm = descriptor.digest.startsWith('sha512:') ? 'sha512' : 'sha256';
    this.hash = createHash(this.algorithm);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.byteLength;
    const { size } = this.descriptor;
    if (size >= 0 && this.received > size) {
      callback(this.mismatch(`more than the ${size} bytes announced`));
      return;
    }
    if (size < 0 && this.received > this.maxUnsizedBytes) {
      callback(
        new BlobTooLargeError(
          `blob ${this.where}: its size is not recorded (Docker schema 1) and it is over the ` +
            `${this.maxUnsizedBytes} bytes allowed for such a blob; raise copy.maxBlobBytes ` +
            '(--max-blob-bytes) if the image really holds one that large',
          this.details,
        ),
      );
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const { size, digest } = this.descriptor;
    if (size >= 0 && this.received !== size) {
      callback(this.mismatch(`${this.received} bytes, not the ${size} announced`));
      return;
    }
    const computed = `${this.algorithm}:${this.hash.digest('hex')}`;
    callback(computed === digest ? null : this.mismatch(`bytes hash to ${computed}`));
  }

  private mismatch(reason: string): DigestMismatchError {
    return new DigestMismatchError(
      `blob ${this.where}: ${reason}; the source served other bytes — retry`,
      this.details,
    );
  }
}
