// Runs one copy in a child process and measures it from outside: wall time and peak resident
// memory (`/usr/bin/time -f %M` when installed, else polling /proc/<pid>/status VmHWM). Used by
// the copy benchmark and the large-layer test so the engine and skopeo are measured the same way.
// Test and benchmark support only: loopback registries, never anything else.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildReport } from './copy-child';
import type { EngineCopyRequest } from './engine';

const here = dirname(fileURLToPath(import.meta.url));
const TIME = '/usr/bin/time';

export interface Measured {
  readonly ms: number;
  /** Peak resident set size of the child, in KiB. */
  readonly maxRssKb: number;
  /** User + system CPU time of the child, in ms (undefined without /usr/bin/time). */
  readonly cpuMs: number | undefined;
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

let bundled: Promise<string> | undefined;

/** bench/support/copy-child.ts bundled into one .mjs in a temp dir (once per process). */
export function bundleCopyChild(): Promise<string> {
  bundled ??= (async () => {
    const { build } = await import('esbuild');
    const dir = await mkdtemp(join(tmpdir(), 'ip-copy-child-'));
    const outfile = join(dir, 'copy-child.mjs');
    await build({
      entryPoints: [join(here, 'copy-child.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile,
      logLevel: 'error',
    });
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return outfile;
  })();
  return bundled;
}

async function hasTime(): Promise<boolean> {
  try {
    await access(TIME);
    return true;
  } catch {
    return false;
  }
}

/** Runs `command args` to completion; never rejects on a non-zero exit (see `code`). */
export async function runMeasured(command: string, args: readonly string[]): Promise<Measured> {
  const useTime = await hasTime();
  const dir = await mkdtemp(join(tmpdir(), 'ip-measure-'));
  const timeFile = join(dir, 'rss');
  const argv = useTime ? [TIME, '-f', '%M %U %S', '-o', timeFile, command, ...args] : [command, ...args];
  try {
    const started = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)));
    let polledKb = 0;
    const poll = useTime
      ? undefined
      : setInterval(() => {
          void readFile(`/proc/${child.pid}/status`, 'utf8')
            .then((status) => {
              const match = /VmHWM:\s+(\d+) kB/.exec(status);
              if (match) polledKb = Math.max(polledKb, Number(match[1]));
            })
            .catch(() => undefined);
        }, 20);
    const code = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (status) => resolve(status ?? 1));
    });
    const ms = performance.now() - started;
    if (poll) clearInterval(poll);
    if (!useTime) return { ms, maxRssKb: polledKb, cpuMs: undefined, code, stdout, stderr };
    // The last line is ours ("Command exited with non-zero status" may precede it).
    const [rss, user, system] = ((await readFile(timeFile, 'utf8')).trim().split('\n').pop() ?? '')
      .split(' ')
      .map(Number);
    return { ms, maxRssKb: rss ?? 0, cpuMs: ((user ?? 0) + (system ?? 0)) * 1000, code, stdout, stderr };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface EngineRun extends Measured {
  readonly report: ChildReport;
}

/** One engine copy in a fresh `node` process running the bundled copy-child. */
export async function runEngineChild(request: EngineCopyRequest): Promise<EngineRun> {
  const script = await bundleCopyChild();
  const measured = await runMeasured(process.execPath, [script, JSON.stringify(request)]);
  const line = measured.stdout.trim().split('\n').pop() ?? '';
  let report: ChildReport;
  try {
    report = JSON.parse(line) as ChildReport;
  } catch {
    throw new Error(`copy child printed no report (exit ${measured.code}):\n${measured.stderr}`);
  }
  return { ...measured, report };
}

export interface SkopeoSide {
  readonly credentials?: { readonly username: string; readonly password: string };
}

/** `skopeo copy --all --preserve-digests` between two plain-HTTP registries, measured. */
export async function runSkopeoCopy(
  source: string,
  destination: string,
  sides: { readonly source: SkopeoSide; readonly destination: SkopeoSide },
): Promise<Measured> {
  const creds = (prefix: 'src' | 'dest', side: SkopeoSide): string[] => [
    `--${prefix}-tls-verify=false`,
    ...(side.credentials
      ? [`--${prefix}-creds`, `${side.credentials.username}:${side.credentials.password}`]
      : [`--${prefix}-no-creds`]),
  ];
  const measured = await runMeasured('skopeo', [
    'copy',
    '--all',
    '--preserve-digests',
    '--quiet',
    ...creds('src', sides.source),
    ...creds('dest', sides.destination),
    `docker://${source}`,
    `docker://${destination}`,
  ]);
  if (measured.code !== 0) throw new Error(`skopeo copy failed (${measured.code}): ${measured.stderr}`);
  return measured;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on every Linux build in use). */
const USER_HZ = 100;

/** User + system CPU time a running process has used so far, in ms (NaN when unreadable). */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    // Fields after the parenthesised command name: state is the 1st, utime the 12th, stime the 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  } catch {
    return Number.NaN;
  }
}

/** Idle + iowait time of all CPUs of the machine so far, in ms (NaN when unreadable). */
export function machineIdleMs(): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    return ((Number(fields[4]) + Number(fields[5])) * 1000) / USER_HZ;
  } catch {
    return Number.NaN;
  }
}
