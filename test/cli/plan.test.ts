import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NULL_SHA } from '../../lambdas/core/file-source';
import { createGitRepo, type GitRepo } from '../support/git-repo';
import { runCli } from '../support/run-cli';

const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const DST = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
const STG = '333333333333.dkr.ecr.us-east-1.amazonaws.com';

const CONFIG = `github:
  repository: acme/k8s-overlays
environments:
  - name: production
    overlay: overlays/production
    source: { registry: ${SRC} }
    destination: { registry: ${DST} }
    repositories: ["shop/**"]
  - name: staging
    overlay: overlays/staging
    source: { registry: ${SRC} }
    destination: { registry: ${STG} }
`;

function overlay(registry: string, cartTag: string, extra = ''): string {
  return [
    'resources: [../../base]',
    'images:',
    `  - {name: cart, newName: ${registry}/shop/cart, newTag: "${cartTag}"}`,
    `  - {name: tool, newName: ${registry}/internal/tool, newTag: "7"}`,
    extra,
  ].join('\n');
}

describe('image-promoter plan', () => {
  let repo: GitRepo;
  let configFile: string;
  let v1: string;
  let v2: string;
  let broken: string;

  before(async () => {
    repo = await createGitRepo();
    configFile = join(repo.dir, '..', `${repo.dir.split('/').pop()}.yaml`);
    await writeFile(configFile, CONFIG);
    v1 = await repo.commitFiles({
      'base/kustomization.yaml': 'resources: [deployment.yaml]\n',
      'base/deployment.yaml': [
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata: {name: shop}',
        'spec:',
        '  template:',
        '    spec:',
        '      containers: [{name: cart, image: cart}, {name: tool, image: tool}, {name: proxy, image: "nginx:1.25"}]',
        '',
      ].join('\n'),
      'overlays/production/kustomization.yaml': overlay(DST, '1.0'),
      'overlays/staging/kustomization.yaml': overlay(STG, '1.0'),
    });
    v2 = await repo.commitFiles({ 'overlays/production/kustomization.yaml': overlay(DST, '1.1') });
    broken = await repo.commitFiles({ 'overlays/staging/kustomization.yaml': 'images: [\n' });
  });
  after(async () => {
    await repo?.remove();
  });

  it('prints the plan as JSON in the documented shape', async () => {
    // Act
    const result = await runCli([
      'plan',
      '--repo',
      repo.dir,
      '--before',
      v1,
      '--after',
      v2,
      '--config',
      configFile,
      '--json',
    ]);

    // Assess
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), {
      environments: [
        {
          name: 'production',
          overlay: 'overlays/production',
          promotions: [{ source: `${SRC}/shop/cart:1.1`, destination: `${DST}/shop/cart:1.1` }],
          unchanged: [],
          skipped: [
            {
              image: `${DST}/internal/tool:7`,
              reason: 'repository internal/tool is not in the allowlist (shop/**)',
            },
            {
              image: 'nginx:1.25',
              reason: `external registry docker.io (only ${DST} is managed)`,
            },
          ],
          warnings: [],
        },
        {
          name: 'staging',
          overlay: 'overlays/staging',
          promotions: [],
          unchanged: [`${STG}/internal/tool:7`, `${STG}/shop/cart:1.0`],
          skipped: [{ image: 'nginx:1.25', reason: `external registry docker.io (only ${STG} is managed)` }],
          warnings: [],
        },
      ],
    });
  });

  it('prints a readable table for a created branch, with a summary line', async () => {
    // Act
    const result = await runCli(['plan', '--before', NULL_SHA, '--after', v1, '--config', configFile], {
      cwd: repo.dir,
    });

    // Assess
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^ENVIRONMENT {2}ACTION {3}IMAGE {2,}DETAIL$/);
    const rows = lines.slice(1, -1).map((line) => line.split(/ {2,}/));
    assert.deepEqual(rows, [
      ['production', 'promote', `${DST}/shop/cart:1.0`, `from ${SRC}/shop/cart:1.0`],
      [
        'production',
        'skip',
        `${DST}/internal/tool:7`,
        'repository internal/tool is not in the allowlist (shop/**)',
      ],
      ['production', 'skip', 'nginx:1.25', `external registry docker.io (only ${DST} is managed)`],
      ['staging', 'promote', `${STG}/internal/tool:7`, `from ${SRC}/internal/tool:7`],
      ['staging', 'promote', `${STG}/shop/cart:1.0`, `from ${SRC}/shop/cart:1.0`],
      ['staging', 'skip', 'nginx:1.25', `external registry docker.io (only ${STG} is managed)`],
    ]);
    assert.equal(lines.at(-1), '2 environments: 3 images to promote');
  });

  it('exits 1 when an environment failed, still planning the others; the error is one line', async () => {
    // Act
    const [json, table] = await Promise.all([
      runCli([
        'plan',
        '--repo',
        repo.dir,
        '--before',
        v2,
        '--after',
        broken,
        '--config',
        configFile,
        '--json',
      ]),
      runCli(['plan', '--repo', repo.dir, '--before', v2, '--after', broken, '--config', configFile]),
    ]);

    // Assess
    assert.equal(json.code, 1, json.stderr);
    const [production, staging] = (JSON.parse(json.stdout) as { environments: Record<string, unknown>[] })
      .environments;
    assert.equal(production!['error'], undefined);
    assert.deepEqual(production!['unchanged'], [`${DST}/shop/cart:1.1`]);
    assert.match(String(staging!['error']), /^overlays\/staging\/kustomization\.yaml:\d+: /);
    assert.deepEqual(staging!['promotions'], []);
    assert.equal(table.code, 1);
    assert.match(table.stdout, /\nstaging +FAILED +overlays\/staging\/kustomization\.yaml:\d+: [^\n]+\n/);
    assert.match(table.stdout, /\n2 environments: 0 images to promote, 1 failed\n$/);
  });

  // args, exit code, stderr pattern
  const failures: readonly [string, () => readonly string[], number, RegExp][] = [
    [
      'missing options',
      () => ['plan', '--before', v1],
      2,
      /^image-promoter plan: missing --after, --config \(see --help\)\n$/,
    ],
    [
      'a mistyped --before',
      () => ['plan', '--repo', repo.dir, '--before', 'v0', '--after', v2, '--config', configFile],
      1,
      /^image-promoter plan: unknown revision "v0" in \/\S+\n$/,
    ],
    [
      'a missing config file',
      () => ['plan', '--repo', repo.dir, '--before', v1, '--after', v2, '--config', '/nonexistent.yaml'],
      1,
      /^image-promoter plan: \/nonexistent\.yaml: file not found\n$/,
    ],
    [
      'an invalid config file',
      () => [
        'plan',
        '--repo',
        repo.dir,
        '--before',
        v1,
        '--after',
        v2,
        '--config',
        join(repo.dir, 'base/deployment.yaml'),
      ],
      1,
      /^image-promoter plan: .*deployment\.yaml:1: apiVersion: unknown keys "apiVersion", "kind", "metadata", "spec" \(expected one of: github,/,
    ],
  ];
  for (const [name, args, code, stderr] of failures) {
    it(`fails on ${name} with exit ${code}`, async () => {
      // Act
      const result = await runCli(args());
      // Assess
      assert.equal(result.code, code, result.stderr);
      assert.match(result.stderr, stderr);
      assert.equal(result.stdout, '');
    });
  }
});
