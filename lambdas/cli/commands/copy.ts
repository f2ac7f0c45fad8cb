// `image-promoter copy SOURCE DESTINATION`: the copy engine by hand — what the worker does for one
// promotion, without git, SQS or GitHub — like `crane copy`. Wiring only: parses options, picks
// credentials for each registry, calls copyImage and prints the result.
import { createDockerConfigCredentialProvider, dockerConfigPath } from '../../adapters/docker-config';
import {
  RegistryClient,
  ThrottlePool,
  type CredentialProvider,
  type RegistryCredentials,
} from '../../adapters/registry-client';
import { copyImage, type CopyResult } from '../../copy/copy-image';
import { deadlineSignal } from '../../copy/deadline';
import type { Config } from '../../core/config';
import { InvalidReferenceError, UsageError } from '../../core/errors';
import {
  DOCKER_HUB,
  formatImageRef,
  parseEcrRegistry,
  parseImageRef,
  type ImageRef,
} from '../../core/image-ref';
import type { Command, CommandIo } from '../command';
import { parseCommandArgs, parseIntegerOption } from '../parse-command-args';
import { createProgressLine, formatBytes } from '../progress-line';
import { startScavengePacer } from '../scavenge-pacer';

export const SOURCE_CREDS_ENV = 'IMAGE_PROMOTER_SRC_CREDS';
export const DESTINATION_CREDS_ENV = 'IMAGE_PROMOTER_DEST_CREDS';
/** Slots for blobs under 1 MiB (copyImage's smallBlobJobs) per --jobs slot: with 8, 24 small ones
 * go at once. 16 filled ~80% of a link over long round trips (bench:copy --network, scaled model:
 * 1.45x the limit against 1.27x with 24, docs/benchmarks.md); the scavenge pacer keeps the extra
 * slots' buffers within the CLI's RSS target. */
const SMALL_BLOBS_PER_JOB = 3;

const USAGE = `usage: image-promoter copy [options] SOURCE DESTINATION

Copies an image byte for byte: same digest, every platform, and its signatures, attestations and
SBOMs (OCI referrers and cosign tags). DESTINATION without a tag takes SOURCE's tag. Re-running is
cheap: what the destination already holds is skipped. A reference may start with http:// (plain
HTTP to that registry, like --insecure) or https:// (TLS, also on loopback).

options:
  --overwrite              move DESTINATION's tag when it points at another digest
                           (default: refuse with TAG_CONFLICT)
  --no-referrers           copy the image only, not its signatures/attestations/SBOMs
  --jobs N                 blobs copied at once (default 8, or copy.blobJobs of --config),
                           and 3 x N more of those under 1 MiB; --blob-jobs is the same
  --image-jobs N           platform manifests and referrers copied at once (default 4, or copy.imageJobs)
  --src-creds USER:PASS    source credentials (default: $${SOURCE_CREDS_ENV}, else docker config
                           with its credHelpers/credsStore,
                           else for ECR hosts a token from the AWS credentials in the environment)
  --dst-creds USER:PASS    destination credentials (default: $${DESTINATION_CREDS_ENV}, then the same);
                           --dest-creds is the same
  --insecure HOST:PORT     talk plain HTTP to that registry (repeatable)
  --endpoint HOST=URL      reach registry HOST (as written in SOURCE/DESTINATION) at URL, an
                           http(s) origin (repeatable), e.g. a local registry
  --config FILE            image-promoter.yaml: copy defaults and registryEndpoints
  --timeout DURATION       give up when the copy has not finished by then (90s, 15m, 1h;
                           default: no limit); what was copied stays
  --max-blob-bytes N       longest blob of unknown size (Docker schema 1) read
                           (default 4 GiB, or copy.maxBlobBytes of --config)
  --json                   print the result as one JSON object
  -q, --quiet              print nothing on success`;

export const copyCommand: Command = {
  summary: 'copy one image between registries, byte for byte (like crane copy)',
  usage: USAGE,
  run: runCopy,
};

interface CopyArgs {
  readonly source: string;
  readonly destination: string;
  readonly overwrite: boolean;
  readonly referrers: boolean;
  readonly blobJobs: number | undefined;
  readonly imageJobs: number | undefined;
  readonly sourceCreds: string | undefined;
  readonly destinationCreds: string | undefined;
  readonly endpoints: Readonly<Record<string, string>>;
  /** The flag that set each of `endpoints`, for messages. */
  readonly endpointFlags: Readonly<Record<string, string>>;
  readonly config: string | undefined;
  readonly json: boolean;
  readonly quiet: boolean;
  readonly timeoutMs: number | undefined;
  readonly timeoutText: string | undefined;
  readonly maxBlobBytes: number | undefined;
}

