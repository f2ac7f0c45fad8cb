import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GitFileSource } from '../../lambdas/adapters/git-file-source';
import { parseConfig, type EnvironmentConfig } from '../../lambdas/core/config';
import { GitHubError } from '../../lambdas/core/errors';
import { NULL_SHA, type FileSource } from '../../lambdas/core/file-source';
import { formatImageRef } from '../../lambdas/core/image-ref';
import {
  planEnvironment,
  planPush,
  type EnvironmentPlan,
  type EnvironmentPlanResult,
} from '../../lambdas/core/plan';
import { createGitRepo, type GitRepo } from '../support/git-repo';

const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const DST = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

function environment(repositories?: readonly string[]): EnvironmentConfig {
  const config = parseConfig(
    JSON.stringify({
      github: { repository: 'acme/k8s-overlays' },
      environments: [
        {
          name: 'production',
          overlay: 'overlays/production',
          source: { registry: SRC },
          destination: { registry: DST },
          ...(repositories === undefined ? {} : { repositories }),
        },
      ],
    }),
  );
  return config.environments[0]!;
}

/** The plan as plain strings, so a table row states the whole expected outcome. */
function summarize(plan: EnvironmentPlan): object {
  return {
    promotions: plan.promotions.map((p) => `${formatImageRef(p.source)} -> ${formatImageRef(p.destination)}`),
    unchanged: plan.unchanged,
    skipped: plan.skipped.map((s) => `${s.image}: ${s.reason}`),
    warnings: plan.warnings,
  };
}

const images = (list: readonly string[], warnings: readonly string[] = []) => ({ images: list, warnings });

interface Case {
  readonly name: string;
  readonly repositories?: readonly string[];
  readonly before: ReturnType<typeof images> | undefined;
  readonly after: ReturnType<typeof images> | undefined;
  readonly promotions?: readonly string[];
  readonly unchanged?: readonly string[];
  /** Substrings, one per skipped image in order: `image: reason`. */
  readonly skipped?: readonly string[];
  readonly warnings?: readonly string[];
}

