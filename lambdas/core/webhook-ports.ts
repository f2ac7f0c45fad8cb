// The two outside systems the webhook writes to, as the core sees them: a queue of promotion jobs
// and a store of delivery ids that makes a redelivered webhook enqueue nothing new. Adapters
// implement them (SQS, DynamoDB, in-memory for local use). Interfaces and constants only.
import type { PromotionJob } from './job';

/** How long a delivery id is remembered (DynamoDB TTL attribute `expiresAt`): 30 days, longer than
 * GitHub keeps deliveries available for manual redelivery. */
export const DELIVERY_TTL_SECONDS = 30 * 24 * 60 * 60;

/** A claim older than this, never marked enqueued, belongs to an invocation that died (the webhook
 * Lambda times out long before): a redelivery may take it over. */
export const CLAIM_STALE_AFTER_MS = 5 * 60 * 1000;

export type ClaimResult =
  { readonly kind: 'claimed' } | { readonly kind: 'duplicate'; readonly state: 'claimed' | 'enqueued' };

export interface DeliveryStore {
  /** Atomically claims `deliveryId` unless it is enqueued or claimed less than CLAIM_STALE_AFTER_MS ago. */
  claim(deliveryId: string, now: Date): Promise<ClaimResult>;
  /** The jobs of a claimed delivery are on the queue: redeliveries are duplicates from now on. */
  markEnqueued(deliveryId: string, jobs: number, now: Date): Promise<void>;
  /** Forgets a claim whose jobs could not be enqueued, so a manual redelivery can try again. */
  release(deliveryId: string): Promise<void>;
}

export interface JobQueue {
  /** Sends every job or throws (retryable AwsServiceError) naming how many were not sent. */
  send(jobs: readonly PromotionJob[]): Promise<void>;
}
