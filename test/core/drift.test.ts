import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig, type EnvironmentConfig } from '../../lambdas/core/config';
import {
  checkEnvironmentDrift,
  classifyDrift,
  countDrift,
  driftedImages,
  reconcileJobs,
  type DriftState,
  type ManifestLookup,
} from '../../lambdas/core/drift';
import { formatImageRef, parseImageRef } from '../../lambdas/core/image-ref';

const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const DST = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

function environment(): EnvironmentConfig {
  return parseConfig(
    JSON.stringify({
      github: { repository: 'acme/k8s-overlays' },
      environments: [
        {
          name: 'production',
          overlay: 'overlays/production',
          source: { registry: SRC },
          destination: { registry: DST },
          repositories: ['shop/**'],
        },
      ],
    }),
  ).environments[0]!;
}

/** A registry's answers as `repository:reference -> digest` (what a manifest HEAD would say). */
function lookup(entries: Readonly<Record<string, string>>, calls: string[] = []): ManifestLookup {
  return {
    digestOf: (repository, reference) => {
      calls.push(`${repository}:${reference}`);
      return Promise.resolve(entries[`${repository}:${reference}`]);
    },
  };
}

describe('classifyDrift', () => {
  const cases: readonly {
    readonly name: string;
    readonly reference: string;
    readonly source: string | undefined;
    readonly destination: string | undefined;
    readonly state: DriftState;
  }[] = [
    { name: 'same digest', reference: 'shop/a:1', source: D1, destination: D1, state: 'in-place' },
    {
      name: 'destination lacks it',
      reference: 'shop/a:1',
      source: D1,
      destination: undefined,
      state: 'missing',
    },
    { name: 'tag moved', reference: 'shop/a:1', source: D1, destination: D2, state: 'digest-differs' },
    {
      name: 'nowhere',
      reference: 'shop/a:1',
      source: undefined,
      destination: undefined,
      state: 'missing-at-source',
    },
    {
      name: 'source lost the tag',
      reference: 'shop/a:1',
      source: undefined,
      destination: D2,
      state: 'in-place',
    },
    {
      name: 'pinned digest present',
      reference: `shop/a@${D1}`,
      source: undefined,
      destination: D1,
      state: 'in-place',
    },
    {
      name: 'tag@digest with the tag elsewhere',
      reference: `shop/a:1@${D1}`,
      source: D1,
      destination: D2,
      state: 'digest-differs',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      // Act
      const state = classifyDrift(parseImageRef(`${DST}/${c.reference}`), {
        source: c.source,
        destination: c.destination,
      });
      // Assess
      assert.equal(state, c.state);
    });
  }
});

describe('checkEnvironmentDrift', () => {
  it('observes every managed image once per side and skips what the environment does not manage', async () => {
    // Prepare
    const images = {
      images: [
        `${DST}/shop/api:2.0.0`,
        `${DST}/shop/web:1.0`,
        `${DST}/shop/cart@${D1}`,
        `${DST}/shop/gone:3`,
        `${DST}/shop/moved:4`,
        `${DST}/internal/tool:7`,
        'nginx:1.25',
      ],
      warnings: [],
    };
    const sourceCalls: string[] = [];
    const destinationCalls: string[] = [];
    const source = lookup(
      { 'shop/api:2.0.0': D1, 'shop/web:1.0': D1, [`shop/cart:${D1}`]: D1, 'shop/moved:4': D1 },
      sourceCalls,
    );
    const destination = lookup(
      { 'shop/web:1.0': D1, [`shop/cart:${D1}`]: D1, 'shop/moved:4': D2 },
      destinationCalls,
    );

    // Act
    const drift = await checkEnvironmentDrift(environment(), 'abc', images, source, destination);

    // Assess
    assert.deepEqual(
      drift.images.map((i) => `${formatImageRef(i.destination)} ${i.state}`),
      [
        `${DST}/shop/api:2.0.0 missing`,
        `${DST}/shop/cart@${D1} in-place`,
        `${DST}/shop/gone:3 missing-at-source`,
        `${DST}/shop/moved:4 digest-differs`,
        `${DST}/shop/web:1.0 in-place`,
      ],
    );
    assert.deepEqual(
      drift.skipped.map((s) => s.image),
      [`${DST}/internal/tool:7`, 'nginx:1.25'],
    );
    assert.equal(sourceCalls.length, 5);
    assert.equal(destinationCalls.length, 5);
    assert.deepEqual(countDrift(drift.images), {
      'in-place': 2,
      missing: 1,
      'digest-differs': 1,
      'missing-at-source': 1,
    });
    assert.equal(driftedImages(drift).length, 3);
    assert.equal(drift.images[0]!.expectedDigest, D1);
  });
});

describe('reconcileJobs', () => {
  it('turns only the missing images into jobs pinned to the digest checked, 500 per job', async () => {
    // Prepare: 501 missing images, one conflict.
    const tags = Array.from({ length: 501 }, (_, i) => `${DST}/shop/app${i}:1`);
    const entries = Object.fromEntries(tags.map((_, i) => [`shop/app${i}:1`, D1]));
    const drift = await checkEnvironmentDrift(
      environment(),
      'abc',
      { images: [...tags, `${DST}/shop/moved:4`], warnings: [] },
      lookup({ ...entries, 'shop/moved:4': D1 }),
      lookup({ 'shop/moved:4': D2 }),
    );
    const identity = {
      runId: '20261206-1',
      repository: 'acme/k8s-overlays',
      ref: 'refs/heads/main',
      commit: 'a'.repeat(40),
      requestedBy: 'scheduled reconcile',
      requestedAt: '2026-12-06T10:00:00Z',
    };

    // Act
    const jobs = reconcileJobs(drift, identity);

    // Assess
    assert.deepEqual(
      jobs.map((j) => [j.deliveryId, j.promotions.length]),
      [
        ['reconcile-20261206-1-production-0', 500],
        ['reconcile-20261206-1-production-1', 1],
      ],
    );
    assert.equal(jobs[0]!.promotions[0]!.source, `${SRC}/shop/app0:1@${D1}`);
    assert.equal(jobs[0]!.promotions[0]!.destination, `${DST}/shop/app0:1`);
    assert.ok(jobs.every((j) => j.promotions.every((p) => !p.destination.includes('moved'))));
    assert.equal(jobs[0]!.pusher, 'scheduled reconcile');
  });
});