const cases: readonly Case[] = [
  {
    name: 'a new tag is promoted from the source registry under the same path and tag',
    before: images([`${DST}/shop/cart:1.0`]),
    after: images([`${DST}/shop/cart:1.1`]),
    promotions: [`${SRC}/shop/cart:1.1 -> ${DST}/shop/cart:1.1`],
  },
  {
    name: 'an unchanged image is listed as unchanged, not promoted',
    before: images([`${DST}/shop/cart:1.0`, `${DST}/shop/web:2.0`]),
    after: images([`${DST}/shop/cart:1.0`, `${DST}/shop/web:2.1`]),
    promotions: [`${SRC}/shop/web:2.1 -> ${DST}/shop/web:2.1`],
    unchanged: [`${DST}/shop/cart:1.0`],
  },
  {
    name: 'a new digest under the same tag is promoted (full reference compared)',
    before: images([`${DST}/shop/cart:1.0@${D1}`]),
    after: images([`${DST}/shop/cart:1.0@${D2}`]),
    promotions: [`${SRC}/shop/cart:1.0@${D2} -> ${DST}/shop/cart:1.0@${D2}`],
  },
  {
    name: 'adding a tag to a deployed digest is promoted (the destination needs the tag)',
    before: images([`${DST}/shop/cart@${D1}`]),
    after: images([`${DST}/shop/cart:1.0@${D1}`]),
    promotions: [`${SRC}/shop/cart:1.0@${D1} -> ${DST}/shop/cart:1.0@${D1}`],
  },
  {
    name: 'a digest-only reference is promoted by digest',
    before: undefined,
    after: images([`${DST}/shop/cart@${D1}`]),
    promotions: [`${SRC}/shop/cart@${D1} -> ${DST}/shop/cart@${D1}`],
  },
  {
    name: 'created branch or new overlay (before undefined): every managed image is a candidate',
    before: undefined,
    after: images([`${DST}/shop/web:2.0`, `${DST}/shop/cart:1.0`, 'nginx:1.25']),
    promotions: [
      `${SRC}/shop/cart:1.0 -> ${DST}/shop/cart:1.0`,
      `${SRC}/shop/web:2.0 -> ${DST}/shop/web:2.0`,
    ],
    skipped: ['nginx:1.25: external registry docker.io'],
  },
  {
    name: 'deleted overlay (after undefined) promotes nothing',
    before: images([`${DST}/shop/cart:1.0`]),
    after: undefined,
  },
  {
    name: 'a removed image is neither promoted nor reported',
    before: images([`${DST}/shop/cart:1.0`, `${DST}/shop/web:2.0`]),
    after: images([`${DST}/shop/cart:1.0`]),
    unchanged: [`${DST}/shop/cart:1.0`],
  },
  {
    name: 'external registries are skipped with the registry named, also when new',
    before: images(['ghcr.io/acme/tool:1']),
    after: images(['ghcr.io/acme/tool:2', 'registry.k8s.io/pause:3.9', 'localhost:5000/shop/cart:1']),
    skipped: [
      'ghcr.io/acme/tool:2: external registry ghcr.io',
      'localhost:5000/shop/cart:1: external registry localhost:5000',
      'registry.k8s.io/pause:3.9: external registry registry.k8s.io',
    ],
  },
  {
    name: 'an image still in the source registry is skipped with advice',
    before: undefined,
    after: images([`${SRC}/shop/cart:1.0`]),
    skipped: [`${SRC}/shop/cart:1.0: references the source registry ${SRC}; reference ${DST}`],
  },
  {
    name: 'repositories outside the allowlist are skipped; allowed ones promoted',
    repositories: ['shop/cart', 'platform/**'],
    before: undefined,
    after: images([
      `${DST}/shop/cart:1`,
      `${DST}/shop/cart/api:1`,
      `${DST}/platform/a/b/c:1`,
      `${DST}/other/x:1`,
    ]),
    promotions: [
      `${SRC}/platform/a/b/c:1 -> ${DST}/platform/a/b/c:1`,
      `${SRC}/shop/cart:1 -> ${DST}/shop/cart:1`,
    ],
    skipped: [
      `${DST}/other/x:1: repository other/x is not in the allowlist (shop/cart, platform/**)`,
      `${DST}/shop/cart/api:1: repository shop/cart/api is not in the allowlist`,
    ],
  },
  {
    name: 'no tag and no digest, or tag latest without digest: skipped as not promotable',
    before: undefined,
    after: images([`${DST}/shop/cart`, `${DST}/shop/web:latest`, `${DST}/shop/api:latest@${D1}`]),
    promotions: [`${SRC}/shop/api:latest@${D1} -> ${DST}/shop/api:latest@${D1}`],
    skipped: [
      `${DST}/shop/cart: no tag or digest (implicit :latest) is not promotable`,
      `${DST}/shop/web:latest: tag latest is not promotable`,
    ],
  },
  {
    name: 'an invalid reference is skipped with the parser reason',
    before: undefined,
    after: images([`${DST}/Shop/Cart:1`, `${DST}/shop/cart:1`]),
    promotions: [`${SRC}/shop/cart:1 -> ${DST}/shop/cart:1`],
    skipped: [`${DST}/Shop/Cart:1: not a valid image reference: repository name must be lowercase`],
  },
  {
    name: 'duplicates are planned once; Docker Hub short names normalize before comparing',
    before: images(['nginx:1.25']),
    after: images([`${DST}/shop/cart:1`, `${DST}/shop/cart:1`, 'docker.io/library/nginx:1.25']),
    promotions: [`${SRC}/shop/cart:1 -> ${DST}/shop/cart:1`],
    skipped: ['docker.io/library/nginx:1.25: external registry docker.io'],
  },
  {
    name: 'the registry host compares case-insensitively; promotions use the config spelling',
    before: images([`${DST.toUpperCase()}/shop/web:1`]),
    after: images([`${DST.toUpperCase()}/shop/cart:1`, `${DST}/shop/web:1`]),
    unchanged: [`${DST}/shop/web:1`],
    promotions: [`${SRC}/shop/cart:1 -> ${DST}/shop/cart:1`],
  },
  {
    name: 'resolver warnings of the new revision are passed through once; old ones dropped',
    before: images([], ['old warning']),
    after: images(
      [`${DST}/shop/cart:1`],
      [
        'remote resource in overlays/production/kustomization.yaml',
        'remote resource in overlays/production/kustomization.yaml',
      ],
    ),
    promotions: [`${SRC}/shop/cart:1 -> ${DST}/shop/cart:1`],
    warnings: ['remote resource in overlays/production/kustomization.yaml'],
  },
];