async function runCopy(args: readonly string[], io: CommandIo): Promise<number> {
  const parsed = parseCopyArgs(args);
  // Loaded only for --config: the config module brings zod and yaml, ~50 ms of start-up that a
  // plain copy would otherwise pay before its first request (measured, bench:copy's CLI row).
  const config: Config | undefined =
    parsed.config === undefined
      ? undefined
      : await (await import('../../adapters/config-source')).loadConfigFile(parsed.config);
  const { ref: source, endpoint: sourceEndpoint } = parseImageArg(parsed.source, 'SOURCE');
  const { ref: destination, endpoint: destinationEndpoint } = parseImageArg(
    parsed.destination,
    'DESTINATION',
  );
  // A flag naming neither registry would be silently ignored: refuse it instead.
  for (const [host, flag] of Object.entries(parsed.endpointFlags)) {
    if (host !== source.registry && host !== destination.registry) {
      throw new UsageError(
        `${flag}: ${host} is neither SOURCE's registry (${source.registry}) nor DESTINATION's (${destination.registry})`,
      );
    }
  }
  const endpoints = {
    ...config?.registryEndpoints,
    ...(sourceEndpoint === undefined ? {} : { [source.registry]: sourceEndpoint }),
    ...(destinationEndpoint === undefined ? {} : { [destination.registry]: destinationEndpoint }),
    ...parsed.endpoints,
  };
  const dockerConfig = createDockerConfigCredentialProvider(dockerConfigPath(io.env), { env: io.env });
  // The AWS SDK loads only for an ECR host (~40 ms and ~15 MiB of a copy between other registries).
  let ecr: Promise<CredentialProvider> | undefined;
  const ecrToken: CredentialProvider = async (registry) =>
    (await (ecr ??= import('../../adapters/ecr-credentials').then((m) => m.createEcrCredentialProvider())))(
      registry,
    );
  // A docker login wins; an ECR host without one gets a token from the AWS credentials at hand.
  const stored: CredentialProvider = async (registry) =>
    (await dockerConfig(registry)) ??
    (parseEcrRegistry(registry) === undefined ? undefined : ecrToken(registry));
  const maxBlobBytes = parsed.maxBlobBytes ?? config?.copy.maxBlobBytes;
  // A copy within one registry (one ECR account and Region) reads and writes against the same
  // quotas: both clients share one rate state, so a 429 to either slows both.
  const throttles = new ThrottlePool();
  const client = (registry: string, explicit: string | undefined, envName: string): RegistryClient => {
    const given = explicit ?? io.env[envName];
    const credentials: CredentialProvider =
      given === undefined || given === '' ? stored : constant(parseCreds(given, envName));
    const endpoint = endpoints[registry];
    return new RegistryClient({
      registry,
      credentials,
      throttle: throttles.for(registry),
      ...(endpoint === undefined ? {} : { endpoint }),
      userAgent: 'image-promoter-cli',
      ...(maxBlobBytes === undefined ? {} : { maxBlobBytes }),
    });
  };

  // A live line on a terminal; nothing on a pipe, in --json or --quiet mode.
  const progress =
    io.stderr.isTTY === true && !parsed.json && !parsed.quiet
      ? createProgressLine({ write: (text) => io.stderr.write(text) })
      : undefined;
  const blobJobs = parsed.blobJobs ?? config?.copy.blobJobs ?? 8;
  // The read buffers of small blobs are garbage at once but freed only by a scavenge: one every
  // few MiB of them, not every few MB of JS objects (scavenge-pacer.ts), for a lower peak RSS.
  const pacer = startScavengePacer();
  const result = await copyImage({
    source,
    destination,
    sourceRegistry: client(source.registry, parsed.sourceCreds, SOURCE_CREDS_ENV),
    destinationRegistry: client(destination.registry, parsed.destinationCreds, DESTINATION_CREDS_ENV),
    overwrite: parsed.overwrite || (config?.copy.overwrite ?? false),
    referrers: parsed.referrers && (config?.copy.referrers ?? true),
    blobJobs,
    // Small blobs cost round trips, not bytes or memory: over a network, many at once.
    smallBlobJobs: SMALL_BLOBS_PER_JOB * blobJobs,
    imageJobs: parsed.imageJobs ?? config?.copy.imageJobs ?? 4,
    ...(progress === undefined ? {} : { onEvent: progress.onEvent }),
    ...(parsed.timeoutMs === undefined
      ? {}
      : { signal: deadlineSignal(parsed.timeoutMs, `--timeout ${parsed.timeoutText ?? ''}`.trim()) }),
  }).finally(() => {
    pacer.stop();
    progress?.finish();
  });

  if (parsed.json) io.stdout.write(`${JSON.stringify(toJson(result))}\n`);
  else if (!parsed.quiet) io.stdout.write(formatResult(result));
  return 0;
}

