// The webhook Lambda served over plain HTTP for local use (`image-promoter webhook`, the demo), as
// the worker's local runner beside it (worker-runner.ts) runs the worker Lambda outside AWS.
// Each request becomes a Function URL event (payload 2.0) as AWS builds it and goes through the very
// same handler, with an invocation context as the Lambda gets one (so the same deadline), and its
// result is written back. Only the front door lives here: GitHub's 25 MiB cap answered 413 before
// the body is read, slow clients disconnected. No webhook logic.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { APIGatewayProxyStructuredResultV2, LambdaFunctionURLEvent } from 'aws-lambda';
import { MAX_WEBHOOK_PAYLOAD_BYTES } from '../core/push-event';
import type { WebhookHandler } from '../webhook/handler';

export interface WebhookServer {
  readonly url: string;
  stop(): Promise<void>;
}

/** Slow clients: GitHub sends a delivery at once and waits 10 s in all for the answer, so a request
 * whose headers take longer than 10 s, or whose body is not complete within 15 s, is not GitHub and
 * must not hold a connection (drip-feed). Node checks these every second here (default: 30 s). */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 15_000;

/** Each request runs as a Lambda invocation would, with the webhook Lambda's timeout
 * (infra/constructs/webhook-function.ts WEBHOOK_TIMEOUT): the handler's deadline is the same here. */
export const INVOCATION_TIMEOUT_MS = 30_000;

/** Serves `handler` on host:port until stop(). */
export async function startWebhookServer(options: {
  readonly handler: WebhookHandler;
  readonly port: number;
  readonly host?: string;
  readonly headersTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
}): Promise<WebhookServer> {
  const headersTimeout = options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
  const requestTimeout = Math.max(options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS, headersTimeout);
  const checkEvery = Math.min(1000, headersTimeout);
  const server = createServer(
    { headersTimeout, requestTimeout, connectionsCheckingInterval: checkEvery },
    (req, res) => {
      serve(options.handler, req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"message":"internal error"}');
      });
    },
  );
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const address = server.address();
  const port = address !== null && typeof address === 'object' ? address.port : options.port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function serve(handler: WebhookHandler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const arrived = Date.now();
  const body = await readBody(req);
  if (body === undefined) {
    // Over GitHub's cap: answered at once, nothing more read, and the connection closed once the
    // answer is out (the client may still be sending).
    res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
    res.end(
      JSON.stringify({ message: `payload over ${MAX_WEBHOOK_PAYLOAD_BYTES} bytes (GitHub's cap)` }),
      () => req.socket.destroy(),
    );
    return;
  }
  const result = await handler(toFunctionUrlEvent(req, body, new Date()), {
    getRemainingTimeInMillis: () => INVOCATION_TIMEOUT_MS - (Date.now() - arrived),
  });
  writeResult(res, result);
}

/** The whole body, or undefined as soon as it is known to be over the cap (Content-Length or bytes). */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_WEBHOOK_PAYLOAD_BYTES)
    return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_WEBHOOK_PAYLOAD_BYTES) {
        req.pause();
        resolve(undefined);
      } else chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

const TEXT_TYPES = /^(text\/|application\/(json|javascript|xml)\b|application\/[\w.+-]+\+(json|xml)\b)/i;

/** The Function URL event AWS would build for this request (payload format 2.0). */
export function toFunctionUrlEvent(req: IncomingMessage, body: Buffer, now: Date): LambdaFunctionURLEvent {
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const [name, value] of Object.entries(req.headersDistinct)) {
    if (value === undefined) continue;
    const key = name.toLowerCase();
    if (key === 'cookie') cookies = value.flatMap((v) => v.split(/;\s*/)).filter((c) => c !== '');
    else headers[key] = value.join(',');
  }
  const host = headers['host'] ?? 'localhost';
  const url = new URL(req.url ?? '/', `http://${host}`);
  const query: Record<string, string> = {};
  for (const key of new Set(url.searchParams.keys())) query[key] = url.searchParams.getAll(key).join(',');
  const binary = !TEXT_TYPES.test(headers['content-type'] ?? '');
  const domainName = host.replace(/:\d+$/, '');
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    ...(cookies === undefined ? {} : { cookies }),
    headers,
    ...(Object.keys(query).length === 0 ? {} : { queryStringParameters: query }),
    requestContext: {
      accountId: 'anonymous',
      apiId: 'local',
      domainName,
      domainPrefix: domainName.split('.')[0] ?? domainName,
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: formatRequestTime(now),
      timeEpoch: now.getTime(),
    },
    ...(body.length === 0 ? {} : { body: binary ? body.toString('base64') : body.toString('utf8') }),
    isBase64Encoded: body.length > 0 && binary,
  } as LambdaFunctionURLEvent;
}

/** `24/Nov/2026:14:25:59 +0000`, as requestContext.time carries it. */
function formatRequestTime(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const two = (n: number): string => String(n).padStart(2, '0');
  return (
    `${two(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:` +
    `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`
  );
}

function writeResult(res: ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  const body =
    result.body === undefined
      ? Buffer.alloc(0)
      : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  res.writeHead(result.statusCode ?? 200, { ...headers, 'content-length': String(body.length) });
  res.end(body);
}
