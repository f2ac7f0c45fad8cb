// Webhook test fixtures: real push payloads from @octokit/webhooks-examples adapted to the test
// repository, signed over their raw bytes as GitHub does, wrapped in Lambda Function URL
// events (payload 2.0) exactly as AWS builds them. Every payload built here is checked against
// GitHub's webhook description (@octokit/openapi-webhooks): the examples predate some fields GitHub
// now always sends, and a fixture GitHub could not send would prove nothing.
import { createRequire } from 'node:module';
import { createHmac } from 'node:crypto';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { assertWebhookPayload } from '../support/github-contract';

const require = createRequire(import.meta.url);

interface ExampleGroup {
  readonly name: string;
  readonly examples: readonly Record<string, unknown>[];
}

const EXAMPLES = require('@octokit/webhooks-examples') as readonly ExampleGroup[];

/** A real GitHub example payload of `event` (the first one whose fields match `pick`). */
export function examplePayload(
  event: string,
  pick: (payload: Record<string, unknown>) => boolean = () => true,
): Record<string, unknown> {
  const group = EXAMPLES.find((g) => g.name === event);
  const found = group?.examples.find(pick);
  if (!found) throw new Error(`no @octokit/webhooks-examples payload for ${event}`);
  return structuredClone(found);
}

export interface PushFields {
  readonly repository: string;
  readonly ref?: string;
  readonly before: string;
  readonly after: string;
  readonly deleted?: boolean;
}

/** GitHub's example branch push, adapted to our repository and commits. */
export function pushPayload(fields: PushFields): Record<string, unknown> {
  const payload = examplePayload('push', (p) => String(p['ref']).startsWith('refs/heads/'));
  const [owner, name] = fields.repository.split('/') as [string, string];
  const repository = payload['repository'] as Record<string, unknown>;
  const created = fields.before === '0'.repeat(40);
  const deleted = fields.deleted ?? fields.after === '0'.repeat(40);
  const headCommit = payload['head_commit'] as Record<string, unknown>;
  return checkedPayload('push', {
    ...payload,
    ref: fields.ref ?? 'refs/heads/main',
    before: fields.before,
    after: fields.after,
    created,
    deleted,
    head_commit: deleted ? null : { ...headCommit, id: fields.after },
    repository: {
      ...repository,
      // Required by GitHub's description since 2022; the example is older.
      has_discussions: repository['has_discussions'] ?? false,
      name,
      full_name: fields.repository,
      owner: { ...(repository['owner'] as object), login: owner, name: owner },
    },
  });
}

/** `payload`, after checking it is one GitHub could send as `event` (throws when not). */
export function checkedPayload(event: string, payload: Record<string, unknown>): Record<string, unknown> {
  assertWebhookPayload(event, payload);
  return payload;
}

export interface PullRequestFields {
  readonly repository: string;
  readonly action: string;
  readonly number?: number;
  readonly baseRef?: string;
  readonly baseSha: string;
  readonly headRef?: string;
  readonly headSha: string;
  /** `owner/name` the head branch lives in (default: `repository`); null: a deleted fork. */
  readonly headRepository?: string | null;
  readonly merged?: boolean;
}

/** GitHub's example `pull_request` payload of `action` (falling back to `opened`), adapted to our
 * repository, branches and commits. */
export function pullRequestPayload(fields: PullRequestFields): Record<string, unknown> {
  let payload: Record<string, unknown>;
  try {
    payload = examplePayload('pull_request', (p) => p['action'] === fields.action);
  } catch {
    payload = { ...examplePayload('pull_request', (p) => p['action'] === 'opened'), action: fields.action };
  }
  const [owner, name] = fields.repository.split('/') as [string, string];
  const repository = payload['repository'] as Record<string, unknown>;
  const adaptedRepository = {
    ...repository,
    name,
    full_name: fields.repository,
    owner: { ...(repository['owner'] as object), login: owner },
  };
  const pr = payload['pull_request'] as Record<string, unknown>;
  const head = pr['head'] as Record<string, unknown>;
  const base = pr['base'] as Record<string, unknown>;
  const headRepository = fields.headRepository === undefined ? fields.repository : fields.headRepository;
  const number = fields.number ?? 1;
  return {
    ...payload,
    number,
    pull_request: {
      ...pr,
      number,
      state: fields.action === 'closed' ? 'closed' : 'open',
      merged: fields.merged ?? false,
      head: {
        ...head,
        ref: fields.headRef ?? 'promote/api-1.1',
        sha: fields.headSha,
        repo:
          headRepository === null
            ? null
            : { ...adaptedRepository, full_name: headRepository, name: headRepository.split('/')[1] },
      },
      base: { ...base, ref: fields.baseRef ?? 'main', sha: fields.baseSha, repo: adaptedRepository },
    },
    repository: adaptedRepository,
  };
}

