// The copy engine: copies one image from a source registry to a destination registry byte for byte
// — the same manifest bytes (so the same digest), every platform of an index, every blob, and the
// image's referrers (OCI 1.1 referrers API or its `sha256-<hex>` tag fallback, and cosign's
// `.sig`/`.att`/`.sbom` tags) — then reads the destination back to verify it. Like regclient's
// ImageCopy it HEADs before it writes, so a second copy of the same image is a handful of HEADs.
// It never rewrites a manifest, never moves a tag that points elsewhere unless told to, and never
// talks HTTP itself: every registry call goes through a RegistryApi (lambdas/adapters/registry-client).
import { setMaxListeners } from 'node:events';
import { Transform, pipeline, type Readable } from 'node:stream';
import type {
  BlobUploadResult,
  FetchedManifest,
  ManifestHead,
  PutManifestResult,
} from '../adapters/registry-client';
import {
  DigestMismatchError,
  ManifestInvalidError,
  RegistryError,
  TagConflictError,
  UsageError,
  type RegistryErrorDetails,
} from '../core/errors';
import type { Config } from '../core/config';
import { createLimiter, type Limiter } from '../core/limiter';
import { formatImageRef, withDigest, withTag, type ImageRef } from '../core/image-ref';
import {
  ManifestFormatError,
  buildReferrersIndex,
  cosignTags,
  isIndexMediaType,
  parseManifest,
  referrersTag,
  type Descriptor,
  type ParsedManifest,
} from '../core/manifest';

/** What the engine needs from a registry; RegistryClient implements it. */
export interface RegistryApi {
  readonly registry: string;
  readonly endpoint: string;
  getManifest(repository: string, reference: string): Promise<FetchedManifest>;
  headManifest(repository: string, reference: string): Promise<ManifestHead | undefined>;
  putManifest(
    repository: string,
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
  ): Promise<PutManifestResult>;
  hasBlob(repository: string, digest: string): Promise<boolean>;
  openBlob(repository: string, descriptor: Descriptor): Promise<Readable>;
  uploadBlob(
    repository: string,
    descriptor: Descriptor,
    open: () => Promise<Readable>,
    mountFrom?: string,
  ): Promise<BlobUploadResult>;
  listReferrers(repository: string, digest: string): Promise<readonly Descriptor[] | undefined>;
  /** Opens connections ahead of `connections` requests about to go at once (those open count);
   * close() closes the ones no request took. */
  preconnect(connections: number): { close(): void };
  retry<T>(operation: (attempt: number) => Promise<T>): Promise<T>;
  /** The same registry, with every request and retry wait ended when `signal` aborts. */
  withSignal(signal: AbortSignal): RegistryApi;
}

/** The engine's settings from the configuration's `copy` block, as the worker copies a job's images
 * (the CLI's flags override them one by one). `imageJobs` has one meaning wherever it applies:
 * manifests in flight at once, i.e. the images of a job in the worker, and within one image its
 * platform manifests and referrers. */
export function copySettingsOf(
  copy: Config['copy'],
): Required<Pick<CopyImageOptions, 'overwrite' | 'referrers' | 'blobJobs' | 'imageJobs'>> {
  return {
    overwrite: copy.overwrite,
    referrers: copy.referrers,
    blobJobs: copy.blobJobs,
    imageJobs: copy.imageJobs,
  };
}

