// The one typed reader of the process environment, for the handlers, their dependency builders and
// the local runners. Names come from the contract (ENV), so a variable the CDK app does not know
// cannot be read by accident. One rule for every variable: unset and empty mean the same (an empty
// value never overrides a default); a missing required variable is a one-line ConfigError naming it.
// Pure: reads only the record it is given, never process.env itself.
import type { EnvironmentVariable } from './contract';
import { ConfigError } from './errors';

/** The environment as a process or a test passes it. */
export type EnvironmentRecord = Readonly<Record<string, string | undefined>>;

export interface EnvironmentReader {
  /** The value, or undefined when unset or empty. */
  optional(name: EnvironmentVariable): string | undefined;
  /** The value; a ConfigError "environment: set NAME (what it is)" when unset or empty. */
  required(name: EnvironmentVariable, what: string): string;
}

export function createEnvironmentReader(env: EnvironmentRecord): EnvironmentReader {
  const optional = (name: EnvironmentVariable): string | undefined => {
    const value = env[name];
    return value === undefined || value === '' ? undefined : value;
  };
  return {
    optional,
    required(name, what) {
      const value = optional(name);
      if (value === undefined) throw missingEnvironmentError([name], what);
      return value;
    },
  };
}

/** "environment: set A or B (what)": the variables any one of which would do. */
export function missingEnvironmentError(names: readonly EnvironmentVariable[], what?: string): ConfigError {
  return new ConfigError(
    '',
    `set ${names.join(' or ')}${what === undefined ? '' : ` (${what})`}`,
    'environment',
  );
}
