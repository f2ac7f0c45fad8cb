// The registry client's rate state, shared by every request of one client (and by several clients
// of one registry when given the same Throttle): a 429 slows down the copies of a whole job
// together instead of each retrying on its own and all coming back at once. It knows nothing of
// HTTP: transport.ts asks for a turn before each request and reports how it was answered.
//
// Two signals, two answers:
//  - A 429 with Retry-After is the registry naming a time: no request to it goes out before then
//    (RFC 9110 §10.2.3), whatever its kind.
//  - A 429 without one is ECR's answer ("TOOMANYREQUESTS: Rate exceeded", AWS "Troubleshooting Amazon
//    ECR error messages"). ECR rations each API on its own, per account and Region, as a rate
//    (AWS "Amazon ECR service quotas": PutImage 10/s, InitiateLayerUpload and CompleteLayerUpload
//    100/s, UploadLayerPart 500/s, BatchCheckLayerAvailability 1,000/s, BatchGetImage 2,000/s,
//    GetDownloadUrlForLayer 3,000/s; raisable, and shared with everything else in the account), so
//    the answer is a pace per API — a lane — learnt from the 429s rather than assumed: halve the
//    rate on a 429, add back about one request per second each second it succeeds (AIMD, as the
//    AWS SDKs' "adaptive" retry mode paces a client, its clients pooled by the scope the service
//    throttles at: AWS SDKs and Tools reference, "Retry behavior"). Requests of a paced lane leave
//    one at a time, in order, so the ones held back never go out together when a pause ends.
import { setTimeout as sleep } from 'node:timers/promises';
import { parseEcrRegistry } from '../../core/image-ref';

/**
 * What a request counts against. The names are ECR's APIs (the registry the promoter writes to):
 * manifest PUT PutImage; manifest GET/HEAD BatchGetImage; blob HEAD BatchCheckLayerAvailability;
 * blob GET GetDownloadUrlForLayer; upload POST, PATCH and closing PUT InitiateLayerUpload,
 * UploadLayerPart, CompleteLayerUpload. Everything else (ping, tokens, referrers, cancels): other.
 */
export type RateLane =
  | 'PutImage'
  | 'BatchGetImage'
  | 'BatchCheckLayerAvailability'
  | 'GetDownloadUrlForLayer'
  | 'InitiateLayerUpload'
  | 'UploadLayerPart'
  | 'CompleteLayerUpload'
  | 'other';

/** Slowest pace a lane falls to: one request every 2 s still finishes a 50-manifest job. */
export const MIN_LANE_RATE = 0.5;
/**
 * Times one request is sent again after a 429 without Retry-After, apart from the retry policy's
 * `attempts` (retry.ts): such a 429 is the registry's rate, not a fault of the request, and a job of
 * many copies meets several while the pace is found. Bounded all the same: a registry that answers
 * nothing else ends the request after this many, at the lane's slowest pace ~20 s.
 */
export const MAX_THROTTLED_RETRIES = 10;

/** How a Throttle's lanes give way (the defaults above; tests set others to spend them quickly). */
export interface LanePolicy {
  /** Requests per second a lane's pace never falls below. */
  readonly minRate: number;
  /** Retries of one request answered 429 without Retry-After, before it fails. */
  readonly maxThrottledRetries: number;
}
/** At most this rate is taken from the sends seen before the first 429 (requests per second). */
const MAX_FIRST_RATE = 1000;
/** Requests per second a paced lane gains per second of answers that are not 429. */
const RATE_INCREASE_PER_SECOND = 1;
/** A lane that saw no 429 for this long forgets its pace: the load that caused it has moved on. */
const LANE_MEMORY_MS = 60_000;

/** A request's turn: which send of its lane it was (a 429 to a send from before the lane's last
 * cut is not news), and when it left. */
export interface LaneTicket {
  readonly lane: LaneState;
  readonly send: number;
  readonly sentAt: number;
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

class LaneState {
  /** Requests per second; undefined: not paced. */
  rate: number | undefined;
  /** No send of this lane before (ms since the epoch). */
  nextAt = 0;
  /** When the rate was last cut, and how many sends had gone out by then. */
  cutAt = 0;
  private sendsAtCut = 0;
  private sends = 0;
  /** Send times within the last second, for the first cut. */
  private readonly recent: number[] = [];
  private readonly queue: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly throttle: Throttle) {}