export interface CopyImageOptions {
  /** Tag and/or digest to copy (digest wins when both are given). */
  readonly source: ImageRef;
  /** Where to. Without tag and digest, the source's tag is used. */
  readonly destination: ImageRef;
  readonly sourceRegistry: RegistryApi;
  readonly destinationRegistry: RegistryApi;
  /** Move the destination tag when it points at another digest. Default false: TagConflictError. */
  readonly overwrite?: boolean;
  /** Copy signatures, attestations, SBOMs and other referrers. Default true. */
  readonly referrers?: boolean;
  /** Blobs in flight at once (checked at the destination first: see below). Default 8. */
  readonly blobJobs?: number;
  /**
   * Blobs under SMALL_BLOB_BYTES in flight at once, in slots of their own: such a blob costs its
   * round trips (POST, PUT), not its bytes, so many go at once without much memory. Default: none
   * of their own (they share the blobJobs slots).
   */
  readonly smallBlobJobs?: number;
  /** Manifests of this image (the platforms of an index, referrers) in flight at once: the
   * configuration's `copy.imageJobs`, which the worker also uses for the images of a job. Default 4. */
  readonly imageJobs?: number;
  readonly onEvent?: (event: CopyEvent) => void;
  /** Ends the copy (e.g. the Lambda's remaining time); it then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

export type CopyAction = 'copied' | 'mounted' | 'skipped';

export type CopyEvent =
  | {
      readonly type: 'blob' | 'manifest' | 'referrer';
      readonly digest: string;
      readonly action: CopyAction;
      /** Bytes moved (blobs that were copied). */
      readonly bytes?: number;
    }
  | {
      /** Bytes of one blob streamed so far (every MiB or so, and at its end): for progress displays. */
      readonly type: 'progress';
      readonly digest: string;
      readonly bytes: number;
      readonly size: number;
    };

/** What the source holds for one subject: its referrers and its cosign tags. */
interface ReferrerLookup {
  /** Listed by the referrers API, or by the `sha256-<hex>` fallback index. */
  readonly referrers: readonly Descriptor[];
  /** That fallback index, when the referrers came from it. */
  readonly sourceIndex: FetchedManifest | undefined;
  /** The subject's cosign tags the source has, and what each points at now. */
  readonly cosign: readonly { readonly tag: string; readonly head: ManifestHead }[];
}

/** Below this size a blob may go in a smallBlobJobs slot. */
export const SMALL_BLOB_BYTES = 1 << 20;

/** Blob existence checks (HEAD) in flight at once, per transfer slot: a check holds no slot, so
 * every blob's check is answered while the first transfers run, and a transfer that ends is
 * followed at once by one whose check is done. */
const CHECKS_PER_SLOT = 2;

/** How often a blob in flight reports progress. */
const PROGRESS_STEP_BYTES = 1 << 20;

export interface CopyCounts {
  readonly copied: number;
  readonly skipped: number;
}

export interface CopyResult {
  /** The source, pinned to the digest copied. */
  readonly source: ImageRef;
  /** The destination as written: tag (when any) and digest. */
  readonly destination: ImageRef;
  readonly digest: string;
  readonly mediaType: string;
  /** The destination already held this digest under this tag: nothing was written for the image. */
  readonly alreadyPresent: boolean;
  readonly manifests: CopyCounts;
  readonly blobs: CopyCounts & { readonly mounted: number; readonly bytes: number };
  /** Referrer manifests and cosign tags copied (not counting ones already there). */
  readonly referrers: number;
  /**
   * Referrers the destination refused as a kind of manifest it does not take (405: ECR answers
   * so for a referrer whose subject is an index), one line each naming the referrer and what the
   * registry said. The image itself is copied; these are reported, not retried.
   */
  readonly refusedReferrers: readonly string[];
  /** Wall time of the whole copy, verification included. */
  readonly durationMs: number;
}

/** Copies `source` to `destination` and verifies it. Throws RegistryError (retryable or not). */
export async function copyImage(options: CopyImageOptions): Promise<CopyResult> {
  return new ImageCopy(options).run();
}

/** The destination tag: its own, else the source's (none when the source is pinned by digest only). */
export function destinationTag(source: ImageRef, destination: ImageRef): string | undefined {
  if (destination.tag !== undefined) return destination.tag;
  if (destination.digest !== undefined) return undefined;
  return source.tag ?? (source.digest === undefined ? 'latest' : undefined);
}

