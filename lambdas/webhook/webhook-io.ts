// The shapes a webhook delivery comes in and goes out as, shared by the request check, the push
// handling and the handlers that feed them (Lambda, local server): the raw request, the answer, the
// log. No logic beyond writing a JSON answer.

export interface WebhookRequest {
  readonly method: string;
  /** Header names lower-cased (as a Function URL passes them). */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The body exactly as received. */
  readonly body: Buffer;
}

export interface WebhookResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface DeliveryLog {
  info(message: string, attributes?: Readonly<Record<string, unknown>>): void;
  warn(message: string, attributes?: Readonly<Record<string, unknown>>): void;
  error(message: string, attributes?: Readonly<Record<string, unknown>>): void;
}

const JSON_HEADERS = { 'content-type': 'application/json' } as const;

/** A JSON answer. */
export function reply(statusCode: number, body: Readonly<Record<string, unknown>>): WebhookResponse {
  return { statusCode, headers: JSON_HEADERS, body: JSON.stringify(body) };
}
