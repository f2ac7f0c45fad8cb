// The one typed configuration (`image-promoter.yaml`), shared by the CLI, both Lambdas and the CDK
// app. Parsing is pure: callers read the file; this module turns text into a validated, readonly
// Config or a ConfigError naming the key path and the reason.
import { DEFAULT_MAX_BLOB_BYTES } from './manifest';
import { en } from 'zod/locales';
import * as z from 'zod/mini';
import { ConfigError } from './errors';
import { parseEcrRegistry } from './image-ref';
import { DEFAULT_PLANNING_LIMITS } from './planning-limits';
import { DEFAULT_PRUNE_HISTORY_COMMITS, DEFAULT_PRUNE_KEEP } from './prune';
import { readYaml } from './yaml';

// zod/mini: the functional API (~36 KB of the webhook bundle with the English locale, against ~97 KB
// for the method-chaining one). It sets no locale: what `describeIssue` leaves generic gets zod's
// English message, as the method-chaining build gave.
const englishMessages = en().localeError;

const REGISTRY_HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

/** The source role's trust policy pins aws:PrincipalArn to the worker role and asks for this
 * ExternalId as a second lock, worth nothing when it is a public constant (the old default was
 * `image-promoter`): required with a role, at least 16 characters. AWS's limits: 2-1224 characters
 * of [\w+=,.@:/-] (STS AssumeRole). */
export const MIN_EXTERNAL_ID_LENGTH = 16;

// Allowlist globs must mean the same to the worker and to IAM, which turns them into resource ARNs.
// In an IAM ARN `*` matches any characters, `/` included, and `?` any one character (IAM User Guide,
// "IAM JSON policy elements: Resource", wildcards); a glob `*` that stops at `/` cannot be written
// there, so the only wildcard is `**` (any characters, `/` included: IAM's `*`) and the rest is a
// literal ECR repository name (lowercase letters, digits, . _ - /; which also keeps IAM policy
// variables such as `${aws:username}` out of the ARN).
const REPOSITORY_GLOB = /^(?:[a-z0-9._/-]|\*\*)+$/;
const REPOSITORY_GLOB_RULE =
  'must be a repository path whose only wildcard is ** (any characters, / included): a single * or ? ' +
  'cannot be expressed in the IAM policy (its * also matches /); write shop/** for every repository ' +
  'below shop/, or list the repositories';

function isRepositoryGlob(glob: string): boolean {
  return REPOSITORY_GLOB.test(glob);
}

/** The public Function URL's cap: concurrent webhook invocations beyond it are throttled (GitHub
 * records a failed delivery, which can be redelivered) instead of taking the account's whole
 * Lambda concurrency from every other function. A push is planned in well under GitHub's 10 s, so 10 answers several pushes a
 * second. `false` reserves nothing (accounts whose concurrency limit leaves no room to reserve). */
export const DEFAULT_WEBHOOK_RESERVED_CONCURRENCY = 10;

/** How long the webhook may spend on one delivery before planning is stopped (`webhook.deadlineSeconds`).
 * github.com waits 10 s for the answer and records a slower one as a failed delivery, which it never
 * redelivers by itself (https://docs.github.com/en/webhooks/using-webhooks/handling-failed-webhook-deliveries);
 * 7 s leaves 3 s for the commit statuses, the queue and the answer. GitHub Enterprise Server waits
 * 30 s (its "Best practices for using webhooks"), hence the maximum of 25 s (the Lambda runs 30 s). */
export const DEFAULT_WEBHOOK_DEADLINE_SECONDS = 7;
export const MAX_WEBHOOK_DEADLINE_SECONDS = 25;

/** Manifest HEADs the webhook may make in the destination registry per delivery
 * (`webhook.maxRegistryChecks`), eight at a time: a push changes a handful of images, and 50 HEADs
 * take about 7 rounds of one in-region round trip (well under a second) of the 7 s deadline. The
 * images past it are not checked: their job goes to the worker as before. */
export const DEFAULT_WEBHOOK_MAX_REGISTRY_CHECKS = 50;
export const MAX_WEBHOOK_REGISTRY_CHECKS = 500;

const registryHost = z
  .string()
  .check(
    z.regex(
      REGISTRY_HOST,
      'must be a registry host name such as 111111111111.dkr.ecr.us-east-1.amazonaws.com',
    ),
  );

/** What a pull request into a configured branch does. */
export const PULL_REQUEST_MODES = ['promote', 'plan', 'off'] as const;
export type PullRequestMode = (typeof PULL_REQUEST_MODES)[number];