class ImageCopy {
  private readonly src: RegistryApi;
  private readonly dst: RegistryApi;
  private readonly srcRepo: string;
  private readonly dstRepo: string;
  private readonly blobLimit: Limiter;
  /** Slots of blobs under SMALL_BLOB_BYTES (blobLimit when they have none of their own). */
  private readonly smallBlobLimit: Limiter;
  /** Blob HEADs at the destination. */
  private readonly checkLimit: Limiter;
  private readonly imageLimit: Limiter;
  /** See CopyResult.refusedReferrers. */
  private readonly refusedReferrers: string[] = [];
  /** Subjects whose referrers are being copied at once (never nested in imageLimit). */
  private readonly referrerLimit: Limiter;
  /** Subjects whose referrers are being looked up at the source at once (leaf calls only). */
  private readonly lookupLimit: Limiter;
  /** What the source holds for each subject, looked up once. */
  private readonly lookups = new Map<string, Promise<ReferrerLookup>>();
  /** Manifests still being walked and blobs still being checked at the destination. */
  private undecided = 0;
  /** Resolves once every blob of the image is either there or moving (the walk is over). */
  private readonly walked: Promise<void>;
  private endWalk: () => void = () => undefined;
  private readonly blobs = new Map<string, Promise<void>>();
  private readonly manifests = new Map<string, Promise<PutManifestResult | undefined>>();
  private readonly counts = {
    manifestsCopied: 0,
    manifestsSkipped: 0,
    blobsCopied: 0,
    blobsMounted: 0,
    blobsSkipped: 0,
    bytes: 0,
    referrers: 0,
  };
  /** Blobs registered and not settled yet, by the slots they go in: what preconnect() plans for. */
  private readonly pendingBlobs = { small: 0, large: 0 };
  /** Blobs the destination lacked: transfers started or waiting for a slot. */
  private transfers = 0;
  private readonly jobs: {
    readonly blobs: number;
    readonly smallBlobs: number | undefined;
    readonly checks: number;
  };
  /** Connections opened ahead (preconnect()), closed when the copy ends either way. */
  private readonly preconnections: { close(): void }[] = [];
  private readonly abort = new AbortController();
  /** Every task started, so a failed copy returns only once all of them have stopped. */
  private readonly tasks = new Set<Promise<unknown>>();
  /** Every manifest digest in the image (index and platforms): the subjects referrers may hang on. */
  private readonly subjects = new Set<string>();

  constructor(private readonly options: CopyImageOptions) {
    // One failure ends the whole copy: every other transfer stops instead of running on (and
    // retrying) in the background of a copy that has already failed.
    const signal =
      options.signal === undefined ? this.abort.signal : AbortSignal.any([this.abort.signal, options.signal]);
    // Every request in flight listens to it: dozens at once is normal here, not a leak.
    setMaxListeners(0, this.abort.signal, signal);
    this.src = options.sourceRegistry.withSignal(signal);
    this.dst = options.destinationRegistry.withSignal(signal);
    this.srcRepo = options.source.repository;
    this.dstRepo = options.destination.repository;
    const blobJobs = options.blobJobs ?? 8;
    this.blobLimit = createLimiter(blobJobs);
    this.smallBlobLimit =
      options.smallBlobJobs === undefined ? this.blobLimit : createLimiter(options.smallBlobJobs);
    const checks = CHECKS_PER_SLOT * Math.max(blobJobs, options.smallBlobJobs ?? 0);
    this.checkLimit = createLimiter(checks);
    this.jobs = { blobs: blobJobs, smallBlobs: options.smallBlobJobs, checks };
    this.imageLimit = createLimiter(options.imageJobs ?? 4);
    this.referrerLimit = createLimiter(options.imageJobs ?? 4);
    this.lookupLimit = createLimiter(options.imageJobs ?? 4);
    this.walked = new Promise((resolve) => (this.endWalk = resolve));
    // Every blob was already there: the connections opened for transfers have nothing to carry.
    void this.walked.then(() => {
      if (this.transfers === 0) this.closePreconnections();
    });
  }

