// A one-line progress display for `image-promoter copy` on a terminal: bytes streamed, blobs and
// manifests done, rate — redrawn in place at most every `intervalMs`. Writes only to the stream it
// is given (stderr), never when that is not a TTY (the caller decides), and clears its line at the end.
import type { CopyEvent } from '../copy/copy-image';

export interface ProgressLine {
  readonly onEvent: (event: CopyEvent) => void;
  /** Erases the line (call once, before printing the result). */
  finish(): void;
}

export interface ProgressLineOptions {
  readonly write: (text: string) => void;
  /** Milliseconds since some origin; injectable for tests. */
  readonly now?: () => number;
  readonly intervalMs?: number;
}

export function createProgressLine(options: ProgressLineOptions): ProgressLine {
  const now = options.now ?? (() => performance.now());
  const intervalMs = options.intervalMs ?? 100;
  const started = now();
  const inFlight = new Map<string, number>();
  let finishedBytes = 0;
  let blobs = 0;
  let manifests = 0;
  let lastDraw = -Infinity;
  let drawn = false;

  const draw = (force: boolean): void => {
    const at = now();
    if (!force && at - lastDraw < intervalMs) return;
    lastDraw = at;
    let bytes = finishedBytes;
    for (const partial of inFlight.values()) bytes += partial;
    const seconds = Math.max((at - started) / 1000, 0.001);
    options.write(
      `\r\x1b[Kcopying: ${formatBytes(bytes)} (${formatBytes(bytes / seconds)}/s), ` +
        `${blobs} blob${blobs === 1 ? '' : 's'} and ${manifests} manifest${manifests === 1 ? '' : 's'} done, ` +
        `${inFlight.size} in flight`,
    );
    drawn = true;
  };

  return {
    onEvent: (event) => {
      if (event.type === 'progress') {
        inFlight.set(event.digest, event.bytes);
      } else if (event.type === 'blob') {
        const streamed = inFlight.get(event.digest);
        inFlight.delete(event.digest);
        finishedBytes += event.bytes ?? streamed ?? 0;
        blobs++;
      } else {
        manifests++;
      }
      draw(false);
    },
    finish: () => {
      if (drawn) options.write('\r\x1b[K');
    },
  };
}

/** `512 B`, `3.0 MiB`: how the copy command prints sizes. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