const environmentSchema = z.strictObject({
  name: z
    .string()
    .check(
      z.regex(
        /^[a-z0-9][a-z0-9-]{0,31}$/,
        'must be 1-32 lowercase letters, digits or dashes, starting with a letter or digit',
      ),
    ),
  overlay: z
    .pipe(
      z.string().check(
        z.minLength(1),
        z.refine(
          (p) => !p.startsWith('/') && !p.split('/').includes('..'),
          'must be a path inside the repository, relative to its root (no leading /, no ..)',
        ),
      ),
      z.transform(normalizeRepositoryPath),
    )
    .check(z.refine((p) => p !== '', 'must name a directory below the repository root')),
  source: z.strictObject({
    registry: registryHost,
    roleArn: z.optional(
      z.string().check(z.regex(ROLE_ARN, 'must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)')),
    ),
    externalId: z.optional(
      z
        .string()
        .check(
          z.minLength(
            MIN_EXTERNAL_ID_LENGTH,
            `must be at least ${MIN_EXTERNAL_ID_LENGTH} characters, not guessable (e.g. the output of openssl rand -hex 16)`,
          ),
          z.maxLength(1224),
          z.regex(/^[\w+=,.@:/-]*$/, 'may only hold letters, digits and _ + = , . @ : / -'),
        ),
    ),
  }),
  destination: z.strictObject({
    registry: registryHost,
    createRepositories: z._default(z.boolean(), false),
  }),
  repositories: z.optional(
    z.array(z.string().check(z.refine(isRepositoryGlob, REPOSITORY_GLOB_RULE))).check(z.minLength(1)),
  ),
});

// Defaults of `planning` (the hostile-input budgets): core/planning-limits.ts, a module of constants
// only, so the overlay resolver and the file sources need not load this schema (zod, yaml, crypto).
export { DEFAULT_PLANNING_LIMITS };

const positiveInt = z.number().check(z.int(), z.gte(1));

const configSchema = z.strictObject({
  github: z.strictObject({
    repository: z.string().check(z.regex(/^[\w.-]+\/[\w.-]+$/, 'must be owner/name')),
    branches: z._default(z.array(z.string().check(z.minLength(1))).check(z.minLength(1)), ['main']),
    apiUrl: z.optional(z.url()),
    // Pull requests into `branches`: promote ahead of the merge (and report on the head commit),
    // only report what would be promoted, or ignore them.
    pullRequests: z._default(z.enum(PULL_REQUEST_MODES), 'promote'),
  }),
  environments: z.array(environmentSchema).check(z.minLength(1)),
  registryEndpoints: z._default(
    z.record(registryHost, z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })),
    {},
  ),
  copy: z._default(
    z.strictObject({
      blobJobs: z._default(z.number().check(z.int(), z.gte(1), z.lte(64)), 8),
      imageJobs: z._default(z.number().check(z.int(), z.gte(1), z.lte(32)), 4),
      referrers: z._default(z.boolean(), true),
      overwrite: z._default(z.boolean(), false),
      maxBlobBytes: z._default(z.number().check(z.int(), z.gte(1)), DEFAULT_MAX_BLOB_BYTES),
    }),
    { blobJobs: 8, imageJobs: 4, referrers: true, overwrite: false, maxBlobBytes: DEFAULT_MAX_BLOB_BYTES },
  ),
  // The scheduled reconcile (EventBridge): on by default, hourly.
  reconcile: z._default(
    z.strictObject({
      enabled: z._default(z.boolean(), true),
      // Minutes between runs: 5 at least (a run reads every overlay and HEADs every image), a day at most.
      rateMinutes: z._default(z.number().check(z.int(), z.gte(5), z.lte(1440)), 60),
    }),
    { enabled: true, rateMinutes: 60 },
  ),
  worker: z._default(
    z.strictObject({
      maxReceiveCount: z._default(z.number().check(z.int(), z.gte(1), z.lte(1000)), 5),
      dashboardUrl: z.optional(z.url()),
    }),
    { maxReceiveCount: 5 },
  ),
  webhook: z._default(
    z.strictObject({
      reservedConcurrency: z._default(
        z.union([z.number().check(z.int(), z.gte(1), z.lte(1000)), z.literal(false)]),
        DEFAULT_WEBHOOK_RESERVED_CONCURRENCY,
      ),
      // Seconds, fractions allowed (0.5): tests and slow-GitHub drills use short ones.
      deadlineSeconds: z._default(
        z.number().check(z.gt(0), z.lte(MAX_WEBHOOK_DEADLINE_SECONDS)),
        DEFAULT_WEBHOOK_DEADLINE_SECONDS,
      ),
      // Before enqueuing, HEAD each planned image in the destination registry (the webhook's own
      // account, read-only): already present / conflict / would copy (core/destination-check.ts).
      checkRegistries: z._default(z.boolean(), true),
      maxRegistryChecks: z._default(
        z.number().check(z.int(), z.gte(1), z.lte(MAX_WEBHOOK_REGISTRY_CHECKS)),
        DEFAULT_WEBHOOK_MAX_REGISTRY_CHECKS,
      ),
    }),
    {
      reservedConcurrency: DEFAULT_WEBHOOK_RESERVED_CONCURRENCY,
      deadlineSeconds: DEFAULT_WEBHOOK_DEADLINE_SECONDS,
      checkRegistries: true,
      maxRegistryChecks: DEFAULT_WEBHOOK_MAX_REGISTRY_CHECKS,
    },
  ),
  planning: z._default(
    z.strictObject({
      maxFiles: z._default(positiveInt, DEFAULT_PLANNING_LIMITS.maxFiles),
      maxBytes: z._default(positiveInt, DEFAULT_PLANNING_LIMITS.maxBytes),
      maxFileBytes: z._default(positiveInt, DEFAULT_PLANNING_LIMITS.maxFileBytes),
      maxResources: z._default(positiveInt, DEFAULT_PLANNING_LIMITS.maxResources),
      maxGitHubCalls: z._default(positiveInt, DEFAULT_PLANNING_LIMITS.maxGitHubCalls),
    }),
    { ...DEFAULT_PLANNING_LIMITS },
  ),
  // Prune (`image-promoter prune`, and in AWS a schedule): off unless `scheduled: true`; the CLI
  // runs whenever asked, dry by default.
  prune: z._default(
    z.strictObject({
      // Versions kept per repository before the one deployed now (the rollback window).
      keep: z._default(z.number().check(z.int(), z.gte(0), z.lte(1000)), DEFAULT_PRUNE_KEEP),
      // First-parent commits read for that window at most.
      historyCommits: z._default(
        z.number().check(z.int(), z.gte(1), z.lte(10_000)),
        DEFAULT_PRUNE_HISTORY_COMMITS,
      ),
      scheduled: z._default(z.boolean(), false),
      // Hours between scheduled runs: one at least, a week at most.
      rateHours: z._default(z.number().check(z.int(), z.gte(1), z.lte(168)), 24),
    }),
    {
      keep: DEFAULT_PRUNE_KEEP,
      historyCommits: DEFAULT_PRUNE_HISTORY_COMMITS,
      scheduled: false,
      rateHours: 24,
    },
  ),
});

