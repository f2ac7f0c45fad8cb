// The GitHub contract check: what GitHub's OpenAPI descriptions accept passes, each kind of departure
// is named.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkGitHubExchange, checkWebhookPayload, type GitHubExchange } from './github-contract';
import { pushPayload } from '../webhook/fixtures';

const SHA = 'a'.repeat(40);
const STATUS_BODY = JSON.stringify({
  state: 'success',
  context: 'image-promotion/prod',
  description: 'done',
});
const TREE = {
  sha: SHA,
  url: `https://api.github.com/repos/acme/deploy/git/trees/${SHA}`,
  truncated: false,
  tree: [{ path: 'README.md', mode: '100644', type: 'blob', sha: SHA, size: 6, url: 'https://x.test/b' }],
};

describe('github contract', () => {
  const cases: readonly {
    readonly name: string;
    readonly exchange: GitHubExchange;
    readonly found?: RegExp;
  }[] = [
    {
      name: 'a recursive tree as GitHub serves it',
      exchange: {
        method: 'GET',
        path: `/repos/acme/deploy/git/trees/${SHA}?recursive=1`,
        requestBody: '',
        status: 200,
        responseBody: TREE,
      },
    },
    {
      name: 'a tree answer without `truncated`',
      exchange: {
        method: 'GET',
        path: `/repos/acme/deploy/git/trees/${SHA}`,
        requestBody: '',
        status: 200,
        responseBody: { ...TREE, truncated: undefined },
      },
      found: /git\/get-tree\): 200 response body: \/ must have required property 'truncated'/,
    },
    {
      name: 'a route GitHub does not have',
      exchange: {
        method: 'GET',
        path: '/repos/acme/deploy/trees',
        requestBody: '',
        status: 404,
        responseBody: {},
      },
      found: /GET \/repos\/acme\/deploy\/trees: GitHub's REST API has no such operation/,
    },
    {
      name: 'an undocumented query parameter',
      exchange: {
        method: 'GET',
        path: `/repos/acme/deploy/git/blobs/${SHA}?raw=1`,
        requestBody: '',
        status: 404,
        responseBody: { message: 'Not Found' },
      },
      found: /query parameter raw is not one GitHub documents/,
    },
    {
      name: 'a status with a state GitHub does not know',
      exchange: {
        method: 'POST',
        path: `/repos/acme/deploy/statuses/${SHA}`,
        requestBody: JSON.stringify({ state: 'done' }),
        status: 422,
        responseBody: { message: 'Validation Failed', documentation_url: 'https://docs.github.com/rest' },
      },
      found: /request body: \/state must be equal to one of the allowed values/,
    },
    {
      name: 'a status answered with a status code GitHub does not document',
      exchange: {
        method: 'POST',
        path: `/repos/acme/deploy/statuses/${SHA}`,
        requestBody: STATUS_BODY,
        status: 200,
        responseBody: {},
      },
      found: /answered 200, which GitHub does not document \(201\)/,
    },
    {
      name: "a rate limit on any operation, in GitHub's error shape",
      exchange: {
        method: 'POST',
        path: `/repos/acme/deploy/statuses/${SHA}`,
        requestBody: STATUS_BODY,
        status: 429,
        responseBody: {
          message: 'You have exceeded a secondary rate limit.',
          documentation_url: 'https://x',
        },
      },
    },
  ];
  for (const c of cases) {
    it(`${c.found ? 'finds' : 'accepts'}: ${c.name}`, () => {
      // Act
      const problems = checkGitHubExchange(c.exchange);
      // Assess
      if (c.found === undefined) assert.deepEqual(problems, []);
      else assert.match(problems.join('\n'), c.found);
    });
  }

  it('accepts the push payloads the fixtures build (new branch, push, deletion)', () => {
    for (const [before, after] of [
      ['0'.repeat(40), SHA],
      ['b'.repeat(40), SHA],
      [SHA, '0'.repeat(40)],
    ] as const) {
      // Act
      const problems = checkWebhookPayload('push', pushPayload({ repository: 'acme/deploy', before, after }));
      // Assess
      assert.deepEqual(problems, []);
    }
  });

  it('finds a push payload GitHub could not send', () => {
    // Prepare
    const payload = pushPayload({ repository: 'acme/deploy', before: SHA, after: 'b'.repeat(40) });
    delete payload['after'];
    // Act
    const problems = checkWebhookPayload('push', payload);
    // Assess
    assert.match(problems.join('\n'), /webhook push payload: \/ must have required property 'after'/);
  });
});
