// Runs deploy/argocd-presync-gate/wait-for-promotion.sh as the PreSync hook Job would: `sh` with curl
// on the PATH and the settings in the environment, against a GitHub (test) server. Nothing else of
// the caller's environment reaches it, so what the script needs is exactly what the Job sets.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export const PRESYNC_GATE_SCRIPT = resolve(
  new URL('../../deploy/argocd-presync-gate/wait-for-promotion.sh', import.meta.url).pathname,
);

export interface GateRun {
  /** 0: the sync may go on; 1: stopped (failure, error or timeout); 2: misconfigured. */
  readonly code: number | null;
  /** stdout and stderr, interleaved as written. */
  readonly output: string;
  readonly ms: number;
}

export interface RunningGate {
  readonly done: Promise<GateRun>;
  /** What it wrote so far. */
  output(): string;
}

/** Starts the script with `env` (GITHUB_API_URL, GITHUB_REPOSITORY, PROMOTION_ENVIRONMENT,
 * GITHUB_TOKEN, REVISION, GATE_*); resolves when it exits. */
export function startPresyncGate(env: Readonly<Record<string, string>>): RunningGate {
  const started = Date.now();
  let output = '';
  const child = spawn('sh', [PRESYNC_GATE_SCRIPT], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const done = new Promise<GateRun>((resolveRun, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code, output, ms: Date.now() - started }));
  });
  return { done, output: () => output };
}