type Deep<T> = T extends readonly (infer U)[]
  ? readonly Deep<U>[]
  : T extends object
    ? { readonly [K in keyof T]: Deep<T[K]> }
    : T;

export type Config = Deep<z.output<typeof configSchema>>;
export type EnvironmentConfig = Config['environments'][number];
export type PlanningLimits = Config['planning'];

/** Parses and validates YAML (or JSON) text. `file` only names the source in errors, which also
 * carry the line of the offending key. */
export function parseConfig(text: string, file = 'image-promoter.yaml'): Config {
  // YAML 1.2 core schema, `<<` a plain key; repeated keys refused; aliases bounded by the rule
  // overlay files are read with (core/yaml.ts), so a config whose aliases expand exponentially is
  // refused naming the line of its first alias.
  const read = readYaml(text, { duplicateKeys: 'error', mergeKeys: false });
  if (!read.ok) throw new ConfigError('', read.reason, file, read.line);
  const [document, second] = read.documents;
  if (second !== undefined) {
    throw new ConfigError(
      '',
      'malformed YAML: a second document (after ---): the config is a single YAML document',
      file,
      second.lineOf([]),
    );
  }
  return validateValue(document?.value, file, (path) => document?.lineOf(path));
}

/** Validates an already-parsed value (e.g. from CDK context). */
export function validateConfig(value: unknown, file = 'config'): Config {
  return validateValue(value, file, () => undefined);
}

type KeyPath = readonly (string | number)[];