  async run(): Promise<CopyResult> {
    const started = performance.now();
    try {
      const result = await this.copy();
      return { ...result, durationMs: Math.round(performance.now() - started) };
    } catch (e: unknown) {
      this.abort.abort(e);
      // Tasks settle quickly once aborted (requests cancelled, waits cut short).
      while (this.tasks.size > 0) await Promise.allSettled([...this.tasks]);
      throw e;
    } finally {
      this.closePreconnections();
    }
  }

  /**
   * Opens, at both registries, the connections the blobs registered so far will want at once, so
   * that no wave of requests waits for handshakes (on ECR a TCP and a TLS one: two or three round
   * trips) once the first one is under way. At the destination: the first wave of blob checks,
   * or, when there are more blobs than check slots, the next wave of checks beside the first
   * transfers (a finished check's connection goes to one or the other). At the source: the reads
   * of small blobs (larger ones are read over connections of their own, http-download.ts), none
   * when the blobs are mounted within one registry. Connections already open count; nothing is
   * opened before the destination is known to lack the image (a no-op copy opens none), and
   * those no request took are closed once the walk finds nothing to transfer, or the copy ends.
   */
  private preconnect(): void {
    const { small, large } = this.pendingBlobs;
    const blobs = small + large;
    if (blobs === 0 || this.abort.signal.aborted) return;
    const { blobs: blobJobs, smallBlobs, checks } = this.jobs;
    const transfers =
      smallBlobs === undefined
        ? Math.min(blobs, blobJobs)
        : Math.min(small, smallBlobs) + Math.min(large, blobJobs);
    const laterChecks = Math.min(Math.max(blobs - checks, 0), checks);
    const destination = Math.max(Math.min(blobs, checks), laterChecks + transfers);
    const sameRegistry = this.src.registry === this.dst.registry && this.src.endpoint === this.dst.endpoint;
    const reads = sameRegistry ? 0 : Math.min(small, smallBlobs ?? blobJobs);
    this.preconnections.push(this.dst.preconnect(destination));
    if (reads > 0) this.preconnections.push(this.src.preconnect(reads));
  }

  private closePreconnections(): void {
    for (const preconnection of this.preconnections.splice(0)) preconnection.close();
  }

  private track<T>(task: Promise<T>): Promise<T> {
    this.tasks.add(task);
    const forget = (): void => {
      this.tasks.delete(task);
    };
    task.then(forget, forget);
    return task;
  }

  private async copy(): Promise<Omit<CopyResult, 'durationMs'>> {
    const { source, destination } = this.options;
    const tag = destinationTag(source, destination);
    // The source manifest and the destination tag at once: a no-op copy is two round trips.
    const [top, existing] = await Promise.all([
      this.track(this.src.getManifest(this.srcRepo, source.digest ?? source.tag ?? 'latest')),
      tag === undefined ? undefined : this.track(this.dst.headManifest(this.dstRepo, tag)),
    ]);
    if (destination.digest !== undefined && destination.digest !== top.digest) {
      throw new UsageError(
        `destination ${formatImageRef(destination)} is pinned to a digest, but the source is ${top.digest}`,
      );
    }
    const target = withDigest(withTag(destination, tag), top.digest);
    if (existing !== undefined && existing.digest !== top.digest && this.options.overwrite !== true) {
      throw new TagConflictError(formatImageRef(withTag(destination, tag)), existing.digest, top.digest, {
        registry: this.dst.registry,
        repository: this.dstRepo,
      });
    }
    const alreadyPresent = existing?.digest === top.digest;
    const parsed = this.parse(top, source.digest ?? source.tag ?? 'latest');
    this.addSubject(top.digest);
    if (alreadyPresent) {
      this.counts.manifestsSkipped++;
      this.emit({ type: 'manifest', digest: top.digest, action: 'skipped' });
      if (this.options.referrers !== false) await this.collectSubjects(parsed);
    } else {
      await this.copyTree(top, parsed, tag ?? top.digest);
    }
    if (this.options.referrers !== false) await this.copyReferrers([...this.subjects]);

    // When the tag already held the digest, the HEAD above was the verification.
    if (!alreadyPresent) await this.verify(target, tag ?? top.digest);
    return {
      source: withDigest(source, top.digest),
      destination: target,
      digest: top.digest,
      mediaType: top.mediaType,
      alreadyPresent,
      manifests: { copied: this.counts.manifestsCopied, skipped: this.counts.manifestsSkipped },
      blobs: {
        copied: this.counts.blobsCopied,
        mounted: this.counts.blobsMounted,
        skipped: this.counts.blobsSkipped,
        bytes: this.counts.bytes,
      },
      referrers: this.counts.referrers,
      refusedReferrers: [...this.refusedReferrers],
    };
  }

