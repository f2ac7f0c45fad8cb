// node:util parseArgs for the CLI commands, with its complaints (unknown option, missing value...)
// turned into a short UsageError: main prints it as one line, `image-promoter CMD: ... (see --help)`,
// and exits 2. Node's own wording (a paragraph on `--` for unknown options) is not shown.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../core/errors';

export function parseCommandArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e: unknown) {
    throw new UsageError(describeParseError(e));
  }
}

/** Node 20-24's parseArgs errors (codes ERR_PARSE_ARGS_*), each as a short phrase. */
function describeParseError(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: unknown } | null)?.code;
  const quoted = /'([^']*)'/.exec(message)?.[1];
  if (quoted === undefined) return message.split('\n')[0]!;
  // "Option '-q, --quiet' ..." / "Option '--jobs <value>' ...": the long name alone.
  const option = /(--[^\s<]+)/.exec(quoted)?.[1] ?? quoted;
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${quoted}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument "${quoted}"`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return message.includes('argument missing') ? `${option} needs a value` : `${option} takes no value`;
    default:
      return message.split('\n')[0]!;
  }
}

/** An integer option: digits only (no sign, exponent, hex or spaces), from `min` to `max`; else a
 * UsageError `--flag must be a whole number from MIN to MAX, not "VALUE"`. The one integer parser
 * of the CLI. */
export function parseIntegerOption(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, not "${value}"`);
  }
  return n;
}
