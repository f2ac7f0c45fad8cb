// GitHub's published contract, checked: every exchange with the GitHub test server (the request our
// adapter sent, the answer the server gave) and every webhook payload our fixtures build is validated
// against GitHub's own OpenAPI descriptions (@octokit/openapi for REST, @octokit/openapi-webhooks for
// webhooks). The test server is the one fake we allow; this keeps it, and our client, honest.
// Never used by product code: it reads devDependencies and caches under node_modules/.cache.
//
// Speed: the REST description is 13 MB of JSON (about 1 s to parse here). Each operation or webhook
// this check meets is cut out once, with only the components it references, into a small cache file
// keyed by the package version; later test processes read a few KB instead.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

const require = createRequire(import.meta.url);

type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };
type JsonObject = { readonly [key: string]: Json };

/** One HTTP exchange as the test server saw it. */
export interface GitHubExchange {
  readonly method: string;
  /** Path and query, e.g. `/repos/o/r/git/trees/<sha>?recursive=1`. */
  readonly path: string;
  /** The request body as text ('' when none). */
  readonly requestBody: string;
  readonly status: number;
  /** The response body as parsed JSON (undefined when empty). */
  readonly responseBody: unknown;
}

interface OperationContract {
  readonly operationId: string;
  readonly parameters: readonly {
    readonly name: string;
    readonly in: string;
    readonly required?: boolean;
    readonly schema?: Json;
  }[];
  readonly requestBody?: { readonly required: boolean; readonly schema: Json | null };
  /** Status (or `2XX`, `default`) to the JSON schema of its body; null: no JSON body. */
  readonly responses: Readonly<Record<string, Json | null>>;
  readonly components: JsonObject;
}

interface Description {
  readonly packageName: string;
  readonly file: string;
}

const REST: Description = { packageName: '@octokit/openapi', file: 'generated/api.github.com.json' };
const WEBHOOKS: Description = {
  packageName: '@octokit/openapi-webhooks',
  file: 'generated/api.github.com.json',
};

/** Answers GitHub gives on any operation whether its description lists them or not: bad credentials,
 * rate limits, outages, and the client errors of GitHub's REST docs ("Troubleshooting the REST API":
 * 400 "Problems parsing JSON", 422 "Validation Failed" with an `errors` list). Their bodies are
 * GitHub's `basic-error` or `validation-error`. */
const ANY_OPERATION_STATUSES: ReadonlySet<number> = new Set([400, 401, 403, 422, 429, 500, 502, 503, 504]);
const ANY_OPERATION_ERROR: Json = {
  anyOf: [{ $ref: '#/components/schemas/validation-error' }, { $ref: '#/components/schemas/basic-error' }],
};

// ---------------------------------------------------------------------------------------------
// Loading and caching the descriptions

/** Bumped whenever what is cut out of a description changes shape. */
const CACHE_FORMAT = 2;

const fullDescriptions = new Map<Description, JsonObject>();

function packageDirectory(description: Description): string {
  return dirname(require.resolve(`${description.packageName}/package.json`));
}

