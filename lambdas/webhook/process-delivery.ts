// One GitHub webhook delivery, from raw request to response: the request checked (verify-request:
// size, signature over the raw bytes before anything is parsed, headers, JSON), the event classified
// (ping / ignore / invalid / a push or pull request to plan), then the push handled (handle-push:
// claim, plan within the deadline, statuses, jobs). Every dependency is a parameter, so the Lambda
// handler, the local server and the tests run exactly this code. Never answers 500 for what the
// pusher wrote (their mistakes become failure statuses), never logs a secret or a payload.
import { classifyDelivery } from '../core/push-event';
import { handlePush, type PushDependencies } from './handle-push';
import { verifyRequest } from './verify-request';
import { reply, type WebhookRequest, type WebhookResponse } from './webhook-io';

export type { CountingFileSource } from './plan-delivery';
export { STATUS_CONCURRENCY } from './handle-push';
export type { DeliveryLog, WebhookRequest, WebhookResponse } from './webhook-io';

export interface DeliveryDependencies extends PushDependencies {
  /** Accepted webhook secrets, current first (rotation). */
  readonly webhookSecrets: () => Promise<readonly string[]>;
}

export async function processDelivery(
  request: WebhookRequest,
  deps: DeliveryDependencies,
): Promise<WebhookResponse> {
  const started = deps.clock().getTime();
  const verification = await verifyRequest(request, deps.webhookSecrets, deps.log);
  if (verification.kind === 'answered') return verification.response;
  const { event, deliveryId, payload } = verification.delivery;

  const decision = classifyDelivery(event, payload, deps.config, deps.clock());
  const context = { deliveryId, event };
  switch (decision.kind) {
    case 'ping':
      deps.log.info('ping', context);
      return reply(200, { message: 'pong' });
    case 'invalid':
      deps.log.warn('signed delivery is not a valid push', { ...context, reason: decision.reason });
      return reply(400, { message: decision.reason });
    case 'ignore':
      deps.log.info('ignored delivery', { ...context, reason: decision.reason });
      return reply(202, { message: `ignored: ${decision.reason}` });
    default:
      return handlePush({ deliveryId, event, body: request.body, work: decision }, deps, started);
  }
}
