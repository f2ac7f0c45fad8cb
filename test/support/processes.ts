// Starting and stopping the real servers tests talk to (docker-registry, moto_server...), always on
// free loopback ports, always stopped: on `stop()`, and on process exit as a last resort.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { findProgram, missingProgramMessage } from '../../scripts/prerequisites';

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/** Throws at once, naming what to install, when `name` is not on PATH. */
export function requireProgram(name: string, env: NodeJS.ProcessEnv = process.env): void {
  if (findProgram(name, env) === undefined) throw new Error(missingProgramMessage(name, env));
}

export interface ManagedProcess {
  readonly child: ChildProcess;
  /** Everything the process wrote, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Resolves true once the process is ready to serve. */
  readonly ready: () => Promise<boolean>;
  readonly timeoutMs?: number;
}

export async function startProcess(
  command: string,
  args: readonly string[],
  options: StartOptions,
): Promise<ManagedProcess> {
  // A missing program fails here, naming what to install, instead of a readiness wait that can
  // never succeed (npm test once hung for minutes on a machine without docker-registry).
  const env = options.env ?? process.env;
  if (!command.includes('/')) requireProgram(command, env);
  const child = spawn(command, args, {
    env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  const append = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let exited = false;
  let resolveExit = (): void => undefined;
  const exit = new Promise<void>((resolve) => {
    resolveExit = resolve;
    child.once('exit', () => {
      exited = true;
      running.delete(child);
      resolve();
    });
  });
  child.once('error', (e) => {
    output += `\nspawn error: ${e.message}`;
    // A child that never started emits no 'exit': without this, stop() would wait for it forever.
    if (child.pid === undefined) {
      exited = true;
      running.delete(child);
      resolveExit();
    }
  });

  const managed: ManagedProcess = {
    child,
    output: () => output,
    stop: async () => {
      if (exited) return;
      child.kill('SIGTERM');
      const killed = await Promise.race([exit.then(() => true), sleep(3000).then(() => false)]);
      if (!killed) {
        child.kill('SIGKILL');
        await exit;
      }
    },
  };

  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (exited) throw new Error(`${command} exited before it was ready:\n${output}`);
    if (await options.ready().catch(() => false)) return managed;
    if (Date.now() > deadline) {
      await managed.stop();
      throw new Error(`${command} was not ready within ${options.timeoutMs ?? 30_000} ms:\n${output}`);
    }
    await sleep(100);
  }
}

/** Whether `url` answers an HTTP request at all (any status). */
export async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}
