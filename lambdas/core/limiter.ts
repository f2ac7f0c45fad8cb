// Bounded concurrency: at most `limit` tasks at once, the rest waiting in order. Used for blobs and
// images in the copy engine, images in the worker, and by tests that run many child processes.
// Pure: no I/O, no clock.

export type Limiter = <T>(task: () => Promise<T>) => Promise<T>;

/** At most `limit` tasks running at once; the rest wait in order. */
export function createLimiter(limit: number): Limiter {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
