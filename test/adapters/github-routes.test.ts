// The GitHub adapter calls REST routes by hand (`GITHUB_ROUTES`, @octokit/core's request) rather than
// through @octokit/rest, whose table of every endpoint was 83 KB of each Lambda bundle. Each route
// must be the one @octokit/rest's table (generated from GitHub's OpenAPI description) gives for the
// method of the same name: a typo in a path or a verb fails here, not in production.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Octokit } from '@octokit/rest';
import { GITHUB_ROUTES } from '../../lambdas/adapters/github';

interface EndpointDefaults {
  readonly method: string;
  readonly url: string;
}
type EndpointTable = Readonly<
  Record<string, Readonly<Record<string, { readonly endpoint: { readonly DEFAULTS: EndpointDefaults } }>>>
>;

describe('GitHub routes', () => {
  // Prepare
  const table = new Octokit().rest as unknown as EndpointTable;

  for (const [name, route] of Object.entries(GITHUB_ROUTES)) {
    it(`${name} is ${route}, as in @octokit/rest`, () => {
      // Act
      const [scope = '', method = ''] = name.split('.');
      const defaults = table[scope]?.[method]?.endpoint.DEFAULTS;
      // Assess
      assert.ok(defaults, `@octokit/rest has no ${name}`);
      assert.equal(`${defaults.method} ${defaults.url}`, route);
    });
  }
});
