// Child-process entry for measuring one engine copy in isolation: reads an EngineCopyRequest as
// JSON from argv[2], copies, and prints one JSON line: the outcome (or the error's code and
// retryability) and the process's own peak RSS. Bundled with esbuild and run with plain `node`, so
// the figure is the engine's, not a TypeScript loader's. Never used by production code.
import { copyWithEngine, type EngineCopyOutcome, type EngineCopyRequest } from './engine';

export type ChildReport =
  | { readonly ok: true; readonly outcome: EngineCopyOutcome; readonly maxRssKb: number; readonly ms: number }
  | {
      readonly ok: false;
      readonly error: {
        readonly name: string;
        readonly code?: string;
        readonly retryable?: boolean;
        readonly message: string;
      };
      readonly maxRssKb: number;
      readonly ms: number;
    };

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2] ?? '{}') as EngineCopyRequest;
  const started = performance.now();
  let report: ChildReport;
  try {
    const outcome = await copyWithEngine(request);
    report = { ok: true, outcome, maxRssKb: process.resourceUsage().maxRSS, ms: performance.now() - started };
  } catch (e: unknown) {
    const error = e instanceof Error ? e : new Error(String(e));
    const typed = error as Error & { code?: unknown; retryable?: unknown };
    report = {
      ok: false,
      error: {
        name: error.name,
        ...(typeof typed.code === 'string' ? { code: typed.code } : {}),
        ...(typeof typed.retryable === 'boolean' ? { retryable: typed.retryable } : {}),
        message: error.message,
      },
      maxRssKb: process.resourceUsage().maxRSS,
      ms: performance.now() - started,
    };
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exitCode = report.ok ? 0 : 1;
}

await main();