  /** Children first, then blobs, then the manifest itself: a registry accepts a manifest only when
   * everything it names is there, and a reader never sees a tag whose image is incomplete. */
  private async copyTree(
    manifest: FetchedManifest,
    parsed: ParsedManifest,
    reference: string,
  ): Promise<PutManifestResult> {
    const children = [
      ...parsed.manifests.map((child) => this.copyByDigest(child.digest)),
      ...parsed.blobs.map((blob) => this.copyBlob(blob)),
    ];
    // The checks just started; the connections for them and the transfers after them open now.
    this.preconnect();
    await Promise.all(children);
    const result = await this.putManifest(reference, manifest);
    this.counts.manifestsCopied++;
    this.emit({ type: 'manifest', digest: manifest.digest, action: 'copied' });
    return result;
  }

  /**
   * PUTs the manifest. When the registry refuses for good (4xx) but the reference already holds
   * exactly these bytes, that is success: a retried PUT whose first answer was lost, refused by a
   * registry with immutable tags (ECR IMMUTABLE repositories answer 400 to any re-push of a tag).
   */
  private async putManifest(reference: string, manifest: FetchedManifest): Promise<PutManifestResult> {
    try {
      return await this.dst.putManifest(this.dstRepo, reference, manifest.bytes, manifest.mediaType);
    } catch (e: unknown) {
      if (!(e instanceof RegistryError) || e.retryable) throw e;
      const present = await this.dst.headManifest(this.dstRepo, reference).catch(() => undefined);
      if (present?.digest !== manifest.digest) throw e;
      return { digest: manifest.digest, subjectIndexed: false };
    }
  }

  /** A manifest by digest, once per copy; undefined when the destination already had it. */
  private copyByDigest(digest: string): Promise<PutManifestResult | undefined> {
    let pending = this.manifests.get(digest);
    if (pending === undefined) {
      pending = this.track(
        (async () => {
          this.addSubject(digest);
          const decided = this.undecidedStep();
          try {
            // Only leaf calls take an image slot: recursion never holds one, so nesting cannot deadlock.
            const present = await this.imageLimit(() => this.dst.headManifest(this.dstRepo, digest));
            if (present === undefined) {
              const manifest = await this.imageLimit(() => this.src.getManifest(this.srcRepo, digest));
              // copyTree registers the manifest's children and blobs before its first await.
              const tree = this.copyTree(manifest, this.parse(manifest, digest), digest);
              decided();
              return await tree;
            }
            decided();
            this.counts.manifestsSkipped++;
            this.emit({ type: 'manifest', digest, action: 'skipped' });
            // Its children are there too (a registry refuses an index whose children are missing),
            // but they may still have referrers of their own.
            if (this.options.referrers !== false && isIndexMediaType(present.mediaType)) {
              const manifest = await this.imageLimit(() => this.src.getManifest(this.srcRepo, digest));
              await this.collectSubjects(this.parse(manifest, digest));
            }
            return undefined;
          } finally {
            decided();
          }
        })(),
      );
      this.manifests.set(digest, pending);
    }
    return pending;
  }

