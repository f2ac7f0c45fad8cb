import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import {
  findEnvironment,
  isRepositoryAllowed,
  parseConfig,
  repositoryResourcePattern,
  validateConfig,
  type Config,
} from '../../lambdas/core/config';
import { ConfigError } from '../../lambdas/core/errors';

const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const DST = '222222222222.dkr.ecr.us-east-1.amazonaws.com';

/** A minimal valid config as YAML, one key per line so error lines are predictable. */
const MINIMAL = `github:
  repository: acme/k8s-overlays
environments:
  - name: production
    overlay: overlays/production
    source:
      registry: ${SRC}
    destination:
      registry: ${DST}
`;

/** MINIMAL with line `lineNumber` (1-based) replaced by `replacement` (several lines allowed). */
function edit(lineNumber: number, replacement: string): string {
  const lines = MINIMAL.split('\n');
  lines.splice(lineNumber - 1, 1, ...replacement.split('\n'));
  return lines.join('\n');
}

describe('parseConfig', () => {
  it('parses the documented example file at the repository root', async () => {
    // Prepare
    const text = await readFile('image-promoter.example.yaml', 'utf8');

    // Act
    const config = parseConfig(text, 'image-promoter.example.yaml');

    // Assess
    assert.equal(config.github.repository, 'acme/k8s-overlays');
    assert.deepEqual(config.github.branches, ['main']);
    const production = findEnvironment(config, 'production');
    assert.deepEqual(production, {
      name: 'production',
      overlay: 'overlays/production',
      source: {
        registry: SRC,
        roleArn: 'arn:aws:iam::111111111111:role/image-promoter-source-222222222222',
        externalId: 'REPLACE-ME-with-openssl-rand-hex-16',
      },
      destination: { registry: DST, createRepositories: false },
      repositories: ['shop/**'],
    });
    assert.equal(findEnvironment(config, 'staging')?.repositories, undefined);
    assert.equal(findEnvironment(config, 'nope'), undefined);
  });

  it('fills the defaults and freezes the result deeply', () => {
    // Act
    const config: Config = parseConfig(MINIMAL);

    // Assess
    assert.deepEqual(config.github.branches, ['main']);
    assert.equal(config.github.pullRequests, 'promote');
    assert.deepEqual(config.registryEndpoints, {});
    assert.deepEqual(config.copy, {
      blobJobs: 8,
      imageJobs: 4,
      referrers: true,
      overwrite: false,
      maxBlobBytes: 4 * 1024 * 1024 * 1024,
    });
    assert.deepEqual(config.worker, { maxReceiveCount: 5 });
    assert.deepEqual(config.webhook, {
      reservedConcurrency: 10,
      deadlineSeconds: 7,
      checkRegistries: true,
      maxRegistryChecks: 50,
    });
    assert.deepEqual(config.reconcile, { enabled: true, rateMinutes: 60 });
    assert.equal(config.environments[0]!.destination.createRepositories, false);
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.environments[0]!.source));
    assert.ok(Object.isFrozen(config.github.branches));
  });

  const overlays: readonly [string, string][] = [
    ['overlays/production', 'overlays/production'],
    ['./overlays/production/', 'overlays/production'],
    ['overlays//production/.', 'overlays/production'],
  ];
  for (const [written, normalized] of overlays) {
    it(`normalizes overlay ${written} to ${normalized}`, () => {
      // Act
      const config = parseConfig(edit(5, `    overlay: ${written}`));
      // Assess
      assert.equal(config.environments[0]!.overlay, normalized);
    });
  }

  it('accepts JSON (a YAML subset) and the same config through validateConfig', () => {
    // Prepare
    const value = {
      github: { repository: 'acme/k8s-overlays', branches: ['main', 'release'] },
      environments: [
        { name: 'dev', overlay: 'o/dev', source: { registry: SRC }, destination: { registry: DST } },
      ],
      registryEndpoints: { [DST]: 'http://127.0.0.1:5000' },
    };
    // Act
    const fromText = parseConfig(JSON.stringify(value), 'inline.json');
    const fromValue = validateConfig(value);
    // Assess
    assert.deepEqual(fromText, fromValue);
    assert.deepEqual(fromValue.registryEndpoints, { [DST]: 'http://127.0.0.1:5000' });
  });

  // Each row: the text, then the expected one-line message exactly (file:line: key path: reason).
  const invalid: readonly [string, string, string][] = [
    [
      'empty document',
      '',
      'image-promoter.yaml: the document is empty: expected a mapping with the keys github and environments',
    ],
    ['a list at the top', '- a\n- b\n', 'image-promoter.yaml:1: must be a mapping, not a list'],
    [
      'malformed YAML names its line',
      edit(4, '  - name: [production'),
      'image-promoter.yaml:5: malformed YAML:',
    ],
    [
      'tab indentation',
      edit(5, '\toverlay: x'),
      'image-promoter.yaml:5: malformed YAML: tab characters must not be used in indentation',
    ],
    [
      'a duplicate key',
      edit(2, '  repository: acme/a\n  repository: acme/b'),
      'image-promoter.yaml:3: malformed YAML: duplicated mapping key "repository"',
    ],
    [
      'a missing section',
      MINIMAL.split('\n').slice(2).join('\n'),
      'image-promoter.yaml:1: github: is required',
    ],
    [
      'a missing key points at its parent mapping',
      edit(7, '      roleArn: arn:aws:iam::111111111111:role/r'),
      'image-promoter.yaml:6: environments[0].source.registry: is required',
    ],
    [
      'an unknown top-level key',
      `${MINIMAL}regions: [x]\n`,
      'image-promoter.yaml:10: regions: unknown key "regions" (expected one of: github, environments, registryEndpoints, copy, reconcile, worker',
    ],
    [
      'a misspelt nested key',
      edit(9, `      registy: ${DST}`),
      'image-promoter.yaml:9: environments[0].destination.registy: unknown key "registy" (expected one of: registry, createRepositories)',
    ],
    [
      'a wrong type',
      edit(2, '  repository: 42'),
      'image-promoter.yaml:2: github.repository: must be a string, not number 42',
    ],
    [
      'an unknown pull request mode',
      edit(2, '  repository: acme/k8s-overlays\n  pullRequests: copy'),
      'image-promoter.yaml:3: github.pullRequests: must be one of promote, plan, off',
    ],
    [
      'a bad owner/name',
      edit(2, '  repository: acme'),
      'image-promoter.yaml:2: github.repository: must be owner/name',
    ],
    [
      'no environments',
      'github:\n  repository: a/b\nenvironments: []\n',
      'image-promoter.yaml:3: environments: must list at least 1 item',
    ],
    [
      'a bad environment name',
      edit(4, '  - name: Production'),
      'image-promoter.yaml:4: environments[0].name: must be 1-32 lowercase letters, digits or dashes, starting with a letter or digit',
    ],
    [
      'an absolute overlay',
      edit(5, '    overlay: /overlays/production'),
      'image-promoter.yaml:5: environments[0].overlay: must be a path inside the repository, relative to its root (no leading /, no ..)',
    ],
    [
      'an overlay leaving the repository',
      edit(5, '    overlay: overlays/../../x'),
      'image-promoter.yaml:5: environments[0].overlay: must be a path inside the repository, relative to its root (no leading /, no ..)',
    ],
    [
      'the root as overlay',
      edit(5, '    overlay: ./'),
      'image-promoter.yaml:5: environments[0].overlay: must name a directory below the repository root',
    ],
    [
      'a registry URL instead of a host',
      edit(7, `      registry: https://${SRC}`),
      'image-promoter.yaml:7: environments[0].source.registry: must be a registry host name such as 111111111111.dkr.ecr.us-east-1.amazonaws.com',
    ],
    [
      'the same registry on both sides',
      edit(9, `      registry: ${SRC.toUpperCase()}`),
      'image-promoter.yaml:9: environments[0].destination.registry: must differ from source.registry',
    ],
    [
      'a role without an ExternalId',
      edit(7, `      registry: ${SRC}\n      roleArn: arn:aws:iam::111111111111:role/r`),
      'image-promoter.yaml:6: environments[0].source.externalId: is required with a roleArn: a value nobody can guess',
    ],
    [
      'a guessable ExternalId (the old default)',
      edit(7, `      registry: ${SRC}\n      externalId: image-promoter`),
      'image-promoter.yaml:8: environments[0].source.externalId: must be at least 16 characters, not guessable',
    ],
    [
      'an ExternalId STS refuses',
      edit(7, `      registry: ${SRC}\n      externalId: "0123456789abcdef 0123"`),
      'image-promoter.yaml:8: environments[0].source.externalId: may only hold letters, digits and _ + = , . @ : / -',
    ],
    [
      'an allowlist glob with a single * (IAM cannot stop it at /)',
      `${MINIMAL}    repositories: ['shop/cart', 'shop/*']\n`,
      'image-promoter.yaml:10: environments[0].repositories[1]: must be a repository path whose only wildcard is **',
    ],
    [
      'an allowlist glob with ?',
      `${MINIMAL}    repositories: ['shop/cart-?']\n`,
      'image-promoter.yaml:10: environments[0].repositories[0]: must be a repository path whose only wildcard is **',
    ],
    [
      'an allowlist glob with ***',
      `${MINIMAL}    repositories: ['shop/***']\n`,
      'image-promoter.yaml:10: environments[0].repositories[0]: must be a repository path whose only wildcard is **',
    ],
    [
      'an allowlist entry with an IAM policy variable',
      `${MINIMAL}    repositories: ['\${aws:username}/**']\n`,
      'image-promoter.yaml:10: environments[0].repositories[0]: must be a repository path whose only wildcard is **',
    ],
    [
      'an allowlist entry in upper case (ECR names are lower case)',
      `${MINIMAL}    repositories: ['Shop/cart']\n`,
      'image-promoter.yaml:10: environments[0].repositories[0]: must be a repository path whose only wildcard is **',
    ],
    [
      'a webhook reserved concurrency of 0 (would throttle every delivery)',
      `${MINIMAL}webhook:\n  reservedConcurrency: 0\n`,
      'image-promoter.yaml:11: webhook.reservedConcurrency:',
    ],
    [
      'a webhook deadline of 0 s (nothing could be planned)',
      `${MINIMAL}webhook:\n  deadlineSeconds: 0\n`,
      'image-promoter.yaml:11: webhook.deadlineSeconds:',
    ],
    [
      'no registry checks at all (false says that)',
      `${MINIMAL}webhook:\n  maxRegistryChecks: 0\n`,
      'image-promoter.yaml:11: webhook.maxRegistryChecks:',
    ],
    [
      'a webhook deadline past the Lambda (30 s) less the time to answer',
      `${MINIMAL}webhook:\n  deadlineSeconds: 30\n`,
      'image-promoter.yaml:11: webhook.deadlineSeconds:',
    ],
    [
      'a role ARN of another account',
      edit(7, `      registry: ${SRC}\n      roleArn: arn:aws:iam::333333333333:role/r`),
      'image-promoter.yaml:8: environments[0].source.roleArn: role is in account 333333333333 but the source registry is in account 111111111111',
    ],
    [
      'not a role ARN',
      edit(
        7,
        `      registry: ${SRC}\n      roleArn: arn:aws:iam::111111111111:user/u\n      externalId: 0123456789abcdef`,
      ),
      'image-promoter.yaml:8: environments[0].source.roleArn: must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)',
    ],
    [
      'an empty allowlist',
      `${MINIMAL}    repositories: []\n`,
      'image-promoter.yaml:10: environments[0].repositories: must list at least 1 item',
    ],
    [
      'a duplicate environment',
      `${MINIMAL}${MINIMAL.split('\n').slice(3).join('\n')}`,
      'image-promoter.yaml:10: environments[1].name: duplicate environment "production" (also environments[0])',
    ],
    [
      'an endpoint that is not http(s)',
      `${MINIMAL}registryEndpoints:\n  ${DST}: ftp://x\n`,
      `image-promoter.yaml:11: registryEndpoints.${DST}: must be an http:// or https:// URL`,
    ],
    [
      'an endpoint key that is not a host',
      `${MINIMAL}registryEndpoints:\n  "http://x": http://x\n`,
      'image-promoter.yaml:11: registryEndpoints.http://x: must be a registry host name such as 111111111111.dkr.ecr.us-east-1.amazonaws.com',
    ],
    [
      'copy jobs out of range',
      `${MINIMAL}copy:\n  blobJobs: 0\n`,
      'image-promoter.yaml:11: copy.blobJobs: must be at least 1',
    ],
    [
      'a reconcile more often than every 5 minutes',
      `${MINIMAL}reconcile:\n  rateMinutes: 1\n`,
      'image-promoter.yaml:11: reconcile.rateMinutes: must be at least 5',
    ],
    [
      'copy jobs above the maximum',
      `${MINIMAL}copy:\n  imageJobs: 33\n`,
      'image-promoter.yaml:11: copy.imageJobs: must be at most 32',
    ],
    [
      'a boolean as a string',
      `${MINIMAL}copy:\n  overwrite: "yes"\n`,
      'image-promoter.yaml:11: copy.overwrite: must be true or false, not the string "yes"',
    ],
    [
      'a null section',
      `${MINIMAL}worker:\n`,
      'image-promoter.yaml:10: worker: must be a mapping, not null (empty)',
    ],
  ];
  for (const [name, text, expected] of invalid) {
    it(`rejects ${name} with file, line, key path and reason`, () => {
      // Act
      const parse = (): Config => parseConfig(text);
      // Assess
      assert.throws(parse, (e: unknown) => {
        assert.ok(e instanceof ConfigError, `got ${String(e)}`);
        assert.equal(e.retryable, false);
        assert.ok(e.message.startsWith(expected), `\n  got:  ${e.message}\n  want: ${expected}`);
        assert.ok(!e.message.includes('\n'));
        return true;
      });
    });
  }

  it('refuses a config whose aliases expand exponentially (billion laughs)', () => {
    // Prepare
    let laughs = 'a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n';
    for (let i = 1; i < 9; i++)
      laughs += `a${i}: &a${i} [${Array<string>(9)
        .fill(`*a${i - 1}`)
        .join(', ')}]\n`;

    // Act
    const parse = (): Config => parseConfig(`${laughs}github: {repository: a/b}\n`);

    // Assess: the line of the first alias, as in overlay files.
    assert.throws(
      parse,
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message.startsWith('image-promoter.yaml:2: excessive aliasing:') &&
        !e.message.includes('\n'),
    );
  });

  it('refuses a config whose anchor holds an alias of itself', () => {
    // Act
    const parse = (): Config => parseConfig(`${MINIMAL}copy: &c {blobJobs: 1, x: *c}\n`);

    // Assess
    assert.throws(
      parse,
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message.startsWith(
          'image-promoter.yaml:10: excessive aliasing: an anchor holds an alias of itself',
        ),
    );
  });

  it('accepts aliases that repeat a value many times without expanding it (the bound overlay files have)', () => {
    // Prepare: 120 registries served by one endpoint, written once.
    const hosts = Array.from({ length: 120 }, (_, i) => `  r${i}.example.com: *endpoint\n`).join('');
    const text = `${MINIMAL}registryEndpoints:\n  ${DST}: &endpoint http://127.0.0.1:5000\n${hosts}`;

    // Act
    const config = parseConfig(text);

    // Assess
    assert.equal(Object.keys(config.registryEndpoints).length, 121);
    assert.equal(config.registryEndpoints['r119.example.com'], 'http://127.0.0.1:5000');
  });

  it('refuses a second YAML document, naming its line', () => {
    assert.throws(
      () => parseConfig(`${MINIMAL}---\ngithub: {repository: acme/other}\n`),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message ===
          'image-promoter.yaml:11: malformed YAML: a second document (after ---): the config is a single YAML document',
    );
  });

  it('names the file given and no line for already-parsed values', () => {
    assert.throws(
      () => validateConfig({ github: { repository: 'a/b' } }, 'cdk context'),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message === 'cdk context: environments: is required' &&
        e.line === undefined,
    );
  });
});

