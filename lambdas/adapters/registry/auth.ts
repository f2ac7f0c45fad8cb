// The auth layer of the registry client (go-containerregistry's ping.go + bearer.go), a wrapper
// around the exchange: asks the registry's /v2/ once which scheme it wants (ping), turns the
// credentials into a Basic header or a Bearer token per scope set (cached), and on a 401 learns
// again and tries once more with a fresh token (the one 401 path).
// Credentials belong to the registry's origin: a request to any other origin — a redirect target,
// a `Link: rel=next`, an upload `Location` — goes out without them, and its 401 is that origin's
// answer, never a reason to authenticate. Token requests go only to the realm the registry's own
// /v2/ challenge named.
import { RegistryUnavailableError, UnauthorizedError } from '../../core/errors';
import { exchangeSmall, type HttpAnswer, type HttpMessage } from '../http-exchange';
import {
  SMALL_ANSWER_BYTES,
  discardBody,
  networkReason,
  registryDetails,
  toError,
  type RegistryContext,
  type RegistryRequest,
} from './exchange';

export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

/** Credentials for a registry host, asked for once per client (ECR tokens, `user:pass`...). */
export type CredentialProvider = (registry: string) => Promise<RegistryCredentials | undefined>;

export type Challenge =
  | { readonly scheme: 'none' }
  | { readonly scheme: 'basic' }
  | { readonly scheme: 'bearer'; readonly realm: string; readonly service: string | undefined };

/** One request over the layer below: sends exactly `headers` to `url`. */
export type RoundTrip = (
  request: RegistryRequest,
  url: URL,
  headers: Readonly<Record<string, string>>,
) => Promise<HttpMessage>;

/** What one client learns about its registry, shared with every view made by withSignal(). */
export class AuthState {
  credentials: Promise<RegistryCredentials | undefined> | undefined;
  challenge: Promise<Challenge> | undefined;
  /** Bearer tokens by their sorted scope set. */
  readonly tokens = new Map<string, Promise<string>>();

  constructor(readonly credentialSource: CredentialProvider) {}
}

/** Runs an operation with the client's retry policy and signal (retry.ts). */
export type Retrying = <T>(operation: () => Promise<T>) => Promise<T>;

export class Authenticator {
  constructor(
    private readonly state: AuthState,
    private readonly context: RegistryContext,
    private readonly retrying: Retrying,
    private readonly inner: RoundTrip,
  ) {}

  /**
   * Sends `request` to `url`; with the registry's credentials only when `url` is on the registry's
   * own origin. A 401 from there (token expired, or another scheme wanted) is answered once: the
   * challenge is learnt again and the request sent with fresh authorization. Streamed bodies
   * (replayable false) cannot be sent twice: their 401 is returned.
   */
  roundTrip: RoundTrip = async (request, url, headers) => {
    // Another origin (a redirect target, a Link, a Location): no credentials, and its 401 is its
    // own answer — following it with a token request would hand ours to whoever it names.
    if (url.origin !== this.context.origin) return this.inner(request, url, headers);
    const first = await this.authorize(request, headers, false);
    const learnt = this.state.challenge;
    const message = await this.inner(request, url, first);
    if (message.statusCode !== 401 || request.replayable === false) return message;
    discardBody(message);
    // Token expired, or the registry wants another scheme than its ping said: ask its /v2/ again
    // (once for all requests that met the same 401). The 401's own WWW-Authenticate is not taken:
    // only the /v2/ challenge names where our credentials go (as go-containerregistry's bearer.go
    // keeps the realm it pinged).
    if (this.state.challenge === learnt) {
      this.state.challenge = undefined;
      this.state.tokens.clear();
    }
    return this.inner(request, url, await this.authorize(request, headers, true));
  };

  /** `headers` plus the Authorization header for the request's scopes, when there is one. */
  private async authorize(
    request: RegistryRequest,
    headers: Readonly<Record<string, string>>,
    fresh: boolean,
  ): Promise<Readonly<Record<string, string>>> {
    const authorization = await this.authorization(request.scopes, request.repository, fresh);
    return authorization === undefined ? headers : { ...headers, authorization };
  }

  private async authorization(
    scopes: readonly string[],
    repository: string,
    fresh: boolean,
  ): Promise<string | undefined> {
    if (this.state.challenge === undefined) {
      const pinged = this.ping();
      this.state.challenge = pinged;
      // A ping that failed (after its retries) is asked again by the next request, not cached.
      pinged.catch(() => {
        if (this.state.challenge === pinged) this.state.challenge = undefined;
      });
    }
    const challenge = await this.state.challenge;
    if (challenge.scheme === 'none') return undefined;
    const credentials = await this.loadCredentials();
    if (challenge.scheme === 'basic') {
      if (credentials === undefined) return undefined;
      return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    }
    const key = [...scopes].sort().join(' ');
    const tokens = this.state.tokens;
    let token = fresh ? undefined : tokens.get(key);
    if (token === undefined) {
      token = this.fetchToken(challenge, scopes, credentials, repository);
      tokens.set(key, token);
      token.catch(() => tokens.delete(key));
    }
    return `Bearer ${await token}`;
  }

