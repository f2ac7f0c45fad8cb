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
export async function runMeasured(
  command: string,
  args: readonly string[],
  options: { readonly env?: NodeJS.ProcessEnv } = {},
): Promise<Measured> {
  const useTime = await hasTime();
  const dir = await mkdtemp(join(tmpdir(), 'ip-measure-'));
  const timeFile = join(dir, 'rss');
  const argv = useTime ? [TIME, '-f', '%M %U %S', '-o', timeFile, command, ...args] : [command, ...args];
  try {
    const started = performance.now();
    // Without NODE_EXTRA_CA_CERTS: this machine points it at the whole system bundle, which node
    // parses at every start (45 of the 70 ms a bare `node -e 0` takes here) although these copies
    // speak plain HTTP; skopeo loads roots only for TLS. Nothing else in the environment changes.
    const { NODE_EXTRA_CA_CERTS: _extraCaCerts, ...env } = { ...process.env, ...options.env };
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
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

/** Where `npm run build` puts the shipped CLI's bin (plain node over dist/cli/). */
export const CLI_BIN = join(here, '..', '..', 'bin', 'image-promoter.cjs');

export interface CliRun extends Measured {
  /** `copy --json`'s output. */
  readonly result: { readonly bytesCopied: number; readonly alreadyPresent: boolean };
}

/**
 * `image-promoter copy SRC DST --json` as a user runs it: the built bin as a whole process (plain
 * node, the esbuild bundle in dist/cli/, never the sources), with HOME in an empty directory so no
 * docker config is read. Plain HTTP because the registries are on loopback.
 */
export async function runCliCopy(
  source: string,
  destination: string,
  sides: { readonly source: SkopeoSide; readonly destination: SkopeoSide },
  /** Another build's bin, or its dist/cli/entry.cjs (entry.mjs in older builds): a baseline to compare with. */
  bin: string = CLI_BIN,
): Promise<CliRun> {
  const home = await mkdtemp(join(tmpdir(), 'ip-cli-home-'));
  try {
    const creds = (flag: string, side: SkopeoSide): string[] =>
      side.credentials ? [flag, `${side.credentials.username}:${side.credentials.password}`] : [];
    const measured = await runMeasured(
      process.execPath,
      [
        bin,
        'copy',
        source,
        destination,
        ...creds('--src-creds', sides.source),
        ...creds('--dst-creds', sides.destination),
        '--json',
      ],
      { env: { HOME: home, IMAGE_PROMOTER_CLI_FROM_SOURCES: '', DOCKER_CONFIG: join(home, '.docker') } },
    );
    if (measured.code !== 0)
      throw new Error(`image-promoter copy failed (${measured.code}): ${measured.stderr}`);
    return { ...measured, result: JSON.parse(measured.stdout) as CliRun['result'] };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
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

export interface PipeImage {
  readonly repository: string;
  readonly blobs: readonly { readonly digest: string; readonly size: number }[];
  readonly manifest: { readonly bytes: string; readonly mediaType: string };
}

// Per blob, in parallel: POST for an upload URL, then `curl GET | curl PUT` straight through a pipe;
// then the manifest PUT to tag 1. No verification, no retries, no skipping: a reference, not a tool.
const CURL_PIPE = `
set -euo pipefail
src_auth=$1 dst_auth=$2 src=$3 dst=$4 repo=$5 media=$6 manifest=$7
shift 7
pids=()
for blob in "$@"; do
  (
    digest=\${blob%=*} size=\${blob##*=}
    location=$(curl -sSf -u "$dst_auth" -X POST -D - -o /dev/null "$dst/v2/$repo/blobs/uploads/" |
      tr -d '\\r' | sed -n 's/^[Ll]ocation: *//p')
    case $location in http*) ;; *) location=$dst$location ;; esac
    case $location in *\\?*) sep='&' ;; *) sep='?' ;; esac
    curl -sSf -u "$src_auth" "$src/v2/$repo/blobs/$digest" |
      curl -sSf -u "$dst_auth" -X PUT -H 'Content-Type: application/octet-stream' \\
        -H "Content-Length: $size" -T - -o /dev/null "$location\${sep}digest=$digest"
  ) &
  pids+=($!)
done
for pid in "\${pids[@]}"; do wait "$pid"; done
curl -sSf -u "$dst_auth" -X PUT -H "Content-Type: $media" --data-binary "$manifest" -o /dev/null \\
  "$dst/v2/$repo/manifests/1"
`;

/**
 * Every blob piped from one `curl` into another (C, no hashing, no verification), measured like the
 * tools (CPU and peak RSS of the whole process tree's largest). Not a floor: bash, two curls per
 * blob and the pipe between them (two more copies of every byte, 16 KiB reads) took ~1.5 CPU-s per
 * 5 x 64 MiB against the CLI's ~0.8, and the uploads reached docker-registry in small reads.
 */
export async function runCurlPipeCopy(
  source: { readonly url: string; readonly username: string; readonly password: string },
  destination: { readonly url: string; readonly username: string; readonly password: string },
  image: PipeImage,
): Promise<Measured> {
  const measured = await runMeasured('bash', [
    '-c',
    CURL_PIPE,
    'curl-pipe',
    `${source.username}:${source.password}`,
    `${destination.username}:${destination.password}`,
    source.url,
    destination.url,
    image.repository,
    image.manifest.mediaType,
    image.manifest.bytes,
    ...image.blobs.map((blob) => `${blob.digest}=${blob.size}`),
  ]);
  if (measured.code !== 0) throw new Error(`curl pipe copy failed (${measured.code}): ${measured.stderr}`);
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