function validateValue(value: unknown, file: string, locate: (path: KeyPath) => number | undefined): Config {
  const fail = (path: KeyPath, reason: string): never => {
    throw new ConfigError(formatKeyPath(path), reason, file, locate(path));
  };
  if (value === null || value === undefined) {
    fail([], 'the document is empty: expected a mapping with the keys github and environments');
  }
  const result = configSchema.safeParse(value, {
    error: (issue) => describeIssue(issue) ?? englishMessages(issue),
  });
  if (!result.success) {
    // A misspelt key also makes the right one missing: the unknown key is the message that helps.
    const issue = result.error.issues.find((i) => i.code === 'unrecognized_keys') ?? result.error.issues[0]!;
    const path = issue.path.filter((key): key is string | number => typeof key !== 'symbol');
    // An unknown key is reported at the key itself, where the user has to look.
    fail(issue.code === 'unrecognized_keys' ? [...path, issue.keys[0]!] : path, issue.message);
  }
  const config = result.data!;
  const names = new Map<string, number>();
  config.environments.forEach((env, i) => {
    const first = names.get(env.name);
    if (first !== undefined) {
      fail(['environments', i, 'name'], `duplicate environment "${env.name}" (also environments[${first}])`);
    }
    names.set(env.name, i);
    if (env.source.registry.toLowerCase() === env.destination.registry.toLowerCase()) {
      fail(['environments', i, 'destination', 'registry'], 'must differ from source.registry');
    }
    const account = parseEcrRegistry(env.source.registry)?.accountId;
    const roleAccount = env.source.roleArn?.split(':')[4];
    if (account !== undefined && roleAccount !== undefined && roleAccount !== account) {
      fail(
        ['environments', i, 'source', 'roleArn'],
        `role is in account ${roleAccount} but the source registry is in account ${account}`,
      );
    }
    if (env.source.roleArn !== undefined && env.source.externalId === undefined) {
      fail(
        ['environments', i, 'source', 'externalId'],
        'is required with a roleArn: a value nobody can guess (e.g. openssl rand -hex 16), also in the role trust policy',
      );
    }
  });
  return deepFreeze(config);
}

/** Messages for zod's generic issues, phrased for a person editing YAML. Schema-specific messages
 * (set with the schema) take precedence over these. */
function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `must be ${describeType(issue.expected)}, not ${describeValue(issue.input)}`;
    case 'unrecognized_keys': {
      const known = issue.inst instanceof z.ZodMiniObject ? Object.keys(issue.inst.shape) : [];
      const unknown = issue.keys.map((key) => `"${key}"`).join(', ');
      return `unknown key${issue.keys.length === 1 ? '' : 's'} ${unknown}${
        known.length === 0 ? '' : ` (expected one of: ${known.join(', ')})`
      }`;
    }
    case 'too_small':
      if (issue.origin === 'array')
        return `must list at least ${issue.minimum} item${issue.minimum === 1 ? '' : 's'}`;
      if (issue.origin === 'string')
        return issue.minimum === 1 ? 'must not be empty' : `must be at least ${issue.minimum} characters`;
      return `must be at least ${issue.minimum}`;
    case 'too_big':
      if (issue.origin === 'string') return `must be at most ${issue.maximum} characters`;
      return `must be at most ${issue.maximum}`;
    case 'invalid_key':
      return issue.issues[0]?.message;
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'invalid_format':
      return issue.format === 'url' ? 'must be a URL such as https://example.com' : undefined;
    default:
      return undefined;
  }
}

function describeType(expected: string): string {
  switch (expected) {
    case 'object':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'string':
      return 'a string';
    case 'number':
    case 'int':
      return 'a number';
    case 'boolean':
      return 'true or false';
    default:
      return expected;
  }
}

function describeValue(value: unknown): string {
  if (value === null) return 'null (empty)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string')
    return `the string "${value.length > 40 ? `${value.slice(0, 40)}...` : value}"`;
  return `${typeof value} ${String(value)}`;
}

/** `./overlays/prod/` -> `overlays/prod`: the form FileSources and plans use. */
function normalizeRepositoryPath(path: string): string {
  return path
    .split('/')
    .filter((part) => part !== '' && part !== '.')
    .join('/');
}

/** The environment named `name`, or undefined. */
export function findEnvironment(config: Config, name: string): EnvironmentConfig | undefined {
  return config.environments.find((env) => env.name === name);
}

/** Whether `branch` is one of `github.branches` (names or globs such as `release/*`). */
export function isBranchConfigured(config: Config, branch: string): boolean {
  return config.github.branches.some((pattern) => pattern === branch || globToRegExp(pattern).test(branch));
}

/** Whether the repository path is allowed by the environment's allowlist (all when none is set).
 * `**` matches any characters, `/` included, exactly as `*` in the IAM resource ARN the glob
 * becomes (repositoryResourcePattern); everything else is literal. */
export function isRepositoryAllowed(env: EnvironmentConfig, repository: string): boolean {
  if (env.repositories === undefined) return true;
  return env.repositories.some((glob) => repositoryGlobToRegExp(glob).test(repository));
}

/** An allowlist glob as the resource name in an IAM ARN: the same set of repositories. */
export function repositoryResourcePattern(glob: string): string {
  return glob.replace(/\*\*/g, '*');
}

function repositoryGlobToRegExp(glob: string): RegExp {
  const source = glob
    .split('**')
    .map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`);
}

/** Branch globs (`github.branches`): `*` within one path component, `**` across, `?` one character. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

function formatKeyPath(path: KeyPath): string {
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

function deepFreeze<T>(value: T): Deep<T> {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value as Deep<T>;
}
