import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createGitRepo, type GitRepo } from '../support/git-repo';
import { runCli } from '../support/run-cli';

const DST = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
const D1 = `sha256:${'1'.repeat(64)}`;

describe('image-promoter images', () => {
  let repo: GitRepo;
  let v1: string;

  before(async () => {
    repo = await createGitRepo();
    v1 = await repo.commitFiles({
      'base/kustomization.yaml': 'resources: [deployment.yaml, cronjob.yaml]\n',
      'base/deployment.yaml': [
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata: {name: shop}',
        'spec:',
        '  template:',
        '    spec:',
        '      initContainers: [{name: migrate, image: cart}]',
        '      containers: [{name: cart, image: cart}, {name: proxy, image: "nginx:1.25"}]',
        '',
      ].join('\n'),
      'base/cronjob.yaml': [
        'apiVersion: batch/v1',
        'kind: CronJob',
        'metadata: {name: report}',
        'spec:',
        '  jobTemplate:',
        '    spec:',
        '      template:',
        '        spec:',
        '          containers: [{name: report, image: report}]',
        '',
      ].join('\n'),
      'overlays/production/kustomization.yaml': [
        'resources: [../../base]',
        'images:',
        `  - {name: cart, newName: ${DST}/shop/cart, newTag: "1.0"}`,
        `  - {name: report, newName: ${DST}/shop/report, digest: "${D1}"}`,
        '',
      ].join('\n'),
    });
    // The working tree moves on; `images --ref` must read the commit, not the files on disk.
    await repo.commitFiles({
      'overlays/production/kustomization.yaml': [
        'resources: [../../base, "https://github.com/acme/remote//deploy?ref=v1"]',
        'images:',
        `  - {name: cart, newName: ${DST}/shop/cart, newTag: "1.1"}`,
        '',
      ].join('\n'),
    });
    await repo.writeFiles({ 'overlays/production/kustomization.yaml': 'uncommitted: [' });
  });
  after(async () => {
    await repo?.remove();
  });

  it('prints sorted unique references and warnings as JSON', async () => {
    // Act
    const [old, head] = await Promise.all([
      runCli(['images', '--repo', repo.dir, '--ref', v1, '--overlay', 'overlays/production', '--json']),
      runCli(['images', '--repo', repo.dir, '--overlay', 'overlays/production/', '--json']),
    ]);

    // Assess
    assert.equal(old.code, 0, old.stderr);
    assert.deepEqual(JSON.parse(old.stdout), {
      images: [`${DST}/shop/cart:1.0`, `${DST}/shop/report@${D1}`, 'nginx:1.25'],
      warnings: [],
    });
    assert.equal(head.code, 0, head.stderr);
    const parsed = JSON.parse(head.stdout) as { images: string[]; warnings: string[] };
    assert.deepEqual(parsed.images, [`${DST}/shop/cart:1.1`, 'nginx:1.25', 'report']);
    assert.equal(parsed.warnings.length, 1);
    assert.match(
      parsed.warnings[0]!,
      /^overlays\/production\/kustomization\.yaml.*github\.com\/acme\/remote/,
    );
  });

  it('prints a readable list, warnings last, run from inside the repository', async () => {
    // Act
    const result = await runCli(['images', '--overlay', 'overlays/production', '--ref', v1], {
      cwd: `${repo.dir}/base`,
    });

    // Assess
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      [
        `overlays/production at ${v1}: 3 images`,
        `  ${DST}/shop/cart:1.0`,
        `  ${DST}/shop/report@${D1}`,
        '  nginx:1.25',
        '',
      ].join('\n'),
    );
  });

  // args, exit code, stderr pattern (one line; usage errors end in "(see --help)")
  const failures: readonly [string, () => readonly string[], number, RegExp][] = [
    [
      'a missing --overlay',
      () => ['images', '--repo', repo.dir],
      2,
      /^image-promoter images: --overlay PATH is required \(see --help\)\n$/,
    ],
    [
      'an unknown option',
      () => ['images', '--overlay', 'x', '--colour'],
      2,
      /^image-promoter images: unknown option --colour \(see --help\)\n$/,
    ],
    [
      'an unknown revision',
      () => ['images', '--repo', repo.dir, '--ref', 'v9', '--overlay', 'overlays/production'],
      1,
      /^image-promoter images: unknown revision "v9" in .*\n$/,
    ],
    [
      'a missing overlay',
      () => ['images', '--repo', repo.dir, '--overlay', 'overlays/staging'],
      1,
      /^image-promoter images: overlays\/staging: overlay directory not found\n$/,
    ],
    [
      'not a repository',
      () => ['images', '--repo', '/', '--overlay', 'x'],
      1,
      /^image-promoter images: \/ is not a git repository\n$/,
    ],
  ];
  for (const [name, args, code, stderr] of failures) {
    it(`fails on ${name} with exit ${code} and one line`, async () => {
      // Act
      const result = await runCli(args());
      // Assess
      assert.equal(result.code, code, result.stderr);
      assert.match(result.stderr, stderr);
      assert.equal(result.stdout, '');
    });
  }
});