  take(signal: AbortSignal | undefined): Promise<LaneTicket> | LaneTicket {
    const now = Date.now();
    if (this.rate !== undefined && now - this.cutAt > LANE_MEMORY_MS) this.rate = undefined;
    if (this.queue.length === 0 && now >= this.startAt()) return this.sent(now);
    return new Promise<LaneTicket>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: () => resolve(this.sent(Date.now())),
        reject,
        signal,
        onAbort: () => {
          const at = this.queue.indexOf(waiter);
          if (at >= 0) this.queue.splice(at, 1);
          reject(signal?.reason);
        },
      };
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.queue.push(waiter);
      this.schedule();
    });
  }

  /** A 429 without Retry-After to the `send`th request. */
  throttled(send: number): void {
    if (send <= this.sendsAtCut) return;
    const now = Date.now();
    const seen = this.recent.filter((t) => t > now - 1000).length;
    this.rate = Math.max(
      this.throttle.lanePolicy.minRate,
      this.rate === undefined ? Math.min(MAX_FIRST_RATE, seen) / 2 : this.rate / 2,
    );
    this.cutAt = now;
    this.sendsAtCut = this.sends;
    this.nextAt = Math.max(this.nextAt, now + 1000 / this.rate);
    this.schedule();
  }

  /** An answer other than 429: the pace may grow. */
  answered(): void {
    if (this.rate === undefined) return;
    // +1/s per second at rate r: each of the r answers of that second adds 1/r.
    this.rate += RATE_INCREASE_PER_SECOND / this.rate;
  }

  private startAt(): number {
    return Math.max(this.nextAt, this.throttle.pausedUntil);
  }

  private sent(now: number): LaneTicket {
    if (this.rate !== undefined) this.nextAt = Math.max(this.nextAt, now) + 1000 / this.rate;
    this.recent.push(now);
    while (this.recent.length > 0 && (this.recent[0]! <= now - 1000 || this.recent.length > 4096)) {
      this.recent.shift();
    }
    return { lane: this, send: ++this.sends, sentAt: now };
  }

  /** Lets the head of the queue go at its time, then the next one. */
  private schedule(): void {
    if (this.timer !== undefined || this.queue.length === 0) return;
    const wait = Math.max(0, this.startAt() - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (Date.now() >= this.startAt()) {
        const waiter = this.queue.shift();
        if (waiter !== undefined) {
          waiter.signal?.removeEventListener('abort', waiter.onAbort);
          waiter.resolve();
        }
      }
      this.schedule();
    }, wait);
  }
}

/**
 * Until when no request is sent to one registry, and the pace of each of its APIs. One per client,
 * shared by all its views (withSignal); callers that want one state across several clients of the
 * same registry (the worker: every copy of a job, every job of a container) pass the same Throttle.
 */
export class Throttle {
  /** Ms since the epoch: a Retry-After. */
  pausedUntil = 0;
  readonly lanePolicy: LanePolicy;
  private readonly lanes = new Map<RateLane, LaneState>();

  constructor(lanePolicy: Partial<LanePolicy> = {}) {
    this.lanePolicy = {
      minRate: lanePolicy.minRate ?? MIN_LANE_RATE,
      maxThrottledRetries: lanePolicy.maxThrottledRetries ?? MAX_THROTTLED_RETRIES,
    };
  }

  /** No request goes out before `ms` from now (a later pause already set wins). */
  pauseFor(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + ms);
  }

  /** Resolves once a pause set by pauseFor, if any, is over; undefined when there is none. */
  wait(signal: AbortSignal | undefined): Promise<void> | undefined {
    const paused = this.pausedUntil - Date.now();
    if (paused <= 0) return undefined;
    return pause(paused, signal);
  }

  /** Waits for a request's turn in `lane` (and for any pause); an abort rejects with its reason. */
  async turn(lane: RateLane, signal: AbortSignal | undefined): Promise<LaneTicket> {
    const state = this.laneState(lane);
    for (;;) {
      // A Retry-After set while this request waited in its lane holds it too.
      await this.wait(signal);
      const ticket = await state.take(signal);
      if (Date.now() >= this.pausedUntil) return ticket;
    }
  }

  /** How the request of `ticket` was answered: a 429 without Retry-After slows its lane. */
  settle(ticket: LaneTicket, status: number | undefined, retryAfter: boolean): void {
    if (status === 429 && !retryAfter) ticket.lane.throttled(ticket.send);
    else if (status !== undefined && status !== 429) ticket.lane.answered();
  }

  /** The current pace of `lane` in requests per second, undefined when not paced (tests, logs). */
  rate(lane: RateLane): number | undefined {
    return this.lanes.get(lane)?.rate;
  }

  private laneState(lane: RateLane): LaneState {
    let state = this.lanes.get(lane);
    if (state === undefined) {
      state = new LaneState(this);
      this.lanes.set(lane, state);
    }
    return state;
  }
}

/**
 * One Throttle per quota scope, for callers that hold clients of several registries (the worker,
 * the CLI's copy): clients of one scope share a Throttle, so a 429 to one slows them all. ECR's
 * quotas are per account and Region (AWS "Amazon ECR service quotas": the rates apply to the
 * requests made in the current Region, per account), so every ECR host naming the same account
 * and Region shares one (a copy within one registry, its FIPS endpoint); any other registry is
 * its own scope, by host.
 */
export class ThrottlePool {
  private readonly throttles = new Map<string, Throttle>();

  constructor(private readonly lanePolicy: Partial<LanePolicy> = {}) {}

  /** The Throttle of `registry`'s scope (a registry host as in an ImageRef). */
  for(registry: string): Throttle {
    const ecr = parseEcrRegistry(registry);
    const scope = ecr === undefined ? registry : `ecr ${ecr.accountId} ${ecr.region}`;
    let throttle = this.throttles.get(scope);
    if (throttle === undefined) {
      throttle = new Throttle(this.lanePolicy);
      this.throttles.set(scope, throttle);
    }
    return throttle;
  }
}

/** Waits `ms`; an abort rejects with the signal's reason (a deadline says it was the deadline). */
export async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
  } catch (e: unknown) {
    signal?.throwIfAborted();
    throw e;
  }
}