  private loadCredentials(): Promise<RegistryCredentials | undefined> {
    this.state.credentials ??= this.state.credentialSource(this.context.registry);
    return this.state.credentials;
  }

  /** GET /v2/: which auth scheme the registry wants (what crane's transport does first). */
  private async ping(): Promise<Challenge> {
    const { endpoint, registry } = this.context;
    const url = `${endpoint}/v2/`;
    const response = await this.retrying(async () => {
      let answer: HttpAnswer;
      try {
        answer = await exchangeSmall(
          new URL(url),
          this.smallGet({ 'user-agent': this.context.userAgent }),
          SMALL_ANSWER_BYTES,
        );
      } catch (e: unknown) {
        this.context.signal?.throwIfAborted();
        throw new RegistryUnavailableError(
          `cannot reach ${registry} at ${url} (${networkReason(e)}); check the endpoint or retry later`,
          { registry },
          { cause: e },
        );
      }
      if (answer.status >= 500 || answer.status === 429) {
        throw toError(registry, { what: `ping ${url}`, repository: '' }, answer);
      }
      return answer;
    });
    if (response.status !== 401) return { scheme: 'none' };
    const challenge = parseChallenge(response.header('www-authenticate'));
    if (challenge.scheme === 'bearer') validateRealm(challenge.realm, this.context);
    return challenge;
  }

  private async fetchToken(
    challenge: Extract<Challenge, { scheme: 'bearer' }>,
    scopes: readonly string[],
    credentials: RegistryCredentials | undefined,
    repository: string,
  ): Promise<string> {
    const { registry } = this.context;
    const url = new URL(challenge.realm);
    if (challenge.service !== undefined) url.searchParams.set('service', challenge.service);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    const headers: Record<string, string> = { 'user-agent': this.context.userAgent };
    if (credentials !== undefined) {
      headers['authorization'] =
        `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    }
    const response = await this.retrying(async () => {
      let answer: HttpAnswer;
      try {
        answer = await exchangeSmall(url, this.smallGet(headers), SMALL_ANSWER_BYTES);
      } catch (e: unknown) {
        this.context.signal?.throwIfAborted();
        throw new RegistryUnavailableError(
          `cannot reach the token service of ${registry} (${networkReason(e)}); retry later`,
          registryDetails(registry, repository),
          { cause: e },
        );
      }
      if (!answer.ok) {
        throw toError(registry, { what: `token for ${scopes.join(' ')}`, repository }, answer);
      }
      return answer;
    });
    const token = parseToken(response.text());
    if (typeof token !== 'string' || token === '') {
      throw new UnauthorizedError(
        `the token service of ${registry} answered without a token; check the credentials`,
        registryDetails(registry, repository, response.status),
      );
    }
    return token;
  }

  /** A plain GET outside the wrapped exchange: the ping and the token service. */
  private smallGet(headers: Readonly<Record<string, string>>): {
    readonly method: 'GET';
    readonly headers: Readonly<Record<string, string>>;
    readonly idleTimeoutMs: number;
    readonly signal?: AbortSignal;
  } {
    const signal = this.context.signal;
    return {
      method: 'GET',
      headers,
      idleTimeoutMs: this.context.requestTimeoutMs,
      ...(signal === undefined ? {} : { signal }),
    };
  }
}

/**
 * Refuses a token realm our credentials must not go to: one that is not a URL, or not https (http
 * only for a registry reached over http: the realm gets the credentials in clear otherwise). Like
 * go-containerregistry's validateRealmURL, without its domain rule: here the realm is trusted only
 * as the registry's own /v2/ named it, never as another answer does.
 */
export function validateRealm(realm: string, context: Pick<RegistryContext, 'registry' | 'endpoint'>): void {
  let url: URL | undefined;
  try {
    url = new URL(realm);
  } catch {
    url = undefined;
  }
  const allowed = context.endpoint.startsWith('http:') ? ['https:', 'http:'] : ['https:'];
  if (url === undefined || !allowed.includes(url.protocol)) {
    throw new UnauthorizedError(
      `${context.registry} names the token service ${JSON.stringify(realm)}, which its credentials are not ` +
        `sent to (${allowed.join(' or ')} only); check the registry's auth configuration`,
      { registry: context.registry },
    );
  }
}

export function parseChallenge(header: string | null): Challenge {
  if (header === null) return { scheme: 'none' };
  const space = header.indexOf(' ');
  const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
  const params = new Map<string, string>();
  for (const match of header.slice(space + 1).matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) {
    params.set(match[1]!.toLowerCase(), match[2]!);
  }
  if (scheme === 'bearer' && params.has('realm')) {
    return { scheme: 'bearer', realm: params.get('realm')!, service: params.get('service') };
  }
  return { scheme: scheme === 'basic' ? 'basic' : 'none' };
}

/** The token of a token service's JSON answer (`token`, or OAuth2's `access_token`). */
function parseToken(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { token?: unknown; access_token?: unknown };
    const token = typeof body.token === 'string' ? body.token : body.access_token;
    return typeof token === 'string' ? token : undefined;
  } catch {
    return undefined;
  }
}
