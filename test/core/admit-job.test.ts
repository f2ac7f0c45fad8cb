import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { admitPromotionJob, REJECTION_REASONS, type RejectionReason } from '../../lambdas/core/admit-job';
import { validateConfig } from '../../lambdas/core/config';
import { validatePromotionJob, type PromotionJob } from '../../lambdas/core/job';

const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const DST = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
const OTHER = '333333333333.dkr.ecr.us-east-1.amazonaws.com';
const DIGEST = `sha256:${'a'.repeat(64)}`;
const OTHER_DIGEST = `sha256:${'b'.repeat(64)}`;

const CONFIG = validateConfig({
  github: { repository: 'acme/overlays' },
  environments: [
    {
      name: 'prod',
      overlay: 'overlays/prod',
      source: { registry: SRC },
      destination: { registry: DST },
      repositories: ['shop/**', 'base/node'],
    },
    {
      name: 'staging',
      overlay: 'overlays/staging',
      source: { registry: OTHER },
      destination: { registry: SRC },
    },
  ],
});

function job(
  promotions: readonly (readonly [string, string])[],
  overrides: Partial<PromotionJob> = {},
): PromotionJob {
  return validatePromotionJob({
    version: 1,
    deliveryId: 'd-1',
    repository: 'acme/overlays',
    ref: 'refs/heads/main',
    commit: 'c'.repeat(40),
    environment: 'prod',
    pusher: 'octocat',
    pushedAt: '2026-01-01T00:00:00Z',
    promotions: promotions.map(([source, destination]) => ({ source, destination })),
    ...overrides,
  });
}

