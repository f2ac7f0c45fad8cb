// One cache for values that expire: STS credentials, ECR authorization tokens, Secrets Manager
// values, GitHub App installation tokens. Single flight (callers asking while a load is in flight
// share it), refreshed `refreshBeforeMs` before the value expires (so nobody starts work on a value
// that lapses halfway), and a failed load is never cached (the next caller tries again). Pure: the
// clock is passed in; the loader does the I/O.

/** A loaded value and when it stops being usable (milliseconds since the epoch). */
export interface Expiring<T> {
  readonly value: T;
  readonly expiresAt: number;
}

export interface ExpiringCacheOptions {
  /** A value is reloaded once fewer than this many milliseconds of its life remain. */
  readonly refreshBeforeMs: number;
  /** Milliseconds since the epoch (default Date.now). */
  readonly clock?: () => number;
  /** Entries kept at most; the oldest loaded is dropped first (default unbounded). */
  readonly maxEntries?: number;
}

export interface ExpiringCache<K, T> {
  /** The cached value of `key` while fresh; else the load in flight; else a new `load()`.
   * `now`: the time of this call, for a cache shared by callers with their own clocks. */
  get(key: K, load: () => Promise<Expiring<T>>, now?: number): Promise<T>;
  /** Forgets every value (loads in flight still settle for their callers). */
  clear(): void;
}

interface Entry<T> {
  readonly value: Promise<T>;
  /** Infinity while the load is in flight: in flight counts as fresh. */
  freshUntil: number;
}

export function createExpiringCache<K, T>(options: ExpiringCacheOptions): ExpiringCache<K, T> {
  const clock = options.clock ?? Date.now;
  const entries = new Map<K, Entry<T>>();
  return {
    get(key, load, now = clock()) {
      const hit = entries.get(key);
      if (hit !== undefined && now < hit.freshUntil) return hit.value;
      const loading = Promise.resolve().then(load);
      const entry: Entry<T> = { value: loading.then((loaded) => loaded.value), freshUntil: Infinity };
      entries.delete(key);
      entries.set(key, entry);
      if (options.maxEntries !== undefined && entries.size > options.maxEntries) {
        const oldest = entries.keys().next();
        if (oldest.done !== true) entries.delete(oldest.value);
      }
      loading.then(
        (loaded) => {
          entry.freshUntil = loaded.expiresAt - options.refreshBeforeMs;
        },
        () => {
          if (entries.get(key) === entry) entries.delete(key);
        },
      );
      return entry.value;
    },
    clear() {
      entries.clear();
    },
  };
}
