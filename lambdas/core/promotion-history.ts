// What runs where: one record per image the worker promoted (environment, image, tag, digest,
// source, commit, pusher, delivery, time, bytes), and how `history` orders and filters them. The
// store is a port (DynamoDB in AWS and over moto locally); this module is pure.
import { formatImageRef, parseImageRef } from './image-ref';

export interface PromotionRecord {
  readonly environment: string;
  /** The destination reference as promoted (`host/repo:tag`). */
  readonly image: string;
  /** Repository path in the destination (`shop/web`). */
  readonly repository: string;
  readonly tag?: string;
  readonly digest: string;
  readonly source: string;
  readonly commit: string;
  readonly pusher: string;
  readonly deliveryId: string;
  /** ISO time the worker finished the copy. */
  readonly promotedAt: string;
  readonly bytes: number;
}

export interface PromotionHistory {
  record(entry: PromotionRecord): Promise<void>;
  /** Every record of the environment (any order). */
  list(environment: string): Promise<readonly PromotionRecord[]>;
}

/** Records of one environment live under this key prefix in the deliveries table's `deliveryId`
 * partition key, apart from delivery ids (which are GitHub GUIDs or `reconcile-...`). */
/** Every promotion record's key starts with this (the deployed worker may write only such keys). */
export const PROMOTION_KEY_PREFIX = 'promotion#';

export function historyKeyPrefix(environment: string): string {
  return `${PROMOTION_KEY_PREFIX}${environment}#`;
}

/** The item key of a record: unique per promotion (time first after the image, so keys of one
 * image sort by time). */
export function historyKey(entry: PromotionRecord): string {
  return `${historyKeyPrefix(entry.environment)}${entry.repository}#${entry.promotedAt}#${entry.tag ?? entry.digest}`;
}

/** A record from the worker's result; the reference is parsed once, never split by hand. */
export function buildPromotionRecord(input: {
  readonly environment: string;
  readonly destination: string;
  readonly digest: string;
  readonly source: string;
  readonly commit: string;
  readonly pusher: string;
  readonly deliveryId: string;
  readonly promotedAt: string;
  readonly bytes: number;
}): PromotionRecord {
  const ref = parseImageRef(input.destination);
  return {
    environment: input.environment,
    image: formatImageRef(ref),
    repository: ref.repository,
    ...(ref.tag === undefined ? {} : { tag: ref.tag }),
    digest: input.digest,
    source: input.source,
    commit: input.commit,
    pusher: input.pusher,
    deliveryId: input.deliveryId,
    promotedAt: input.promotedAt,
    bytes: input.bytes,
  };
}

/** Newest first, optionally only one repository; `latestOnly` keeps the newest per repository (what
 * runs where now). Pure. */
export function selectHistory(
  records: readonly PromotionRecord[],
  options: { readonly repository?: string; readonly latestOnly?: boolean } = {},
): readonly PromotionRecord[] {
  const sorted = records
    .filter((r) => options.repository === undefined || r.repository === options.repository)
    .slice()
    .sort((a, b) => (a.promotedAt < b.promotedAt ? 1 : a.promotedAt > b.promotedAt ? -1 : 0));
  if (!options.latestOnly) return sorted;
  const seen = new Set<string>();
  return sorted.filter((r) => (seen.has(r.repository) ? false : (seen.add(r.repository), true)));
}
