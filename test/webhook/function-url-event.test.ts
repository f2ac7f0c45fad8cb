// The local server's HTTP -> Function URL event conversion, observed from inside the handler: what a
// Function URL (payload format 2.0) would pass, and the handler's result written back as HTTP.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { startWebhookServer, type WebhookServer } from '../../lambdas/local/webhook-server';

describe('local server Function URL events', () => {
  let server: WebhookServer;
  let seen: LambdaFunctionURLEvent[];
  before(async () => {
    seen = [];
    server = await startWebhookServer({
      port: 0,
      handler: (event) => {
        seen.push(event);
        return Promise.resolve({
          statusCode: 418,
          headers: { 'x-answer': 'yes', 'content-type': 'application/octet-stream' },
          body: Buffer.from([0, 1, 2, 255]).toString('base64'),
          isBase64Encoded: true,
        });
      },
    });
  });
  after(() => server?.stop());

  const cases: readonly {
    readonly name: string;
    readonly contentType: string;
    readonly body: Buffer;
    readonly base64: boolean;
  }[] = [
    {
      name: 'JSON stays text',
      contentType: 'application/json',
      body: Buffer.from('{"a":"é"}'),
      base64: false,
    },
    {
      name: 'text/* stays text',
      contentType: 'text/plain; charset=utf-8',
      body: Buffer.from('hi'),
      base64: false,
    },
    {
      name: 'a form body is base64 (not a text type for Function URLs)',
      contentType: 'application/x-www-form-urlencoded',
      body: Buffer.from('payload=%7B%7D'),
      base64: true,
    },
    {
      name: 'bytes are base64',
      contentType: 'application/octet-stream',
      body: Buffer.from([0xff, 0xfe, 0]),
      base64: true,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      // Act
      const response = await fetch(`${server.url}/hook/path?b=2&a=1&a=3`, {
        method: 'POST',
        headers: { 'Content-Type': c.contentType, 'X-GitHub-Event': 'push', Cookie: 'k=v; k2=v2' },
        body: c.body,
      });
      const event = seen.at(-1)!;
      // Assess: the event
      assert.equal(event.version, '2.0');
      assert.equal(event.rawPath, '/hook/path');
      assert.equal(event.rawQueryString, 'b=2&a=1&a=3');
      assert.deepEqual(event.queryStringParameters, { b: '2', a: '1,3' });
      assert.deepEqual(event.cookies, ['k=v', 'k2=v2']);
      assert.equal(event.headers['x-github-event'], 'push');
      assert.equal(event.headers['content-type'], c.contentType);
      assert.equal(event.headers['cookie'], undefined);
      assert.equal(event.requestContext.http.method, 'POST');
      assert.equal(event.requestContext.http.path, '/hook/path');
      assert.equal(event.requestContext.stage, '$default');
      assert.match(event.requestContext.time, /^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
      assert.equal(event.isBase64Encoded, c.base64);
      assert.deepEqual(Buffer.from(event.body!, c.base64 ? 'base64' : 'utf8'), c.body);
      // Assess: the result written back
      assert.equal(response.status, 418);
      assert.equal(response.headers.get('x-answer'), 'yes');
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), Buffer.from([0, 1, 2, 255]));
    });
  }

  it('a request without a body has no body field', async () => {
    await fetch(server.url, { method: 'GET' });
    const event = seen.at(-1)!;
    assert.equal(event.body, undefined);
    assert.equal(event.isBase64Encoded, false);
    assert.equal(event.rawQueryString, '');
    assert.equal(event.queryStringParameters, undefined);
  });
});