function packageVersion(description: Description): string {
  const manifest = JSON.parse(readFileSync(join(packageDirectory(description), 'package.json'), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

function full(description: Description): JsonObject {
  let spec = fullDescriptions.get(description);
  if (!spec) {
    spec = JSON.parse(
      readFileSync(join(packageDirectory(description), description.file), 'utf8'),
    ) as JsonObject;
    fullDescriptions.set(description, spec);
  }
  return spec;
}

function cacheDirectory(description: Description): string {
  // <root>/node_modules/@octokit/openapi -> <root>/node_modules/.cache/github-contract/...
  const nodeModules = join(packageDirectory(description), '..', '..');
  const name = description.packageName.replace(/[@/]/g, '_');
  return join(
    nodeModules,
    '.cache',
    'github-contract',
    `${name}-${packageVersion(description)}-format${CACHE_FORMAT}`,
  );
}

/** `compute()` once per package version, kept as a small JSON file (written atomically: several
 * test processes may race for it). */
const inMemory = new Map<string, unknown>();

function cached<T>(description: Description, key: string, compute: () => T): T {
  const memoryKey = `${description.packageName} ${key}`;
  if (inMemory.has(memoryKey)) return inMemory.get(memoryKey) as T;
  const value = cachedOnDisk(description, key, compute);
  inMemory.set(memoryKey, value);
  return value;
}

function cachedOnDisk<T>(description: Description, key: string, compute: () => T): T {
  const dir = cacheDirectory(description);
  const file = join(dir, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`);
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { value: T }).value;
  } catch {
    const value = compute();
    mkdirSync(dir, { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify({ key, value }));
    renameSync(temporary, file);
    return value;
  }
}

/** `#/a/b~1c` inside `root`. */
function pointer(root: Json, ref: string): Json {
  if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`);
  let at: Json = root;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (typeof at !== 'object' || at === null || Array.isArray(at)) throw new Error(`bad $ref ${ref}`);
    const next: Json | undefined = (at as JsonObject)[key];
    if (next === undefined) throw new Error(`dangling $ref ${ref}`);
    at = next;
  }
  return at;
}

/** An OpenAPI object that may itself be a `$ref` (parameters, responses, request bodies). */
function deref(root: Json, value: Json | undefined): Json | undefined {
  let at = value;
  for (;;) {
    if (typeof at !== 'object' || at === null || Array.isArray(at)) return at;
    const ref = (at as JsonObject)['$ref'];
    if (typeof ref !== 'string') return at;
    at = pointer(root, ref);
  }
}

/** The components `values` reference, transitively, as a `{ schemas: {...} }` tree. */
function componentClosure(root: JsonObject, values: readonly Json[]): JsonObject {
  const picked = new Map<string, Json>();
  const walk = (value: Json): void => {
    if (Array.isArray(value)) {
      for (const item of value as readonly Json[]) walk(item);
    } else if (typeof value === 'object' && value !== null) {
      const ref = (value as JsonObject)['$ref'];
      if (typeof ref === 'string' && !picked.has(ref)) {
        const target = pointer(root, ref);
        picked.set(ref, target);
        walk(target);
      }
      for (const [key, child] of Object.entries(value as JsonObject)) if (key !== '$ref') walk(child);
    }
  };
  for (const value of values) walk(value);
  const components: Record<string, Record<string, Json>> = {};
  for (const [ref, target] of picked) {
    const [, , kind, name] = ref.split('/') as [string, string, string, string];
    (components[kind] ??= {})[name.replace(/~1/g, '/').replace(/~0/g, '~')] = target;
  }
  return components;
}

function jsonSchemaOf(root: JsonObject, body: Json | undefined): Json | null {
  const content = (deref(root, body) as JsonObject | undefined)?.['content'] as JsonObject | undefined;
  const json = content?.['application/json'] as JsonObject | undefined;
  return json?.['schema'] ?? null;
}

interface IndexEntry {
  readonly methods: readonly string[];
  /** Path parameters GitHub marks `x-multi-segment` (a ref or SHA that may hold slashes). */
  readonly multiSegment: readonly string[];
}

/** Path templates of the REST description with their methods (cached). */
function restIndex(): Readonly<Record<string, IndexEntry>> {
  return cached(REST, 'index', () => {
    const root = full(REST);
    const paths = root['paths'] as JsonObject;
    return Object.fromEntries(
      Object.entries(paths).map(([template, item]) => {
        const methods = Object.keys(item as JsonObject).filter((k) =>
          ['get', 'put', 'post', 'patch', 'delete', 'head'].includes(k),
        );
        const multiSegment = new Set<string>();
        for (const method of methods) {
          const operation = (item as JsonObject)[method] as JsonObject;
          for (const p of (operation['parameters'] as readonly Json[] | undefined) ?? []) {
            const parameter = deref(root, p) as JsonObject;
            if (parameter['in'] === 'path' && parameter['x-multi-segment'] === true) {
              multiSegment.add(String(parameter['name']));
            }
          }
        }
        return [template, { methods, multiSegment: [...multiSegment] }];
      }),
    );
  });
}

function restOperation(method: string, template: string): OperationContract {
  return cached(REST, `${method} ${template}`, () => {
    const root = full(REST);
    const item = (root['paths'] as JsonObject)[template] as JsonObject;
    const operation = item[method] as JsonObject;
    const parameters = [
      ...((item['parameters'] as readonly Json[] | undefined) ?? []),
      ...((operation['parameters'] as readonly Json[] | undefined) ?? []),
    ].map((p) => deref(root, p) as OperationContract['parameters'][number] & JsonObject);
    const requestBody = deref(root, operation['requestBody']) as JsonObject | undefined;
    const responses: Record<string, Json | null> = {};
    for (const [status, response] of Object.entries(operation['responses'] as JsonObject)) {
      responses[status] = jsonSchemaOf(root, response);
    }
    responses['any-operation-error'] = ANY_OPERATION_ERROR;
    const requestSchema = requestBody ? jsonSchemaOf(root, requestBody) : null;
    const contract: OperationContract = {
      operationId: String(operation['operationId']),
      parameters,
      ...(requestBody
        ? { requestBody: { required: requestBody['required'] === true, schema: requestSchema } }
        : {}),
      responses,
      components: componentClosure(root, [
        ...parameters.map((p) => p.schema ?? null),
        requestSchema,
        ...Object.values(responses),
      ]),
    };
    return contract;
  });
}

// ---------------------------------------------------------------------------------------------
// Validation

const ajv = new Ajv({ strict: false, allErrors: true, logger: false, discriminator: false });
(addFormatsModule as unknown as (instance: Ajv) => void)(ajv);
const validators = new Map<string, ValidateFunction>();

/** OpenAPI 3.0's `nullable: true` in JSON Schema terms (ajv takes `nullable` only beside a `type`). */
function nullableToJsonSchema(value: Json): Json {
  if (Array.isArray(value)) return (value as readonly Json[]).map(nullableToJsonSchema);
  if (typeof value !== 'object' || value === null) return value;
  const converted: Record<string, Json> = {};
  for (const [key, child] of Object.entries(value as JsonObject)) {
    converted[key] = key === 'example' || key === 'examples' ? child : nullableToJsonSchema(child);
  }
  if (converted['nullable'] !== true) return converted;
  delete converted['nullable'];
  const { enum: allowed, ...rest } = converted;
  const nonNull: Json = Array.isArray(allowed) ? { ...rest, enum: allowed } : rest;
  return { anyOf: [nonNull, { type: 'null' }] };
}

function validatorFor(key: string, schema: Json, components: JsonObject): ValidateFunction {
  let validate = validators.get(key);
  if (!validate) {
    // `components` at the root so the description's `#/components/schemas/...` refs resolve.
    validate = ajv.compile(
      nullableToJsonSchema({ allOf: [schema], components } as unknown as Json) as object,
    );
    validators.set(key, validate);
  }
  return validate;
}

function describeErrors(validate: ValidateFunction): string {
  return (validate.errors ?? [])
    .slice(0, 5)
    .map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}${paramsText(e.params)}`)
    .join('; ');
}

function paramsText(params: Readonly<Record<string, unknown>>): string {
  const extra = params['additionalProperty'] ?? params['missingProperty'] ?? params['allowedValues'];
  return extra === undefined ? '' : ` (${JSON.stringify(extra)})`;
}

interface CompiledTemplate {
  readonly template: string;
  readonly methods: readonly string[];
  readonly regex: RegExp;
  readonly names: readonly string[];
  /** Characters outside parameters: the more, the more specific. */
  readonly literal: number;
}

let compiledTemplates: readonly CompiledTemplate[] | undefined;

function templates(): readonly CompiledTemplate[] {
  compiledTemplates ??= Object.entries(restIndex()).map(([template, { methods, multiSegment }]) => {
    const names: string[] = [];
    const pattern = template.replace(/[.*+?^$()|[\]\\]/g, (c) => `\\${c}`);
    const regex = new RegExp(
      `^${pattern.replace(/\{([^}]+)\}/g, (_, name: string) => {
        names.push(name);
        return multiSegment.includes(name) ? '(.+?)' : '([^/]+)';
      })}$`,
    );
    return { template, methods, regex, names, literal: template.replace(/\{[^}]+\}/g, '').length };
  });
  return compiledTemplates;
}

/** The path template matching `pathname`, the one with the most literal text when several do. */
function matchTemplate(
  method: string,
  pathname: string,
): { readonly template: string; readonly params: Readonly<Record<string, string>> } | undefined {
  let best: { template: string; params: Record<string, string>; literal: number } | undefined;
  for (const { template, methods, regex, names, literal } of templates()) {
    if (!methods.includes(method) || (best && best.literal >= literal)) continue;
    const m = pathname.match(regex);
    if (!m) continue;
    best = {
      template,
      literal,
      params: Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)])),
    };
  }
  return best;
}

/** Every way `exchange` departs from GitHub's REST description; empty when it keeps to it. */
export function checkGitHubExchange(exchange: GitHubExchange): readonly string[] {
  const method = exchange.method.toLowerCase();
  const url = new URL(exchange.path, 'http://github.invalid');
  const where = `${exchange.method} ${url.pathname}`;
  const match = matchTemplate(method, url.pathname);
  if (!match) return [`${where}: GitHub's REST API has no such operation`];
  const operation = restOperation(method, match.template);
  const problems: string[] = [];
  const name = `${where} (${operation.operationId})`;

  // Request: path parameters the operation declares (only a multi-segment one may hold slashes: see
  // matchTemplate), known query parameters only, and a body of the documented shape.
  for (const param of Object.keys(match.params)) {
    if (!operation.parameters.some((p) => p.in === 'path' && p.name === param)) {
      problems.push(`${name}: path parameter ${param} is not declared`);
    }
  }
  for (const [param, value] of url.searchParams) {
    const declared = operation.parameters.find((p) => p.in === 'query' && p.name === param);
    if (!declared) {
      problems.push(`${name}: query parameter ${param} is not one GitHub documents`);
      continue;
    }
    const type = (declared.schema as JsonObject | undefined)?.['type'];
    if (type === 'integer' && !/^-?\d+$/.test(value)) {
      problems.push(`${name}: query parameter ${param}=${value} is not an integer`);
    }
  }
  if (operation.requestBody) {
    if (exchange.requestBody === '') {
      if (operation.requestBody.required) problems.push(`${name}: request body is required`);
    } else if (operation.requestBody.schema !== null) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(exchange.requestBody);
      } catch {
        problems.push(`${name}: request body is not JSON`);
      }
      if (parsed !== undefined) {
        const validate = validatorFor(
          `request ${method} ${match.template}`,
          operation.requestBody.schema,
          operation.components,
        );
        if (!validate(parsed)) problems.push(`${name}: request body: ${describeErrors(validate)}`);
      }
    }
  } else if (exchange.requestBody !== '') {
    problems.push(`${name}: sends a body; the operation takes none`);
  }

  // Response: a documented status (or one GitHub gives anywhere) with a body of its schema.
  const status = String(exchange.status);
  const key =
    status in operation.responses
      ? status
      : `${status[0]}XX` in operation.responses
        ? `${status[0]}XX`
        : ANY_OPERATION_STATUSES.has(exchange.status)
          ? 'any-operation-error'
          : 'default' in operation.responses
            ? 'default'
            : undefined;
  if (key === undefined) {
    problems.push(
      `${name}: answered ${status}, which GitHub does not document (${Object.keys(operation.responses)
        .filter((k) => k !== 'any-operation-error')
        .join(', ')})`,
    );
  } else {
    const schema = operation.responses[key] ?? null;
    if (schema !== null && exchange.responseBody !== undefined) {
      const validate = validatorFor(
        `response ${method} ${match.template} ${key}`,
        schema,
        operation.components,
      );
      if (!validate(exchange.responseBody)) {
        problems.push(`${name}: ${status} response body: ${describeErrors(validate)}`);
      }
    } else if (schema !== null && exchange.status !== 204) {
      problems.push(`${name}: ${status} response has no body; GitHub sends one`);
    }
  }
  return problems;
}