  /** Adds the digests of an index's children (recursively) to the referrer subjects. */
  private async collectSubjects(parsed: ParsedManifest): Promise<void> {
    await Promise.all(
      parsed.manifests.map(async (child) => {
        if (this.subjects.has(child.digest)) return;
        this.addSubject(child.digest);
        if (isIndexMediaType(child.mediaType)) {
          const manifest = await this.imageLimit(() => this.src.getManifest(this.srcRepo, child.digest));
          await this.collectSubjects(this.parse(manifest, child.digest));
        }
      }),
    );
  }

  private copyBlob(blob: Descriptor): Promise<void> {
    let pending = this.blobs.get(blob.digest);
    if (pending === undefined) {
      const decided = this.undecidedStep();
      const small = blob.size >= 0 && blob.size < SMALL_BLOB_BYTES;
      const kind = small ? 'small' : 'large';
      this.pendingBlobs[kind]++;
      pending = this.track(
        (async () => {
          if (await this.checkLimit(() => this.dst.hasBlob(this.dstRepo, blob.digest))) {
            decided();
            this.counts.blobsSkipped++;
            this.emit({ type: 'blob', digest: blob.digest, action: 'skipped' });
            return;
          }
          this.transfers++;
          decided();
          await (small ? this.smallBlobLimit : this.blobLimit)(() => this.transferBlob(blob));
        })().finally(() => {
          decided();
          this.pendingBlobs[kind]--;
        }),
      );
      this.blobs.set(blob.digest, pending);
    }
    return pending;
  }

  /** Mounts or uploads one blob the destination lacks. */
  private async transferBlob(blob: Descriptor): Promise<void> {
    const sameRegistry = this.src.registry === this.dst.registry && this.src.endpoint === this.dst.endpoint;
    const mountFrom = sameRegistry && this.srcRepo !== this.dstRepo ? this.srcRepo : undefined;
    // A streamed upload cannot be replayed by the HTTP layer: on a retryable failure (reset
    // connection, corrupted bytes) the whole blob is read from the source again.
    const result = await this.dst.retry(() =>
      this.dst.uploadBlob(this.dstRepo, blob, () => this.openCounted(blob), mountFrom),
    );
    if (result === 'mounted') {
      this.counts.blobsMounted++;
      this.emit({ type: 'blob', digest: blob.digest, action: 'mounted' });
    } else {
      this.counts.blobsCopied++;
      this.counts.bytes += Math.max(blob.size, 0);
      this.emit({ type: 'blob', digest: blob.digest, action: 'copied', bytes: Math.max(blob.size, 0) });
    }
  }

  /** Referrers of every subject, breadth first (a signature on an SBOM is a referrer too). */
  private async copyReferrers(initial: readonly string[]): Promise<void> {
    const seen = new Set<string>();
    let wave = initial.filter((digest) => !seen.has(digest));
    while (wave.length > 0) {
      for (const digest of wave) seen.add(digest);
      const found = await Promise.all(
        wave.map((digest) => this.track(this.referrerLimit(() => this.copyReferrersOf(digest)))),
      );
      wave = [...new Set(found.flat())].filter((digest) => !seen.has(digest));
    }
  }

  /**
   * A manifest the image consists of. Its referrers are looked up at the source while the blobs are
   * still moving, so the end of a copy waits only for what there is to copy (on ECR, two or three
   * round trips less at the end of every copy).
   */
  private addSubject(digest: string): void {
    this.subjects.add(digest);
    if (this.options.referrers === false) return;
    // Not before the walk is over: the requests that start transfers go first.
    void this.walked.then(() => {
      void this.lookupReferrers(digest);
    });
  }

