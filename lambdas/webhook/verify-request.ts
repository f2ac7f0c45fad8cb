// The front door of a delivery: is this a signed GitHub webhook? Method, size, signature over the
// raw bytes (before anything is parsed), the event and delivery headers, a JSON body. Answers
// whatever is not one (405, 413, 401, 400, or 500/503 when the secret cannot be read); hands on
// the event, its delivery id and its payload otherwise. Never logs a secret or a payload.
import { verifyWithFallback } from '@octokit/webhooks-methods';
import { describeError, PromoterError } from '../core/errors';
import { extractPayloadText, MAX_WEBHOOK_PAYLOAD_BYTES } from '../core/push-event';
import { reply, type DeliveryLog, type WebhookRequest, type WebhookResponse } from './webhook-io';

export interface VerifiedDelivery {
  /** X-GitHub-Event. */
  readonly event: string;
  /** X-GitHub-Delivery (not signed: for logs, never for deduplication). */
  readonly deliveryId: string;
  readonly payload: unknown;
}

export type Verification =
  | { readonly kind: 'answered'; readonly response: WebhookResponse }
  | { readonly kind: 'verified'; readonly delivery: VerifiedDelivery };

/** Checks `request`; `secrets` are the accepted webhook secrets, current first (rotation). */
export async function verifyRequest(
  request: WebhookRequest,
  secrets: () => Promise<readonly string[]>,
  log: DeliveryLog,
): Promise<Verification> {
  const answer = (statusCode: number, message: string): Verification => ({
    kind: 'answered',
    response: reply(statusCode, { message }),
  });
  if (request.method !== 'POST') return answer(405, 'method not allowed: POST a GitHub webhook');
  if (request.body.length > MAX_WEBHOOK_PAYLOAD_BYTES) {
    return answer(413, `payload over ${MAX_WEBHOOK_PAYLOAD_BYTES} bytes (GitHub's cap)`);
  }

  // Nothing below this line runs for a request that is not signed with one of our secrets.
  let accepted: readonly string[];
  try {
    accepted = await secrets();
  } catch (e: unknown) {
    log.error('cannot load the webhook secret', { error: describeError(e) });
    return answer(e instanceof PromoterError && e.retryable ? 503 : 500, 'webhook is not configured');
  }
  const text = await verifiedText(accepted, request.body, request.headers['x-hub-signature-256']);
  if (text === undefined) {
    log.warn('rejected a delivery without a valid signature', {
      deliveryId: request.headers['x-github-delivery'],
      event: request.headers['x-github-event'],
    });
    return answer(401, 'unauthorized');
  }

  const event = request.headers['x-github-event'];
  const deliveryId = request.headers['x-github-delivery'];
  if (event === undefined || event === '') return answer(400, 'missing X-GitHub-Event header');
  if (deliveryId === undefined || deliveryId === '' || deliveryId.length > 128) {
    return answer(400, 'missing or invalid X-GitHub-Delivery header');
  }
  let payload: unknown;
  try {
    payload = JSON.parse(extractPayloadText(text, request.headers['content-type']));
  } catch {
    return answer(400, 'body is not JSON');
  }
  return { kind: 'verified', delivery: { event, deliveryId, payload } };
}

/** The body as text when X-Hub-Signature-256 is the HMAC-SHA256 of its raw bytes under one of
 * `secrets` (GitHub docs, "Validating webhook deliveries"; octokit's verifyWithFallback, constant
 * time, any secret may match), else undefined. verifyWithFallback signs the UTF-8 encoding of a
 * string: a body that is valid UTF-8 decodes (strictly, its BOM kept) to the one string whose
 * encoding is exactly those bytes, so the HMAC is over the raw bytes. A body that is not valid UTF-8
 * is refused, never decoded with replacement characters (two bodies would then verify as one);
 * GitHub sends JSON or form-encoded text, always UTF-8. */
async function verifiedText(
  secrets: readonly string[],
  body: Buffer,
  signature: string | undefined,
): Promise<string | undefined> {
  if (signature === undefined || !/^sha256=[0-9a-f]{64}$/.test(signature) || body.length === 0) {
    return undefined;
  }
  const [current, ...previous] = secrets.filter((secret) => secret !== '');
  if (current === undefined) return undefined;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
  } catch {
    return undefined;
  }
  return (await verifyWithFallback(current, text, signature, previous)) === true ? text : undefined;
}
