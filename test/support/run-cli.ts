// Runs the real CLI entry point (`node bin/image-promoter.mjs ...`) as a separate process, the way a
// user does, and collects its exit code and output. Never throws for a non-zero exit.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const ENTRY = fileURLToPath(new URL('../../bin/image-promoter.mjs', import.meta.url));

export function runCli(
  args: readonly string[],
  options: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [ENTRY, ...args],
      {
        cwd: options.cwd,
        env: { ...process.env, ...options.env, NODE_NO_WARNINGS: '1' },
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