describe('planEnvironment', () => {
  for (const c of cases) {
    it(c.name, () => {
      // Prepare
      const env = environment(c.repositories);

      // Act
      const plan = planEnvironment(env, c.before, c.after);

      // Assess
      assert.equal(plan.environment, 'production');
      assert.equal(plan.overlay, 'overlays/production');
      const got = summarize(plan) as { skipped: readonly string[] };
      assert.deepEqual(
        { ...got, skipped: got.skipped.length },
        {
          promotions: c.promotions ?? [],
          unchanged: c.unchanged ?? [],
          skipped: (c.skipped ?? []).length,
          warnings: c.warnings ?? [],
        },
      );
      (c.skipped ?? []).forEach((expected, i) => {
        assert.ok(got.skipped[i]!.includes(expected), `skipped[${i}] = ${got.skipped[i]}, want ${expected}`);
      });
    });
  }

  it('keeps the parsed references readonly and the tag/digest of the overlay', () => {
    // Prepare
    const env = environment();

    // Act
    const plan = planEnvironment(env, undefined, images([`${DST}/shop/cart:1.0@${D1}`]));

    // Assess
    const [promotion] = plan.promotions;
    assert.ok(promotion !== undefined);
    assert.deepEqual(promotion.source, { registry: SRC, repository: 'shop/cart', tag: '1.0', digest: D1 });
    assert.deepEqual(promotion.destination, {
      registry: DST,
      repository: 'shop/cart',
      tag: '1.0',
      digest: D1,
    });
    assert.ok(Object.isFrozen(promotion.source) && Object.isFrozen(promotion.destination));
  });
});

// planPush reads real git revisions through the git FileSource: the layouts below are real commits.
function overlayFiles(env: string, images: readonly (readonly [string, string])[]): Record<string, string> {
  return {
    [`overlays/${env}/kustomization.yaml`]: [
      'resources:',
      '  - ../../base',
      'images:',
      ...images.map(
        ([name, tag]) => `  - name: ${name}\n    newName: ${DST}/shop/${name}\n    newTag: "${tag}"`,
      ),
      '',
    ].join('\n'),
  };
}

const BASE = {
  'base/kustomization.yaml': 'resources:\n  - deployment.yaml\n',
  'base/deployment.yaml': [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: shop',
    'spec:',
    '  template:',
    '    spec:',
    '      initContainers:',
    '        - name: migrate',
    '          image: cart',
    '      containers:',
    '        - name: cart',
    '          image: cart',
    '        - name: web',
    '          image: web',
    '        - name: proxy',
    '          image: nginx:1.25',
    '',
  ].join('\n'),
};

const CONFIG = parseConfig(`
github:
  repository: acme/k8s-overlays
environments:
  - name: production
    overlay: overlays/production
    source: { registry: ${SRC} }
    destination: { registry: ${DST} }
  - name: staging
    overlay: overlays/staging
    source: { registry: ${SRC} }
    destination: { registry: ${DST} }
`);

/** One line per environment: `name: promoted destinations | unchanged count | skipped count`, or the error. */
function describeResults(results: readonly EnvironmentPlanResult[]): readonly string[] {
  return results.map((r) =>
    r.kind === 'failed'
      ? `${r.environment}: failed: ${r.error.message}`
      : `${r.plan.environment}: [${r.plan.promotions.map((p) => formatImageRef(p.destination).slice(DST.length + 1)).join(' ')}]` +
        ` unchanged=${r.plan.unchanged.length} skipped=${r.plan.skipped.length}` +
        (r.plan.warnings.length > 0 ? ` warnings=${r.plan.warnings.join('; ')}` : ''),
  );
}

