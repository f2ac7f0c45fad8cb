// The one typed configuration (`image-promoter.yaml`), shared by the CLI, both Lambdas and the CDK
// app. Parsing is pure: callers read the file; this module turns text into a validated, readonly
// Config or a ConfigError naming the key path and the reason.
import { parseDocument } from 'yaml';
import * as z from 'zod';
import { ConfigError } from './errors';
import { parseEcrRegistry } from './image-ref';

const REGISTRY_HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

const registryHost = z
  .string()
  .regex(REGISTRY_HOST, 'must be a registry host name such as 111111111111.dkr.ecr.us-east-1.amazonaws.com');

const environmentSchema = z
  .object({
    name: z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9-]{0,31}$/,
        'must be 1-32 lowercase letters, digits or dashes, starting with a letter or digit',
      ),
    overlay: z
      .string()
      .min(1)
      .refine(
        (p) => !p.startsWith('/') && !p.split('/').includes('..'),
        'must be a path inside the repository',
      ),
    source: z
      .object({
        registry: registryHost,
        roleArn: z
          .string()
          .regex(ROLE_ARN, 'must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)')
          .optional(),
        externalId: z.string().min(2).max(1224).optional(),
      })
      .strict(),
    destination: z
      .object({
        registry: registryHost,
        createRepositories: z.boolean().default(false),
      })
      .strict(),
    repositories: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict();

const configSchema = z
  .object({
    github: z
      .object({
        repository: z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'must be owner/name'),
        branches: z.array(z.string().min(1)).min(1).default(['main']),
        apiUrl: z.url().optional(),
      })
      .strict(),
    environments: z.array(environmentSchema).min(1),
    registryEndpoints: z.record(z.string(), z.url()).default({}),
    copy: z
      .object({
        blobJobs: z.number().int().min(1).max(64).default(8),
        imageJobs: z.number().int().min(1).max(32).default(4),
        referrers: z.boolean().default(true),
        overwrite: z.boolean().default(false),
      })
      .strict()
      .default({ blobJobs: 8, imageJobs: 4, referrers: true, overwrite: false }),
    worker: z
      .object({
        maxReceiveCount: z.number().int().min(1).max(1000).default(5),
        dashboardUrl: z.url().optional(),
      })
      .strict()
      .default({ maxReceiveCount: 5 }),
  })
  .strict();

type Deep<T> = T extends readonly (infer U)[]
  ? readonly Deep<U>[]
  : T extends object
    ? { readonly [K in keyof T]: Deep<T[K]> }
    : T;

export type Config = Deep<z.output<typeof configSchema>>;
export type EnvironmentConfig = Config['environments'][number];

export const DEFAULT_EXTERNAL_ID = 'image-promoter';

/** Parses and validates YAML (or JSON) text. `file` only names the source in errors. */
export function parseConfig(text: string, file = 'image-promoter.yaml'): Config {
  const document = parseDocument(text, { prettyErrors: false });
  const yamlError = document.errors[0];
  if (yamlError) {
    const line = yamlError.linePos?.[0]?.line;
    throw new ConfigError(
      '',
      `malformed YAML${line === undefined ? '' : ` at line ${line}`}: ${yamlError.message.split('\n')[0]}`,
      file,
    );
  }
  return validateConfig(document.toJS() as unknown, file);
}

/** Validates an already-parsed value (e.g. from CDK context). */
export function validateConfig(value: unknown, file = 'config'): Config {
  const result = configSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(formatKeyPath(issue.path), issue.message, file);
  }
  const config = result.data;
  const names = new Set<string>();
  config.environments.forEach((env, i) => {
    if (names.has(env.name))
      throw new ConfigError(`environments[${i}].name`, `duplicate environment "${env.name}"`, file);
    names.add(env.name);
    if (env.source.registry === env.destination.registry) {
      throw new ConfigError(
        `environments[${i}].destination.registry`,
        'must differ from source.registry',
        file,
      );
    }
    const account = parseEcrRegistry(env.source.registry)?.accountId;
    const roleAccount = env.source.roleArn?.split(':')[4];
    if (account !== undefined && roleAccount !== undefined && roleAccount !== account) {
      throw new ConfigError(
        `environments[${i}].source.roleArn`,
        `role is in account ${roleAccount} but the source registry is in account ${account}`,
        file,
      );
    }
  });
  return deepFreeze(config);
}

/** The environment named `name`, or undefined. */
export function findEnvironment(config: Config, name: string): EnvironmentConfig | undefined {
  return config.environments.find((env) => env.name === name);
}

/** Whether the repository path is allowed by the environment's allowlist (all when none is set).
 * Globs: `*` matches within one path component, `**` across components. */
export function isRepositoryAllowed(env: EnvironmentConfig, repository: string): boolean {
  if (env.repositories === undefined) return true;
  return env.repositories.some((glob) => globToRegExp(glob).test(repository));
}

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

function formatKeyPath(path: readonly PropertyKey[]): string {
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