  /** One more manifest to walk or blob to check; call the result (once or more) when it is decided.
   * When the last one is, the walk is over. */
  private undecidedStep(): () => void {
    this.undecided++;
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      if (--this.undecided === 0) this.endWalk();
    };
  }

  /** The source's referrers and cosign tags of `subject`, looked up once per copy. A failed lookup
   * surfaces where it is used (the referrer phase), like any other failure there. */
  private lookupReferrers(subject: string): Promise<ReferrerLookup> {
    let pending = this.lookups.get(subject);
    if (pending === undefined) {
      pending = this.track(
        this.lookupLimit(async () => {
          const [oci, ...cosign] = await Promise.all([
            this.lookupOciReferrers(subject),
            ...cosignTags(subject).map(async (tag) => {
              const head = await this.src.headManifest(this.srcRepo, tag);
              return head === undefined ? undefined : { tag, head };
            }),
          ]);
          return { ...oci, cosign: cosign.filter((entry) => entry !== undefined) };
        }),
      );
      this.lookups.set(subject, pending);
    }
    return pending;
  }

  private async lookupOciReferrers(subject: string): Promise<Omit<ReferrerLookup, 'cosign'>> {
    const listed = await this.src.listReferrers(this.srcRepo, subject);
    if (listed !== undefined) return { referrers: listed, sourceIndex: undefined };
    // No referrers API at the source: the OCI 1.1 fallback is an index under `sha256-<hex>`.
    const tag = referrersTag(subject);
    if ((await this.src.headManifest(this.srcRepo, tag)) === undefined) {
      return { referrers: [], sourceIndex: undefined };
    }
    const sourceIndex = await this.src.getManifest(this.srcRepo, tag);
    return { referrers: this.parse(sourceIndex, tag).manifests, sourceIndex };
  }

  /** Copies the referrers and cosign tags of one subject; returns the referrers' digests (the
   * subjects of the next wave). */
  private async copyReferrersOf(subject: string): Promise<readonly string[]> {
    const lookup = await this.lookupReferrers(subject);
    const [next] = await Promise.all([
      this.copyOciReferrers(subject, lookup),
      ...lookup.cosign.map(({ tag, head }) => this.copyCosignTag(tag, head)),
    ]);
    return next;
  }

  private async copyOciReferrers(subject: string, lookup: ReferrerLookup): Promise<readonly string[]> {
    const copied: Descriptor[] = [];
    const { referrers } = lookup;
    for (const referrer of referrers) {
      try {
        await this.copyReferrerManifest(referrer.digest);
        copied.push(referrer);
      } catch (e: unknown) {
        // 405 to a manifest PUT: the registry does not take this kind of manifest at all (ECR
        // refuses a referrer whose subject is an index: moby/buildkit #5747). The same bytes cannot
        // go up under any tag either (the subject field is in them), so it is reported, and the
        // image it signs is not failed for it. Everything else fails the copy as before.
        if (!(e instanceof RegistryError) || e.status !== 405) throw e;
        this.refusedReferrers.push(`referrer ${referrer.digest} of ${subject}: ${e.message}`);
        this.emit({ type: 'referrer', digest: referrer.digest, action: 'skipped' });
      }
    }
    // The source's fallback index as it is only when every referrer it lists went up.
    const sourceIndex = copied.length === referrers.length ? lookup.sourceIndex : undefined;
    // A destination with the referrers API indexes `subject` fields itself; one without it needs
    // the fallback tag, or its readers would never find the referrers.
    if (copied.length > 0 && (await this.dst.listReferrers(this.dstRepo, subject)) === undefined) {
      await this.mergeReferrersTag(subject, copied, sourceIndex);
    }
    return copied.map((d) => d.digest);
  }

  private async copyCosignTag(tag: string, head: ManifestHead): Promise<void> {
    const there = await this.dst.headManifest(this.dstRepo, tag);
    if (there?.digest === head.digest) return;
    // Cosign appends signatures by replacing the tag: the source's is the newer set.
    const manifest = await this.src.getManifest(this.srcRepo, head.digest);
    await this.copyTree(manifest, this.parse(manifest, tag), tag);
    this.counts.referrers++;
    this.emit({ type: 'referrer', digest: head.digest, action: 'copied' });
  }

  private async copyReferrerManifest(digest: string): Promise<PutManifestResult | undefined> {
    const result = await this.copyByDigest(digest);
    if (result !== undefined) {
      this.counts.referrers++;
      this.emit({ type: 'referrer', digest, action: 'copied' });
    }
    return result;
  }

  /**
   * Keeps the destination's `sha256-<hex>` referrers tag listing `referrers` when the destination
   * has no referrers API. The source's index is copied as it is when the destination has none;
   * otherwise the two lists are merged, so referrers pushed to the destination by others stay.
   */
  private async mergeReferrersTag(
    subject: string,
    referrers: readonly Descriptor[],
    sourceIndex: FetchedManifest | undefined,
  ): Promise<void> {
    const tag = referrersTag(subject);
    const present = await this.dst.headManifest(this.dstRepo, tag);
    if (present === undefined && sourceIndex !== undefined) {
      await this.dst.putManifest(this.dstRepo, tag, sourceIndex.bytes, sourceIndex.mediaType);
      return;
    }
    if (present !== undefined && present.digest === sourceIndex?.digest) return;
    const current =
      present === undefined
        ? []
        : this.parse(await this.dst.getManifest(this.dstRepo, tag), tag, true).manifests;
    const known = new Set(current.map((d) => d.digest));
    const added = referrers.filter((d) => !known.has(d.digest));
    if (added.length === 0) return;
    const bytes = Buffer.from(buildReferrersIndex([...current, ...added]));
    await this.dst.putManifest(this.dstRepo, tag, bytes, 'application/vnd.oci.image.index.v1+json');
  }

  /** Reads the destination back: the tag (or digest) must now resolve to the source digest. */
  private async verify(target: ImageRef, reference: string): Promise<void> {
    const head = await this.dst.headManifest(this.dstRepo, reference);
    if (head?.digest !== target.digest) {
      throw new DigestMismatchError(
        `verification failed: ${formatImageRef(withDigest(target, undefined))} is ` +
          `${head?.digest ?? 'missing'} after the copy, not ${target.digest ?? '?'}; retry`,
        this.details(this.dst, this.dstRepo),
      );
    }
  }

  private parse(manifest: FetchedManifest, reference: string, destination = false): ParsedManifest {
    try {
      return parseManifest(manifest.bytes, manifest.mediaType);
    } catch (e: unknown) {
      const api = destination ? this.dst : this.src;
      const repository = destination ? this.dstRepo : this.srcRepo;
      const reason = e instanceof ManifestFormatError ? e.reason : String(e);
      throw new ManifestInvalidError(
        `manifest ${api.registry}/${repository} ${reference} cannot be copied: ${reason}`,
        this.details(api, repository),
        { cause: e },
      );
    }
  }

  private details(api: RegistryApi, repository: string): RegistryErrorDetails {
    return { registry: api.registry, repository };
  }

  /** The source blob, reporting `progress` events on the way when someone listens. Errors pass through
   * unchanged (pipeline destroys the counter with the source's own error, and the other way round). */
  private async openCounted(blob: Descriptor): Promise<Readable> {
    const source = await this.src.openBlob(this.srcRepo, blob);
    if (this.options.onEvent === undefined) return source;
    let bytes = 0;
    let reported = 0;
    const report = (): void => {
      reported = bytes;
      this.emit({ type: 'progress', digest: blob.digest, bytes, size: blob.size });
    };
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done): void {
        bytes += chunk.length;
        if (bytes - reported >= PROGRESS_STEP_BYTES) report();
        done(null, chunk);
      },
      flush(done): void {
        if (bytes !== reported) report();
        done();
      },
    });
    pipeline(source, counter, () => undefined);
    return counter;
  }

  private emit(event: CopyEvent): void {
    this.options.onEvent?.(event);
  }
}