describe('admitPromotionJob', () => {
  const admitted: readonly [string, PromotionJob][] = [
    ['a tag', job([[`${SRC}/shop/cart:1.0`, `${DST}/shop/cart:1.0`]])],
    ['a nested path under shop/**', job([[`${SRC}/shop/cart/api:2`, `${DST}/shop/cart/api:2`]])],
    [
      'a digest-pinned tag keeping its tag',
      job([[`${SRC}/shop/cart:1.0@${DIGEST}`, `${DST}/shop/cart:1.0`]]),
    ],
    [
      'a digest-pinned tag naming the digest on both sides',
      job([[`${SRC}/base/node:20@${DIGEST}`, `${DST}/base/node:20@${DIGEST}`]]),
    ],
    ['a digest alone', job([[`${SRC}/shop/cart@${DIGEST}`, `${DST}/shop/cart@${DIGEST}`]])],
    [
      'a digest alone, destination by digest implied',
      job([[`${SRC}/shop/cart@${DIGEST}`, `${DST}/shop/cart`]]),
    ],
    [
      'the GitHub repository in another case',
      job([[`${SRC}/shop/a:1`, `${DST}/shop/a:1`]], { repository: 'Acme/Overlays' }),
    ],
    [
      'an environment without an allowlist',
      job([[`${OTHER}/any/thing:1`, `${SRC}/any/thing:1`]], { environment: 'staging' }),
    ],
  ];
  for (const [what, input] of admitted) {
    it(`admits ${what}`, () => {
      // Act
      const admission = admitPromotionJob(CONFIG, input);
      // Assess
      assert.equal(admission.admitted, true, JSON.stringify(admission));
      assert.equal(admission.admitted && admission.environment.name, input.environment);
    });
  }

  // what, job, reason, reportable, message
  const refused: readonly [string, PromotionJob, RejectionReason, boolean, string][] = [
    [
      'a foreign GitHub repository (never reported on)',
      job([[`${SRC}/shop/a:1`, `${DST}/shop/a:1`]], { repository: 'evil/overlays' }),
      REJECTION_REASONS.foreignGitHubRepository,
      false,
      'job for GitHub repository evil/overlays, but this worker serves acme/overlays',
    ],
    [
      'an unknown environment',
      job([[`${SRC}/shop/a:1`, `${DST}/shop/a:1`]], { environment: 'qa' }),
      REJECTION_REASONS.unknownEnvironment,
      true,
      `environment "qa" is not in this worker's configuration (prod, staging)`,
    ],
    [
      "another environment's source registry",
      job([[`${OTHER}/shop/a:1`, `${DST}/shop/a:1`]]),
      REJECTION_REASONS.sourceRegistry,
      true,
      `${OTHER}/shop/a:1 is not in prod's source registry ${SRC}`,
    ],
    [
      'a destination registry that is not the environment’s',
      job([[`${SRC}/shop/a:1`, `${OTHER}/shop/a:1`]]),
      REJECTION_REASONS.destinationRegistry,
      true,
      `${OTHER}/shop/a:1 is not in prod's destination registry ${DST}`,
    ],
    [
      'a repository outside the allowlist',
      job([[`${SRC}/internal/secrets:1`, `${DST}/internal/secrets:1`]]),
      REJECTION_REASONS.repositoryNotAllowed,
      true,
      "repository internal/secrets is not in prod's allowlist (shop/**, base/node)",
    ],
    [
      'a repository whose prefix only looks allowed',
      job([[`${SRC}/shopping/cart:1`, `${DST}/shopping/cart:1`]]),
      REJECTION_REASONS.repositoryNotAllowed,
      true,
      "repository shopping/cart is not in prod's allowlist (shop/**, base/node)",
    ],
    [
      'a source path renamed to an allowed destination path',
      job([[`${SRC}/internal/secrets:1`, `${DST}/shop/cart:1`]]),
      REJECTION_REASONS.repositoryRenamed,
      true,
      `${SRC}/internal/secrets:1 would be copied to another repository path (shop/cart); a promotion keeps the path`,
    ],
    [
      'a tag renamed',
      job([[`${SRC}/shop/cart:1.0-rc1`, `${DST}/shop/cart:1.0`]]),
      REJECTION_REASONS.tagRenamed,
      true,
      `${SRC}/shop/cart:1.0-rc1 would be tagged 1.0 at the destination; a promotion keeps the tag`,
    ],
    [
      'a digest-pinned tag losing its tag',
      job([[`${SRC}/shop/cart:1.0@${DIGEST}`, `${DST}/shop/cart@${DIGEST}`]]),
      REJECTION_REASONS.tagRenamed,
      true,
      `${SRC}/shop/cart:1.0@${DIGEST} would be tagged (no tag) at the destination; a promotion keeps the tag`,
    ],
    [
      'a digest-only source given a tag',
      job([[`${SRC}/shop/cart@${DIGEST}`, `${DST}/shop/cart:latest`]]),
      REJECTION_REASONS.tagRenamed,
      true,
      `${SRC}/shop/cart@${DIGEST} would be tagged latest at the destination; a promotion keeps the tag`,
    ],
    [
      'a destination naming another digest',
      job([[`${SRC}/shop/cart:1@${DIGEST}`, `${DST}/shop/cart:1@${OTHER_DIGEST}`]]),
      REJECTION_REASONS.digestChanged,
      true,
      `${DST}/shop/cart:1@${OTHER_DIGEST} names another digest than its source ${SRC}/shop/cart:1@${DIGEST}`,
    ],
    [
      'one bad promotion among good ones (the whole job)',
      job([
        [`${SRC}/shop/a:1`, `${DST}/shop/a:1`],
        [`${SRC}/shop/b:1`, `${DST}/shop/b:2`],
        [`${SRC}/shop/c:1`, `${DST}/shop/c:1`],
      ]),
      REJECTION_REASONS.tagRenamed,
      true,
      `${SRC}/shop/b:1 would be tagged 2 at the destination; a promotion keeps the tag`,
    ],
  ];
  for (const [what, input, reason, reportable, message] of refused) {
    it(`refuses ${what}`, () => {
      // Act
      const admission = admitPromotionJob(CONFIG, input);
      // Assess
      assert.equal(admission.admitted, false);
      assert.ok(!admission.admitted);
      assert.equal(admission.rejection.reason, reason);
      assert.equal(admission.rejection.message, message);
      assert.equal(admission.reportable, reportable);
    });
  }
});
