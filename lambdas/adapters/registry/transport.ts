// The registry client's layers composed (go-containerregistry's transport.NewWithContext): the
// exchange (exchange.ts) under the 429 pause, wrapped by auth (auth.ts), redirects followed above
// auth — so every hop is authorized for its own origin, never the registry's credentials for
// another — and the whole retried (retry.ts). manifests.ts, blobs.ts, referrers.ts and uploads.ts
// speak to a registry only through send() and openStream().
import { AnswerTooLargeError, readAnswer, type HttpAnswer, type HttpMessage } from '../http-exchange';
import { RegistryRequestError, type RegistryErrorDetails } from '../../core/errors';
import type { AuthState } from './auth';
import { Authenticator } from './auth';
import {
  SMALL_ANSWER_BYTES,
  discardBody,
  exchange,
  registryDetails,
  toError,
  unreachable,
  type RegistryContext,
  type RegistryRequest,
} from './exchange';
import { retry, type RetryPolicy } from './retry';
import type { Throttle } from './throttle';

/** What every view of one client shares: what it learnt about the registry. */
export interface TransportState {
  readonly auth: AuthState;
  readonly throttle: Throttle;
  /** Set once the registry refused one way of uploading: every later blob goes up the other way. */
  uploadMethod: 'PUT' | 'PATCH' | undefined;
}

const MAX_REDIRECTS = 5;

/** One view of a registry: the shared state, this view's abort signal. */
export class RegistryTransport {
  private readonly authenticator: Authenticator;

  constructor(
    readonly context: RegistryContext,
    readonly state: TransportState,
    private readonly policy: RetryPolicy,
  ) {
    const throttle = state.throttle;
    this.authenticator = new Authenticator(
      state.auth,
      context,
      (operation) => this.retry(operation),
      async (request, url, headers) => {
        // Another origin (a presigned storage URL) is not the registry's to ration.
        if (url.origin !== context.origin) {
          await throttle.wait(context.signal);
          return exchange(context, request, url, headers);
        }
        const ticket = await throttle.turn(request.api ?? 'other', context.signal);
        const message = await exchange(context, request, url, headers);
        throttle.settle(ticket, message.statusCode, message.headers['retry-after'] !== undefined);
        return message;
      },
    );
  }

  get registry(): string {
    return this.context.registry;
  }

  /** Runs `operation` again while it fails with a retryable error (retry.ts). */
  retry<T>(operation: (attempt: number) => Promise<T>): Promise<T> {
    return retry(this.policy, this.state.throttle, this.context.signal, operation);
  }

  /** One request, authenticated, retried when it may be, its answer read whole (at most
   * `answerLimit` bytes: AnswerTooLargeError), failures mapped to RegistryError. */
  send(request: RegistryRequest): Promise<HttpAnswer> {
    if (request.replayable === false) return this.sendOnce(request);
    return this.retry(() => this.sendOnce(request));
  }

  /**
   * A request whose body is streamed (over node:http, or for a large blob over a connection of its
   * own: http-download.ts): authenticated, retried until the answer's headers are in, redirects
   * followed (ECR sends blob reads to presigned S3 URLs, which get no credentials).
   */
  openStream(request: RegistryRequest): Promise<HttpMessage> {
    return this.retry(async () => {
      const { message, url } = await this.open(request);
      const status = message.statusCode ?? 502;
      if (status >= 200 && status < 300) return message;
      let answer: HttpAnswer;
      try {
        answer = await readAnswer(message, SMALL_ANSWER_BYTES);
      } catch (e: unknown) {
        throw unreachable(this.context, request, e);
      }
      throw toError(this.registry, request, answer, this.foreign(url));
    });
  }

  details(repository: string, status?: number): RegistryErrorDetails {
    return registryDetails(this.registry, repository, status);
  }

  /** An upload Location or `Link` target, absolute. */
  resolve(location: string): string {
    return new URL(location, `${this.context.endpoint}/`).toString();
  }

  private async sendOnce(request: RegistryRequest): Promise<HttpAnswer> {
    const { message, url } = await this.open(request);
    let response: HttpAnswer;
    try {
      response = await readAnswer(message, request.answerLimit ?? SMALL_ANSWER_BYTES);
    } catch (e: unknown) {
      if (e instanceof AnswerTooLargeError) throw e;
      throw unreachable(this.context, request, e);
    }
    if (response.ok || request.accept?.includes(response.status) === true) return response;
    throw toError(this.registry, request, response, this.foreign(url));
  }

  /** The request sent through auth; a GET or HEAD follows redirects, each hop authorized (or not)
   * for its own origin. Resolves with the answer whose headers are in and the URL that gave it. */
  private async open(request: RegistryRequest): Promise<{ message: HttpMessage; url: URL }> {
    const headers = { 'user-agent': this.context.userAgent, ...request.headers };
    let url = new URL(request.url.startsWith('/') ? `${this.context.endpoint}${request.url}` : request.url);
    const follow = request.method === 'GET' || request.method === 'HEAD';
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const message = await this.authenticator.roundTrip(request, url, headers);
      const status = message.statusCode ?? 0;
      const location = follow && status >= 300 && status < 400 ? message.headers.location : undefined;
      if (location === undefined) return { message, url };
      discardBody(message);
      url = new URL(location, url);
    }
    throw new RegistryRequestError(
      `${request.what}: more than ${MAX_REDIRECTS} redirects`,
      this.details(request.repository),
    );
  }

  /** The origin of `url` when it is not the registry's own, for error messages. */
  private foreign(url: URL): string | undefined {
    return url.origin === this.context.origin ? undefined : url.origin;
  }
}