describe('repositoryResourcePattern', () => {
  it("writes ** as IAM's * and keeps every other character", () => {
    assert.deepEqual(['shop/**', '**', 'shop/cart', '**/api', 'a**b'].map(repositoryResourcePattern), [
      'shop/*',
      '*',
      'shop/cart',
      '*/api',
      'a*b',
    ]);
  });
});

describe('isRepositoryAllowed', () => {
  // allowlist, repository, allowed?
  // Each row also holds for IAM's reading of repositoryResourcePattern(glob) (`*`: any characters).
  const cases: readonly [readonly string[] | undefined, string, boolean][] = [
    [undefined, 'anything/at/all', true],
    [['shop/**'], 'shop/cart', true],
    [['shop/**'], 'shop/cart/api', true],
    [['shop/**'], 'shopping/cart', false],
    [['shop/**'], 'shop', false],
    [['shop**'], 'shopping/cart', true],
    [['**'], 'a/b/c', true],
    [['shop/cart'], 'shop/cart', true],
    [['shop/cart'], 'shop/carts', false],
    [['shop/cart'], 'shop/cart/api', false],
    [['shop/c.rt'], 'shop/cart', false],
    [['a/**', 'b/**'], 'b/x', true],
    [['**/api'], 'cart/api', true],
    [['**/api'], 'shop/cart/api', true],
    [['**/api'], 'shop/cart/api-v2', false],
    [['shop/**-prod'], 'shop/a/b-prod', true],
  ];
  for (const [allowlist, repository, allowed] of cases) {
    it(`${JSON.stringify(allowlist ?? 'no allowlist')} ${allowed ? 'allows' : 'refuses'} ${repository}`, () => {
      // Prepare
      const env = parseConfig(
        allowlist === undefined ? MINIMAL : `${MINIMAL}    repositories: ${JSON.stringify(allowlist)}\n`,
      ).environments[0]!;
      // Act / Assess
      assert.equal(isRepositoryAllowed(env, repository), allowed);
    });
  }
});
