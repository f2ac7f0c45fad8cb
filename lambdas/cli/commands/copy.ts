// `image-promoter copy SOURCE DESTINATION`: the copy engine by hand — what the worker does for one
// promotion, without git, SQS or GitHub — like `crane copy`. Wiring only: parses options, picks
// credentials for each registry, calls copyImage and prints the result.
import { loadConfigFile } from '../../adapters/config-source';
import { createDockerConfigCredentialProvider, dockerConfigPath } from '../../adapters/docker-config';
import {
  RegistryClient,
  type CredentialProvider,
  type RegistryCredentials,
} from '../../adapters/registry-client';
import { copyImage, type CopyResult } from '../../copy/copy-image';
import type { Config } from '../../core/config';
import { InvalidReferenceError, UsageError } from '../../core/errors';
import { formatImageRef, parseEcrRegistry, parseImageRef, type ImageRef } from '../../core/image-ref';
import type { Command, CommandIo } from '../main';
import { parseCommandArgs } from '../parse-command-args';
import { createProgressLine, formatBytes } from '../progress-line';

export const SOURCE_CREDS_ENV = 'IMAGE_PROMOTER_SRC_CREDS';
export const DESTINATION_CREDS_ENV = 'IMAGE_PROMOTER_DEST_CREDS';

const USAGE = `usage: image-promoter copy [options] SOURCE DESTINATION

Copies an image byte for byte: same digest, every platform, and its signatures, attestations and
SBOMs (OCI referrers and cosign tags). DESTINATION without a tag takes SOURCE's tag. Re-running is
cheap: what the destination already holds is skipped.

options:
  --overwrite              move DESTINATION's tag when it points at another digest
                           (default: refuse with TAG_CONFLICT)
  --no-referrers           copy the image only, not its signatures/attestations/SBOMs
  --jobs N                 blobs copied at once (default 8, or copy.blobJobs of --config);
                           --blob-jobs is the same
  --image-jobs N           manifests copied at once (default 4, or copy.imageJobs of --config)
  --src-creds USER:PASS    source credentials (default: $${SOURCE_CREDS_ENV}, else docker config,
                           else for ECR hosts a token from the AWS credentials in the environment)
  --dst-creds USER:PASS    destination credentials (default: $${DESTINATION_CREDS_ENV}, then the same);
                           --dest-creds is the same
  --insecure HOST:PORT     talk plain HTTP to that registry (repeatable)
  --endpoint HOST=URL      reach registry HOST at URL (repeatable), e.g. a local registry
  --config FILE            image-promoter.yaml: copy defaults and registryEndpoints
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
  readonly config: string | undefined;
  readonly json: boolean;
  readonly quiet: boolean;
}

async function runCopy(args: readonly string[], io: CommandIo): Promise<number> {
  const parsed = parseCopyArgs(args);
  const config: Config | undefined =
    parsed.config === undefined ? undefined : await loadConfigFile(parsed.config);
  const source = parseImageArg(parsed.source, 'SOURCE');
  const destination = parseImageArg(parsed.destination, 'DESTINATION');
  const endpoints = { ...config?.registryEndpoints, ...parsed.endpoints };
  const dockerConfig = createDockerConfigCredentialProvider(dockerConfigPath(io.env));
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
  const client = (registry: string, explicit: string | undefined, envName: string): RegistryClient => {
    const given = explicit ?? io.env[envName];
    const credentials: CredentialProvider =
      given === undefined || given === '' ? stored : constant(parseCreds(given, envName));
    const endpoint = endpoints[registry];
    return new RegistryClient({
      registry,
      credentials,
      ...(endpoint === undefined ? {} : { endpoint }),
      userAgent: 'image-promoter-cli',
    });
  };

  // A live line on a terminal; nothing on a pipe, in --json or --quiet mode.
  const progress =
    io.stderr.isTTY === true && !parsed.json && !parsed.quiet
      ? createProgressLine({ write: (text) => io.stderr.write(text) })
      : undefined;
  const result = await copyImage({
    source,
    destination,
    sourceRegistry: client(source.registry, parsed.sourceCreds, SOURCE_CREDS_ENV),
    destinationRegistry: client(destination.registry, parsed.destinationCreds, DESTINATION_CREDS_ENV),
    overwrite: parsed.overwrite || (config?.copy.overwrite ?? false),
    referrers: parsed.referrers && (config?.copy.referrers ?? true),
    blobJobs: parsed.blobJobs ?? config?.copy.blobJobs ?? 8,
    imageJobs: parsed.imageJobs ?? config?.copy.imageJobs ?? 4,
    ...(progress === undefined ? {} : { onEvent: progress.onEvent }),
  }).finally(() => progress?.finish());

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
    },
  });
  if (positionals.length !== 2) {
    throw new UsageError(`expected SOURCE and DESTINATION, got ${positionals.length} argument(s)`);
  }
  const endpoints: Record<string, string> = {};
  for (const host of (values['insecure'] as string[] | undefined) ?? []) {
    if (!/^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:]+\](?::\d{1,5})?$/.test(host)) {
      throw new UsageError(`--insecure ${host}: expected HOST[:PORT], as in the image reference`);
    }
    endpoints[host] = `http://${host}`;
  }
  for (const item of (values['endpoint'] as string[] | undefined) ?? []) {
    const eq = item.indexOf('=');
    const url = eq === -1 ? '' : item.slice(eq + 1);
    if (eq <= 0 || !/^https?:\/\/[^/]+/.test(url)) {
      throw new UsageError(`--endpoint ${item}: expected HOST=http(s)://ADDRESS[:PORT]`);
    }
    endpoints[item.slice(0, eq)] = url;
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
    sourceCreds: values['src-creds'] as string | undefined,
    destinationCreds: (values['dst-creds'] ?? values['dest-creds']) as string | undefined,
    endpoints,
    config: values['config'] as string | undefined,
    json: values['json'] === true,
    quiet: values['quiet'] === true,
  };
}

/** A reference given on the command line: a bad one is a usage error (exit 2). */
function parseImageArg(text: string, role: string): ImageRef {
  try {
    return parseImageRef(text);
  } catch (e: unknown) {
    if (e instanceof InvalidReferenceError) throw new UsageError(`${role}: ${e.message}`, { cause: e });
    throw e;
  }
}

function jobs(value: unknown, flag: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new UsageError(`${flag} ${String(value)}: expected a whole number from 1 to ${max}`);
  }
  return n;
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
    `${blobs.skipped} already there; referrers: ${result.referrers} copied\n`
  );
}