/** GitHub's operationId for `METHOD /path/{template}` (as @octokit/rest's table spells routes), or
 * undefined when GitHub's REST description has no such operation. */
export function restOperationId(route: string): string | undefined {
  const [method = '', template = ''] = route.split(' ');
  const lower = method.toLowerCase();
  if (!(restIndex()[template]?.methods ?? []).includes(lower)) return undefined;
  return restOperation(lower, template).operationId;
}

/**
 * Reads (and on a cold cache cuts out) the contracts of `operations` (`GET /repos/{owner}/{repo}/...`,
 * templates as GitHub's description spells them) and compiles their validators now, so the first
 * request of a test does not pay for it: a cold cache costs ~1-2 s of synchronous parsing, which a
 * webhook's planning deadline would notice. Operations not listed are still checked, lazily.
 */
export function warmGitHubContract(operations: readonly string[]): void {
  templates();
  for (const operation of operations) {
    const [method, template] = operation.split(' ') as [string, string];
    const lower = method.toLowerCase();
    const contract = restOperation(lower, template);
    if (contract.requestBody?.schema) {
      validatorFor(`request ${lower} ${template}`, contract.requestBody.schema, contract.components);
    }
    for (const [status, schema] of Object.entries(contract.responses)) {
      if (schema !== null && status.startsWith('2')) {
        validatorFor(`response ${lower} ${template} ${status}`, schema, contract.components);
      }
    }
  }
}

