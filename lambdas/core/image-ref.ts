// Image references, parsed once into a readonly value, with Docker's normalization
// (`ubuntu` -> `docker.io/library/ubuntu`). Every other module works on ImageRef values and
// never splits or joins reference strings itself. Pure: no I/O.
import { InvalidReferenceError } from './errors';

export interface ImageRef {
  /** Registry host with optional port, normalized: `docker.io`, `localhost:5000`, `1.dkr.ecr...`. */
  readonly registry: string;
  /** Repository path inside the registry: `library/ubuntu`, `shop/cart/api`. */
  readonly repository: string;
  readonly tag?: string;
  /** `algorithm:hex`, e.g. `sha256:...`. */
  readonly digest?: string;
}

export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set([
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
]);

// Grammar of github.com/distribution/reference (reference.go / regexp.go).
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6 = /^\[[a-fA-F0-9:]+\]$/;
const PORT = /^[0-9]+$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
const SHA512_DIGEST = /^sha512:[a-f0-9]{128}$/;
const MAX_NAME_LENGTH = 255;

/** Parses `[registry/]path[:tag][@digest]`. Throws InvalidReferenceError with the precise reason. */
export function parseImageRef(input: string): ImageRef {
  const fail = (reason: string): never => {
    throw new InvalidReferenceError(input, reason);
  };
  if (input.length === 0) fail('empty reference');
  if (input !== input.trim() || /\s/.test(input)) fail('contains whitespace');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    validateDigest(digest, fail);
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag))
      fail(`invalid tag "${tag}" (letters, digits, _ . - ; at most 128; not starting with . or -)`);
  }
  if (rest.length === 0) fail('missing repository name');

  const { registry, repository } = splitName(rest, fail);
  if (repository.length === 0) fail('missing repository name');
  for (const component of repository.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      fail(
        component.toLowerCase() === component || component.length === 0
          ? `invalid repository path component "${component}"`
          : `repository name must be lowercase ("${component}")`,
      );
    }
  }
  const nameLength = (registry === DOCKER_HUB ? 0 : registry.length + 1) + repository.length;
  if (nameLength > MAX_NAME_LENGTH) fail(`repository name longer than ${MAX_NAME_LENGTH} characters`);

  return freeze({ registry, repository, tag, digest });
}

function splitName(name: string, fail: (reason: string) => never): { registry: string; repository: string } {
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  // Docker: the first component is a registry when it has a dot or a port, is `localhost`, or has
  // uppercase letters (which a repository path cannot).
  const isDomain =
    slash !== -1 &&
    (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
  if (!isDomain) {
    const repository = slash === -1 ? `library/${name}` : name;
    return { registry: DOCKER_HUB, repository };
  }
  validateDomain(first, fail);
  const registry = DOCKER_HUB_ALIASES.has(first.toLowerCase()) ? DOCKER_HUB : first;
  let repository = name.slice(slash + 1);
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  return { registry, repository };
}

function validateDomain(domain: string, fail: (reason: string) => never): void {
  let host = domain;
  let port: string | undefined;
  if (domain.startsWith('[')) {
    const end = domain.indexOf(']');
    host = domain.slice(0, end + 1);
    const after = domain.slice(end + 1);
    if (end === -1 || !IPV6.test(host)) fail(`invalid registry host "${domain}"`);
    if (after !== '') {
      if (!after.startsWith(':')) fail(`invalid registry host "${domain}"`);
      port = after.slice(1);
    }
  } else {
    const colon = domain.indexOf(':');
    if (colon !== -1) {
      host = domain.slice(0, colon);
      port = domain.slice(colon + 1);
    }
    if (host.length === 0 || !host.split('.').every((c) => DOMAIN_COMPONENT.test(c))) {
      fail(`invalid registry host "${domain}"`);
    }
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535)) {
    fail(`invalid registry port "${port}" in "${domain}"`);
  }
}

function validateDigest(digest: string, fail: (reason: string) => never): void {
  if (!DIGEST.test(digest)) fail(`invalid digest "${digest}" (expected algorithm:hex)`);
  if (digest.startsWith('sha256:') && !SHA256_DIGEST.test(digest)) {
    fail(`invalid sha256 digest "${digest}" (expected 64 lowercase hex characters)`);
  }
  if (digest.startsWith('sha512:') && !SHA512_DIGEST.test(digest)) {
    fail(`invalid sha512 digest "${digest}" (expected 128 lowercase hex characters)`);
  }
}

function freeze(ref: {
  registry: string;
  repository: string;
  tag: string | undefined;
  digest: string | undefined;
}): ImageRef {
  const value: { -readonly [K in keyof ImageRef]: ImageRef[K] } = {
    registry: ref.registry,
    repository: ref.repository,
  };
  if (ref.tag !== undefined) value.tag = ref.tag;
  if (ref.digest !== undefined) value.digest = ref.digest;
  return Object.freeze(value);
}

/** True when `digest` is a well-formed `algorithm:hex` digest. */
export function isDigest(value: string): boolean {
  return DIGEST.test(value) && (!value.startsWith('sha256:') || SHA256_DIGEST.test(value));
}

/** The fully qualified form: `registry/repository[:tag][@digest]`. */
export function formatImageRef(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}${ref.tag === undefined ? '' : `:${ref.tag}`}${
    ref.digest === undefined ? '' : `@${ref.digest}`
  }`;
}

/** `registry/repository`, without tag or digest. */
export function formatRepository(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}`;
}

export function withRegistry(ref: ImageRef, registry: string): ImageRef {
  return freeze({ registry, repository: ref.repository, tag: ref.tag, digest: ref.digest });
}

export function withTag(ref: ImageRef, tag: string | undefined): ImageRef {
  return freeze({ registry: ref.registry, repository: ref.repository, tag, digest: ref.digest });
}

export function withDigest(ref: ImageRef, digest: string | undefined): ImageRef {
  return freeze({ registry: ref.registry, repository: ref.repository, tag: ref.tag, digest });
}

/** ECR registry host `<account>.dkr.ecr.<region>.amazonaws.com[.cn]` (also FIPS), or undefined. */
export interface EcrRegistry {
  readonly accountId: string;
  readonly region: string;
}

const ECR_HOST = /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.(?:amazonaws\.com(?:\.cn)?|on\.aws)$/;

export function parseEcrRegistry(registry: string): EcrRegistry | undefined {
  const match = ECR_HOST.exec(registry);
  if (!match) return undefined;
  return { accountId: match[1]!, region: match[2]! };
}