export interface EventOptions {
  readonly event?: string;
  readonly deliveryId?: string;
  /** Secret to sign with; undefined: no signature header. */
  readonly secret?: string;
  /** Overrides the computed signature header. */
  readonly signature?: string;
  readonly base64?: boolean;
  readonly method?: string;
  readonly contentType?: string;
  readonly omitHeaders?: readonly string[];
}

let requestCounter = 0;

/** X-Hub-Signature-256 of the raw bytes, as GitHub computes it. */
export function signBytes(secret: string, bytes: Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(bytes).digest('hex')}`;
}

/** A Function URL event for a delivery whose body is `body` (text or bytes). */
export async function functionUrlEvent(
  body: string | Buffer,
  options: EventOptions = {},
): Promise<LambdaFunctionURLEvent> {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const signature =
    options.signature ?? (options.secret === undefined ? undefined : signBytes(options.secret, bytes));
  const headers: Record<string, string> = {
    'content-type': options.contentType ?? 'application/json',
    'user-agent': 'GitHub-Hookshot/abc123',
    'x-github-event': options.event ?? 'push',
    'x-github-delivery': options.deliveryId ?? `delivery-${++requestCounter}`,
    'x-github-hook-id': '123',
    'x-forwarded-proto': 'https',
    host: 'abc.lambda-url.us-east-1.on.aws',
    ...(signature === undefined ? {} : { 'x-hub-signature-256': signature }),
  };
  for (const name of options.omitHeaders ?? []) Reflect.deleteProperty(headers, name);
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: '/',
    rawQueryString: '',
    headers,
    requestContext: {
      accountId: 'anonymous',
      apiId: 'abc',
      domainName: 'abc.lambda-url.us-east-1.on.aws',
      domainPrefix: 'abc',
      http: {
        method: options.method ?? 'POST',
        path: '/',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'GitHub-Hookshot/abc123',
      },
      requestId: `req-${requestCounter}`,
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    body: options.base64 === true ? bytes.toString('base64') : bytes.toString('utf8'),
    isBase64Encoded: options.base64 === true,
  } as LambdaFunctionURLEvent;
}

/** A Pod whose one container runs `image`. */
export const podYaml = (name: string, image: string): string =>
  `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}}\nspec: {containers: [{name: c, image: ${image}}]}\n`;

/** Hostile overlays at overlays/prod (the planning-bounds and deadline tests): 46 levels of two
 * kustomizations, each listing both of the next level under its own name prefix (2^46 resources at
 * the top if nothing stopped it). */
export function doublingDag(image: string): Record<string, string> {
  const files: Record<string, string> = {
    'overlays/prod/kustomization.yaml': 'resources: [../../dag/a0, ../../dag/b0]\n',
    'dag/base/kustomization.yaml': 'resources: [pod.yaml]\n',
    'dag/base/pod.yaml': podYaml('p', image),
  };
  for (let level = 0; level < 46; level++) {
    for (const side of ['a', 'b']) {
      const below = level < 45 ? `[../a${level + 1}, ../b${level + 1}]` : '[../base]';
      files[`dag/${side}${level}/kustomization.yaml`] = `resources: ${below}\nnamePrefix: ${side}-\n`;
    }
  }
  return files;
}

/** An overlay at overlays/prod listing 4,000 small files. */
export function fileFlood(image: string): Record<string, string> {
  const names = Array.from({ length: 4000 }, (_, i) => `f${i}.yaml`);
  return {
    'overlays/prod/kustomization.yaml': `resources:\n${names.map((n) => `  - ${n}\n`).join('')}`,
    ...Object.fromEntries(names.map((n, i) => [`overlays/prod/${n}`, podYaml(`p${i}`, image)])),
  };
}