function parseCopyArgs(args: readonly string[]): CopyArgs {
  const { values, positionals } = parseCommandArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: {
      overwrite: { type: 'boolean', default: false },
      'no-referrers': { type: 'boolean', default: false },
      jobs: { type: 'string' },
      'blob-jobs': { type: 'string' },
      'image-jobs': { type: 'string' },
      'src-creds': { type: 'string' },
      'dst-creds': { type: 'string' },
      'dest-creds': { type: 'string' },
      insecure: { type: 'string', multiple: true },
      endpoint: { type: 'string', multiple: true },
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', short: 'q', default: false },
      timeout: { type: 'string' },
      'max-blob-bytes': { type: 'string' },
    },
  });
  if (positionals.length !== 2) {
    throw new UsageError(`expected SOURCE and DESTINATION, got ${positionals.length} argument(s)`);
  }
  const endpoints: Record<string, string> = {};
  const endpointFlags: Record<string, string> = {};
  for (const host of values['insecure'] ?? []) {
    if (!/^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:]+\](?::\d{1,5})?$/.test(host)) {
      throw new UsageError(`--insecure ${host}: expected HOST[:PORT], as in the image reference`);
    }
    endpoints[host] = `http://${host}`;
    endpointFlags[host] = `--insecure ${host}`;
  }
  for (const item of values['endpoint'] ?? []) {
    const { host, url } = parseEndpointFlag(item);
    endpoints[host] = url;
    endpointFlags[host] = `--endpoint ${item}`;
  }
  return {
    source: positionals[0]!,
    destination: positionals[1]!,
    overwrite: values['overwrite'] === true,
    referrers: values['no-referrers'] !== true,
    blobJobs: jobs(
      values['jobs'] ?? values['blob-jobs'],
      values['jobs'] === undefined ? '--blob-jobs' : '--jobs',
      64,
    ),
    imageJobs: jobs(values['image-jobs'], '--image-jobs', 32),
    sourceCreds: values['src-creds'],
    destinationCreds: values['dst-creds'] ?? values['dest-creds'],
    endpoints,
    endpointFlags,
    config: values['config'],
    json: values['json'] === true,
    quiet: values['quiet'] === true,
    timeoutMs: duration(values['timeout'], '--timeout'),
    timeoutText: values['timeout'],
    maxBlobBytes: wholeNumber(values['max-blob-bytes'], '--max-blob-bytes'),
  };
}

/** `90`, `90s`, `15m`, `1h`: milliseconds. */
function duration(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+)(s|m|h)?$/.exec(String(value));
  const n = Number(match?.[1]);
  if (match === null || n < 1) {
    throw new UsageError(`${flag} ${String(value)}: expected a duration such as 90s, 15m or 1h`);
  }
  return n * ({ s: 1000, m: 60_000, h: 3_600_000 } as const)[(match[2] ?? 's') as 's' | 'm' | 'h'];
}

function wholeNumber(value: string | undefined, flag: string): number | undefined {
  return value === undefined ? undefined : parseIntegerOption(flag, value, 1, Number.MAX_SAFE_INTEGER);
}

/**
 * A reference given on the command line; a bad one is a usage error (exit 2). `http://` in front
 * means plain HTTP to that registry (like --insecure), `https://` TLS even on loopback, `docker://`
 * (skopeo's transport) nothing more; any other scheme is refused.
 */
