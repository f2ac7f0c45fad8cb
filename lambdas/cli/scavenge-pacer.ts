// Keeps the garbage buffers of a CLI copy from piling up between V8's young-generation collections
// (scavenges), which is where most of the CLI's peak RSS on many small blobs went. Must never
// collect when nothing piles up (an idle or no-op process pays nothing but a timer), nor run a full
// (old-generation) collection: a scavenge of a young generation that is mostly garbage costs ~1 ms.
//
// Why: every blob under DIRECT_DOWNLOAD_BYTES is read through node:http, which reads each socket
// into a fresh 64 KiB ArrayBuffer and copies every body piece into another (node's HTTP parser,
// on_body -> Buffer::Copy): two buffers per piece, garbage within milliseconds. Their memory comes
// back only when a scavenge finds them dead, and V8 schedules scavenges by the JS objects allocated
// (a few MB of them: a scavenge every ~0.4 s in a 100 x 256 KiB copy), not by ArrayBuffer bytes
// (its own trigger for those is 2 x the largest semi-space, 32 MiB). Measured with heaptrack at the
// peak of such a copy: 14 MiB of 19 MiB malloc'd were ArrayBuffers, 7 MiB parser copies and 6.6 MiB
// socket reads; process.memoryUsage().arrayBuffers climbed by 8-14 MiB between scavenges.
// A smaller young generation (--max-semi-space-size) is no cure: it promotes the buffers still
// waiting for their upload to the old generation, whose garbage only a full collection frees.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Scavenge once ArrayBuffers grew by this much since the lowest reading after the last one: ~0.15 s
 * of a 100 x 256 KiB loopback copy. Smaller steps cost more scavenges for little less RSS; the 1 MiB
 * slabs of large-blob reads are reused (http-download.ts), so a large-blob copy seldom reaches it.
 */
export const SCAVENGE_STEP_BYTES = 4 * 1024 * 1024;
/** How often the ArrayBuffer total is read (process.memoryUsage: tens of microseconds). */
export const SCAVENGE_CHECK_MS = 50;

export interface ScavengePacerOptions {
  readonly stepBytes?: number;
  readonly intervalMs?: number;
  /** Bytes held by ArrayBuffers now (default process.memoryUsage().arrayBuffers). */
  readonly readArrayBufferBytes?: () => number;
  /** Runs one young-generation collection (default: V8's, see youngCollector). */
  readonly collectYoung?: () => void;
}

export interface ScavengePacer {
  /** One check (the timer calls it every intervalMs): scavenges when the step was reached. */
  check(): void;
  /** Scavenges run so far. */
  readonly scavenges: number;
  stop(): void;
}

/** Starts checking every intervalMs (an unref'd timer: it never keeps the process alive). */
export function startScavengePacer(options: ScavengePacerOptions = {}): ScavengePacer {
  const stepBytes = options.stepBytes ?? SCAVENGE_STEP_BYTES;
  const read = options.readArrayBufferBytes ?? ((): number => process.memoryUsage().arrayBuffers);
  let collect = options.collectYoung;
  let floor = read();
  let scavenges = 0;
  const pacer = {
    check(): void {
      const now = read();
      // Freed buffers show up some time after the scavenge (V8 sweeps them on another thread).
      floor = Math.min(floor, now);
      if (now - floor < stepBytes) return;
      // Obtained at the first need only: ~6 ms and ~1.4 MiB, never paid by a copy without garbage.
      collect ??= youngCollector();
      collect();
      scavenges++;
      floor = read();
    },
    get scavenges(): number {
      return scavenges;
    },
    stop(): void {
      clearInterval(timer);
    },
  };
  const timer = setInterval(() => pacer.check(), options.intervalMs ?? SCAVENGE_CHECK_MS);
  timer.unref();
  return pacer;
}

/**
 * V8's young-generation collection as a function. Node offers `gc` only with --expose-gc at start,
 * which a bin script cannot pass to the node that runs it; with the flag set, a new context gets
 * `gc` (V8's GC extension; the `expose-gc` package does the same), and the flag is put back at once.
 * `gc({ type: 'minor' })` runs a scavenge (V8's GCExtension: type "minor").
 */
export function youngCollector(): () => void {
  const exposed = (globalThis as { gc?: unknown }).gc;
  let gc: unknown = exposed;
  if (typeof gc !== 'function') {
    try {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc');
    } catch {
      // A runtime without the flag or the extension: no pacing, the copy goes on as before.
    } finally {
      setFlagsFromString('--no-expose-gc');
    }
  }
  if (typeof gc !== 'function') return () => undefined;
  const run = gc as (options: { readonly type: 'minor' }) => void;
  return () => run({ type: 'minor' });
}
