// Runs the real CLI entry point (`node bin/image-promoter.cjs ...`) as a separate process, the way a
// user does, and collects its exit code and output. Never throws for a non-zero exit. By default the
// entry runs the sources (scripts/run-tests.mjs sets IMAGE_PROMOTER_CLI_FROM_SOURCES=1); `binary`
// runs another entry, e.g. the bin of an installed package, as plain node with that variable unset.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export const CLI_BIN = fileURLToPath(new URL('../../bin/image-promoter.cjs', import.meta.url));

export function runCli(
  args: readonly string[],
  options: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv; readonly binary?: string } = {},
): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env, NODE_NO_WARNINGS: '1' };
  if (options.binary !== undefined) delete env['IMAGE_PROMOTER_CLI_FROM_SOURCES'];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [options.binary ?? CLI_BIN, ...args],
      { cwd: options.cwd, env, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