function parseImageArg(text: string, role: string): { ref: ImageRef; endpoint?: string } {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text);
  const name = scheme?.[1]!.toLowerCase();
  if (name !== undefined && name !== 'http' && name !== 'https' && name !== 'docker') {
    throw new UsageError(
      `${role} ${text}: ${name}:// is not understood; give HOST/REPOSITORY[:TAG|@DIGEST], optionally after http:// or https://`,
    );
  }
  let ref: ImageRef;
  try {
    ref = parseImageRef(scheme === null ? text : text.slice(scheme[0].length));
  } catch (e: unknown) {
    if (e instanceof InvalidReferenceError) throw new UsageError(`${role}: ${e.message}`, { cause: e });
    throw e;
  }
  if (name !== 'http' && name !== 'https') return { ref };
  if (ref.registry === DOCKER_HUB) {
    // "http://nginx:1" reads as Docker Hub's library/nginx: a registry host was surely meant.
    if (name === 'http') {
      throw new UsageError(`${role} ${text}: http:// needs a registry host (HOST[:PORT]/REPOSITORY[:TAG])`);
    }
    return { ref };
  }
  return { ref, endpoint: `${name}://${ref.registry}` };
}

/**
 * `--endpoint HOST=URL`: HOST as an image reference names the registry (so `myreg` without a dot or
 * port, which a reference reads as a Docker Hub path, is refused), URL an http(s) origin; a URL
 * without a port means the scheme's default port (80 or 443), as in any URL.
 */
function parseEndpointFlag(item: string): { host: string; url: string } {
  const eq = item.indexOf('=');
  const given = eq <= 0 ? undefined : item.slice(0, eq);
  let url: URL | undefined;
  try {
    url = eq <= 0 ? undefined : new URL(item.slice(eq + 1));
  } catch {
    url = undefined;
  }
  if (given === undefined || url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new UsageError(`--endpoint ${item}: expected HOST=http(s)://ADDRESS[:PORT]`);
  }
  if (
    url.username !== '' ||
    url.password !== '' ||
    url.search !== '' ||
    url.hash !== '' ||
    url.pathname !== '/'
  ) {
    throw new UsageError(
      `--endpoint ${item}: the URL must be an origin (scheme, address, port) without path, query or credentials`,
    );
  }
  let host: string | undefined;
  try {
    host = parseImageRef(`${given}/x`).registry;
  } catch {
    host = undefined;
  }
  if (
    host === undefined ||
    (host === DOCKER_HUB && !/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)$/i.test(given))
  ) {
    throw new UsageError(
      `--endpoint ${item}: "${given}" is not a registry host as an image reference names it (a first part without "." or ":" is a Docker Hub path); write it as in SOURCE or DESTINATION`,
    );
  }
  return { host, url: url.origin };
}

function jobs(value: string | undefined, flag: string, max: number): number | undefined {
  return value === undefined ? undefined : parseIntegerOption(flag, value, 1, max);
}

function parseCreds(value: string, envName: string): RegistryCredentials {
  const colon = value.indexOf(':');
  if (colon <= 0) {
    // Never echo the value: it is a secret, and a malformed one is still mostly right.
    throw new UsageError(`credentials (--*-creds or $${envName}) must be USER:PASSWORD`);
  }
  return { username: value.slice(0, colon), password: value.slice(colon + 1) };
}

function constant(credentials: RegistryCredentials): CredentialProvider {
  return () => Promise.resolve(credentials);
}

function toJson(result: CopyResult): Record<string, unknown> {
  return {
    source: formatImageRef(result.source),
    destination: formatImageRef(result.destination),
    digest: result.digest,
    mediaType: result.mediaType,
    alreadyPresent: result.alreadyPresent,
    manifests: result.manifests.copied + result.manifests.skipped,
    manifestsCopied: result.manifests.copied,
    blobsCopied: result.blobs.copied,
    blobsMounted: result.blobs.mounted,
    blobsSkipped: result.blobs.skipped,
    bytesCopied: result.blobs.bytes,
    referrers: result.referrers,
    refusedReferrers: result.refusedReferrers,
    durationMs: result.durationMs,
  };
}

function formatResult(result: CopyResult): string {
  const verb = result.alreadyPresent ? 'already present' : 'copied';
  const { blobs, manifests } = result;
  return (
    `${verb}: ${formatImageRef(result.source)} -> ${formatImageRef(result.destination)}\n` +
    `  manifests: ${manifests.copied} copied, ${manifests.skipped} already there; ` +
    `blobs: ${blobs.copied} copied (${formatBytes(blobs.bytes)}), ${blobs.mounted} mounted, ` +
    `${blobs.skipped} already there; referrers: ${result.referrers} copied\n` +
    result.refusedReferrers.map((line) => `  refused by the destination: ${line}\n`).join('')
  );
}