describe('planPush', () => {
  let repo: GitRepo;
  let source: GitFileSource;
  const commits: Record<string, string> = {};

  before(async () => {
    repo = await createGitRepo();
    source = new GitFileSource(repo.dir);
    commits['initial'] = await repo.commitFiles({
      ...BASE,
      ...overlayFiles('production', [
        ['cart', '1.0'],
        ['web', '2.0'],
      ]),
      ...overlayFiles('staging', [
        ['cart', '1.1'],
        ['web', '2.0'],
      ]),
    });
    commits['bump production cart'] = await repo.commitFiles(
      overlayFiles('production', [
        ['cart', '1.1'],
        ['web', '2.0'],
      ]),
    );
    commits['broken production'] = await repo.commitFiles({
      'overlays/production/kustomization.yaml': 'resources: [\n',
    });
    commits['fixed production'] = await repo.commitFiles(
      overlayFiles('production', [
        ['cart', '1.2'],
        ['web', '2.0'],
      ]),
    );
    commits['staging deleted'] = await repo.commitFiles({ 'overlays/staging': null });
    commits['staging re-added'] = await repo.commitFiles(
      overlayFiles('staging', [
        ['cart', '1.1'],
        ['web', '2.1'],
      ]),
    );
    // A force push: history rewritten, the new commit does not descend from the old ones.
    await repo.git('checkout', '--quiet', '--orphan', 'rewritten');
    commits['rewritten'] = await repo.commitFiles(
      overlayFiles('production', [
        ['cart', '9.0'],
        ['web', '2.0'],
      ]),
    );
  });
  after(async () => {
    source?.close();
    await repo?.remove();
  });

  const cases: readonly [string, string, string, readonly string[]][] = [
    [
      'a created branch promotes every managed image; external ones are skipped',
      NULL_SHA,
      'initial',
      [
        'production: [shop/cart:1.0 shop/web:2.0] unchanged=0 skipped=1',
        'staging: [shop/cart:1.1 shop/web:2.0] unchanged=0 skipped=1',
      ],
    ],
    [
      'a tag bump promotes only the new image, only where it changed',
      'initial',
      'bump production cart',
      ['production: [shop/cart:1.1] unchanged=1 skipped=1', 'staging: [] unchanged=2 skipped=1'],
    ],
    [
      'a malformed overlay fails that environment only, naming file and line',
      'bump production cart',
      'broken production',
      ['production: failed: overlays/production/kustomization.yaml:', 'staging: [] unchanged=2 skipped=1'],
    ],
    [
      'the push fixing a malformed overlay plans it as new, with a warning',
      'broken production',
      'fixed production',
      [
        'production: [shop/cart:1.2 shop/web:2.0] unchanged=0 skipped=1 warnings=overlay could not be read at',
        'staging: [] unchanged=2 skipped=1',
      ],
    ],
    [
      'a deleted overlay promotes nothing',
      'fixed production',
      'staging deleted',
      ['production: [] unchanged=2 skipped=1', 'staging: [] unchanged=0 skipped=0'],
    ],
    [
      'an overlay that did not exist before promotes every managed image',
      'staging deleted',
      'staging re-added',
      ['production: [] unchanged=2 skipped=1', 'staging: [shop/cart:1.1 shop/web:2.1] unchanged=0 skipped=1'],
    ],
    [
      'a force push compares the two trees, ancestry does not matter',
      'staging re-added',
      'rewritten',
      ['production: [shop/cart:9.0] unchanged=1 skipped=1', 'staging: [] unchanged=2 skipped=1'],
    ],
    [
      'an overlay missing before and after fails, naming the overlay path',
      'staging deleted',
      'staging deleted',
      [
        'production: [] unchanged=2 skipped=1',
        'staging: failed: overlays/staging: overlay of environment staging does not exist at',
      ],
    ],
    [
      'an overlay missing on a created branch fails',
      NULL_SHA,
      'staging deleted',
      [
        'production: [shop/cart:1.2 shop/web:2.0] unchanged=0 skipped=1',
        'staging: failed: overlays/staging: overlay of environment staging does not exist at',
      ],
    ],
    [
      'a deleted branch (after = null SHA) promotes nothing',
      'initial',
      NULL_SHA,
      ['production: [] unchanged=0 skipped=0', 'staging: [] unchanged=0 skipped=0'],
    ],
    [
      'an unreadable before (a force push over a collected commit) plans everything as new, with a warning',
      'gone-revision',
      'initial',
      [
        'production: [shop/cart:1.0 shop/web:2.0] unchanged=0 skipped=1 warnings=revision gone-revision could not be read (unknown revision "gone-revision"',
        'staging: [shop/cart:1.1 shop/web:2.0] unchanged=0 skipped=1 warnings=revision gone-revision could not be read',
      ],
    ],
    [
      'an unknown revision fails every environment with a one-line git error',
      'initial',
      'no-such-revision',
      [
        'production: failed: unknown revision "no-such-revision"',
        'staging: failed: unknown revision "no-such-revision"',
      ],
    ],
  ];
  for (const [name, beforeName, afterName, expected] of cases) {
    it(name, async () => {
      // Prepare
      const beforeRev = commits[beforeName] ?? beforeName;
      const afterRev = commits[afterName] ?? afterName;

      // Act
      const results = await planPush(source, CONFIG, beforeRev, afterRev);

      // Assess
      const got = describeResults(results);
      assert.equal(got.length, expected.length);
      expected.forEach((want, i) => {
        const line = got[i]!;
        assert.ok(line.startsWith(want), `\n  got:  ${line}\n  want: ${want}`);
      });
    });
  }

  it('throws retryable errors of the FileSource instead of failing the environment', async () => {
    // Prepare: the real repository behind a source whose outside system is down for one revision.
    const flaky: FileSource = {
      kindOf: (rev, path) => source.kindOf(rev, path),
      listDirectory: (rev, path) => source.listDirectory(rev, path),
      readFile: (rev, path) =>
        rev === commits['initial']
          ? Promise.reject(new GitHubError('GitHub answered 503', 503))
          : source.readFile(rev, path),
    };

    // Act
    const plan = planPush(flaky, CONFIG, commits['initial']!, commits['bump production cart']!);

    // Assess
    await assert.rejects(plan, (e: unknown) => e instanceof GitHubError && e.retryable);
  });
});