/** Webhook payload contracts: `webhooks[event].post.requestBody` of @octokit/openapi-webhooks, one
 * per event and action (GitHub names them `push`, `pull-request-opened`, ...). */
function webhookContract(name: string): { readonly schema: Json; readonly components: JsonObject } {
  return cached(WEBHOOKS, `webhook ${name}`, () => {
    const root = full(WEBHOOKS);
    const webhook = (root['webhooks'] as JsonObject)[name] as JsonObject | undefined;
    if (!webhook) throw new Error(`@octokit/openapi-webhooks describes no webhook "${name}"`);
    const schema = jsonSchemaOf(root, (webhook['post'] as JsonObject)['requestBody']);
    if (schema === null) throw new Error(`webhook "${name}" has no JSON body schema`);
    return { schema, components: componentClosure(root, [schema]) };
  });
}

/** Every way `payload` of `event` departs from GitHub's webhook description; empty when it keeps to
 * it. Events with actions are looked up as `<event>-<action>` (`pull_request` + `opened`). */
export function checkWebhookPayload(event: string, payload: unknown): readonly string[] {
  const action =
    typeof payload === 'object' && payload !== null && typeof (payload as JsonObject)['action'] === 'string'
      ? String((payload as JsonObject)['action'])
      : undefined;
  const base = event.replace(/_/g, '-');
  const name = action === undefined ? base : `${base}-${action.replace(/_/g, '-')}`;
  const { schema, components } = webhookContract(name);
  const validate = validatorFor(`webhook ${name}`, schema, components);
  return validate(payload) ? [] : [`webhook ${name} payload: ${describeErrors(validate)}`];
}

/** Throws when `payload` does not keep to GitHub's webhook description of `event`. */
export function assertWebhookPayload(event: string, payload: unknown): void {
  const problems = checkWebhookPayload(event, payload);
  if (problems.length > 0) throw new Error(`GitHub webhook contract: ${problems.join('; ')}`);
}
