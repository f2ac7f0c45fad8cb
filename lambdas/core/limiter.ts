// Bounded concurrency: at most `limit` tasks at once, the rest waiting in order. Used for blobs and
// images in the copy engine, images in the worker, GitHub reads while planning, commit statuses in
// the webhook, and by tests that run many child processes. With a signal (a deadline), nothing
// starts once it is aborted: waiting tasks reject with its reason instead of starting. idle() tells
// when nothing runs or waits, so a caller can answer knowing no task of its own is still under way.
// Pure: no I/O, no clock.

export interface Limiter {
  <T>(task: () => Promise<T>): Promise<T>;
  /** Resolves once no task runs or waits (at once when none does). */
  idle(): Promise<void>;
}

export interface LimiterOptions {
  /** Once aborted, tasks not started yet reject with its reason and never start. */
  readonly signal?: AbortSignal;
}

/** At most `limit` tasks running at once; the rest wait in order. */
export function createLimiter(limit: number, options: LimiterOptions = {}): Limiter {
  const { signal } = options;
  let active = 0;
  const waiting: (() => void)[] = [];
  let idleWaiters: (() => void)[] = [];
  const settleIdle = (): void => {
    if (active > 0 || waiting.length > 0) return;
    const resolved = idleWaiters;
    idleWaiters = [];
    for (const resolve of resolved) resolve();
  };
  // A slot is handed from a finished task to the next waiting one, never freed in between: idle()
  // cannot see "nothing running" while a task is about to start.
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else {
      active--;
      settleIdle();
    }
  };
  const acquire = (): Promise<void> => {
    signal?.throwIfAborted();
    if (active < limit) {
      active++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const start = (): void => {
        signal?.removeEventListener('abort', abort);
        resolve();
      };
      const abort = (): void => {
        const index = waiting.indexOf(start);
        if (index >= 0) waiting.splice(index, 1);
        reject(signal?.reason);
        settleIdle();
      };
      waiting.push(start);
      signal?.addEventListener('abort', abort, { once: true });
    });
  };
  const run = async <T>(task: () => Promise<T>): Promise<T> => {
    await acquire();
    try {
      signal?.throwIfAborted();
      return await task();
    } finally {
      release();
    }
  };
  return Object.assign(run, {
    idle: (): Promise<void> =>
      active === 0 && waiting.length === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => idleWaiters.push(resolve)),
  });
}
