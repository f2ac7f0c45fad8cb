// Every GitHub REST method our code calls (`octokit.rest.<scope>.<method>(` anywhere in lambdas/) is
// an operation of GitHub's published OpenAPI description (@octokit/openapi), on the route
// @octokit/rest sends it to: a method whose route GitHub no longer describes, or a scope or name
// @octokit/rest does not have, fails here, not in production. Requests go through those typed
// methods only: a hand-written `octokit.request('METHOD /path')` would escape this check.
// (The GitHub test server checks each exchange it serves against the same description too:
// test/support/github-contract.ts.)
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Octokit } from '@octokit/rest';
import { restOperationId } from '../support/github-contract';

const LAMBDAS = join(import.meta.dirname, '../../lambdas');

interface EndpointDefaults {
  readonly method: string;
  readonly url: string;
}
type EndpointTable = Readonly<
  Record<string, Readonly<Record<string, { readonly endpoint: { readonly DEFAULTS: EndpointDefaults } }>>>
>;

function sources(dir: string): { readonly file: string; readonly text: string }[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => {
      const file = join(entry.parentPath, entry.name);
      return { file: file.slice(LAMBDAS.length + 1), text: readFileSync(file, 'utf8') };
    });
}

const files = sources(LAMBDAS);
/** `scope.method` -> the files calling it. */
const called = new Map<string, string[]>();
for (const { file, text } of files) {
  for (const match of text.matchAll(/\.rest\.(\w+)\.(\w+)\(/g)) {
    const name = `${match[1]}.${match[2]}`;
    if (!called.get(name)?.includes(file)) called.set(name, [...(called.get(name) ?? []), file]);
  }
}

describe('GitHub routes', () => {
  // Prepare
  const table = new Octokit().rest as unknown as EndpointTable;

  it('finds the methods the adapters call (commit statuses, check runs, trees, blobs, App tokens)', () => {
    assert.ok(called.size >= 10, `only ${[...called.keys()].join(', ')}`);
    for (const name of ['repos.createCommitStatus', 'git.getTree', 'apps.createInstallationAccessToken']) {
      assert.ok(called.has(name), `${name} is not called any more: is the scan still right?`);
    }
  });

  it('sends no request by hand-written route', () => {
    const byRoute = files.filter(({ text }) => /octokit\.request\(/.test(text)).map(({ file }) => file);
    assert.deepEqual(byRoute, []);
  });

  for (const [name, callers] of [...called].sort(([a], [b]) => a.localeCompare(b))) {
    it(`${name} (${callers.join(', ')}) is an operation GitHub describes`, () => {
      // Act
      const [scope = '', method = ''] = name.split('.');
      const defaults = table[scope]?.[method]?.endpoint.DEFAULTS;
      assert.ok(defaults, `@octokit/rest has no ${name}`);
      const route = `${defaults.method} ${defaults.url}`;
      const operationId = restOperationId(route);

      // Assess
      assert.ok(operationId, `GitHub's REST description has no ${route}`);
      assert.equal(operationId.split('/')[0], scope, `${route} is GitHub's ${operationId}`);
    });
  }
});
