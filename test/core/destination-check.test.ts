// The webhook's destination check, pure: the verdict from what the destination serves, the budget
// and the failures that degrade to "unchecked", and what the statuses and jobs become.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkDestinations,
  classifyDestination,
  createCheckBudget,
  describeCheckCounts,
  DESTINATION_VERDICTS,
  type DestinationCheck,
} from '../../lambdas/core/destination-check';
import type { ManifestLookup } from '../../lambdas/core/drift';
import { describeError, RegistryUnavailableError } from '../../lambdas/core/errors';
import { parseImageRef } from '../../lambdas/core/image-ref';
import { buildPushOutcome } from '../../lambdas/core/jobs-from-plan';
import type { EnvironmentPlanResult, PlannedPromotion } from '../../lambdas/core/plan';
import type { PushToPlan } from '../../lambdas/core/push-event';

const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const DST = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

/** `shop/api:1.0` or `shop/api:1.0@<digest>`: the same reference on both sides. */
const promotion = (reference: string): PlannedPromotion => ({
  source: parseImageRef(`${SRC}/${reference}`),
  destination: parseImageRef(`${DST}/${reference}`),
});

describe('classifyDestination', () => {
  const cases: readonly {
    readonly name: string;
    readonly reference: string;
    readonly observed: string | undefined;
    readonly overwrite?: boolean;
    readonly verdict: string;
  }[] = [
    { name: 'pinned, present', reference: `shop/api:1.0@${D1}`, observed: D1, verdict: 'already present' },
    { name: 'pinned, tag elsewhere', reference: `shop/api:1.0@${D1}`, observed: D2, verdict: 'conflict' },
    {
      name: 'pinned, tag elsewhere, copy.overwrite',
      reference: `shop/api:1.0@${D1}`,
      observed: D2,
      overwrite: true,
      verdict: 'would copy',
    },
    { name: 'pinned, absent', reference: `shop/api:1.0@${D1}`, observed: undefined, verdict: 'would copy' },
    {
      name: 'by digest only, present',
      reference: `shop/api@${D1}`,
      observed: D1,
      verdict: 'already present',
    },
    {
      name: 'by digest only, absent',
      reference: `shop/api@${D1}`,
      observed: undefined,
      verdict: 'would copy',
    },
    // Only the source's digest could tell "already present" from "conflict": the worker decides.
    { name: 'tag only, present', reference: 'shop/api:1.0', observed: D1, verdict: 'unchecked' },
    { name: 'tag only, absent', reference: 'shop/api:1.0', observed: undefined, verdict: 'would copy' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const check = classifyDestination(promotion(c.reference), c.observed, c.overwrite ?? false);
      assert.equal(check.verdict, c.verdict);
      assert.equal(check.destinationDigest, c.observed);
    });
  }
});

describe('checkDestinations', () => {
  /** A registry of tag -> digest, counting questions; `fail` names references that throw. */
  const registry = (
    content: Readonly<Record<string, string>>,
    fail: readonly string[] = [],
  ): ManifestLookup & { readonly asked: string[] } => {
    const asked: string[] = [];
    return {
      asked,
      digestOf: async (repository, reference) => {
        asked.push(`${repository}:${reference}`);
        if (fail.includes(reference)) {
          throw new RegistryUnavailableError(`${DST}: connection refused`, { registry: DST });
        }
        return content[reference];
      },
    };
  };
  const options = (max = 50) => ({
    overwrite: false,
    budget: createCheckBudget(max),
    describe: describeError,
  });

  it('asks the destination once per promotion, by tag, and never throws', async () => {
    // Prepare
    const lookup = registry({ '1.0': D1, '2.0': D2 }, ['3.0']);
    const promotions = [`shop/api:1.0@${D1}`, `shop/api:2.0@${D1}`, 'shop/api:3.0', 'shop/api:4.0'].map(
      promotion,
    );
    // Act
    const checks = await checkDestinations(promotions, lookup, options());
    // Assess
    assert.deepEqual(
      checks.map((c) => c.verdict),
      ['already present', 'conflict', 'unchecked', 'would copy'],
    );
    assert.match(checks[2]!.reason ?? '', /connection refused/);
    assert.deepEqual(lookup.asked.sort(), ['shop/api:1.0', 'shop/api:2.0', 'shop/api:3.0', 'shop/api:4.0']);
  });

  it('stops asking at the budget, shared by every environment of the delivery', async () => {
    // Prepare
    const lookup = registry({});
    const budget = createCheckBudget(5);
    const many = Array.from({ length: 4 }, (_, i) => promotion(`shop/api:1.${i}`));
    // Act: two environments of one delivery
    const first = await checkDestinations(many, lookup, { ...options(), budget });
    const second = await checkDestinations(many, lookup, { ...options(), budget });
    // Assess
    assert.equal(lookup.asked.length, 5);
    assert.equal(budget.used, 5);
    const unchecked = [...first, ...second].filter((c) => c.verdict === DESTINATION_VERDICTS.unchecked);
    assert.equal(unchecked.length, 3);
    assert.match(unchecked[0]!.reason ?? '', /webhook\.maxRegistryChecks/);
  });

  it('counts what the job will do', () => {
    const checks: DestinationCheck[] = [
      { promotion: promotion('a:1'), verdict: 'would copy' },
      { promotion: promotion('b:1'), verdict: 'unchecked' },
      { promotion: promotion('c:1'), verdict: 'already present' },
    ];
    assert.equal(describeCheckCounts(checks), '2 to copy, 1 already present');
  });
});

describe('buildPushOutcome with destination checks', () => {
  const push: PushToPlan = {
    repository: 'acme/deploy',
    ref: 'refs/heads/main',
    branch: 'main',
    before: 'a'.repeat(40),
    after: 'b'.repeat(40),
    pusher: 'octocat',
    pushedAt: '2026-01-01T00:00:00.000Z',
  };
  const plan = (environment: string, references: readonly string[]): EnvironmentPlanResult => ({
    kind: 'planned',
    plan: {
      environment,
      overlay: `overlays/${environment}`,
      promotions: references.map(promotion),
      unchanged: [],
      skipped: [],
      warnings: [],
    },
  });
  const check = (
    reference: string,
    verdict: DestinationCheck['verdict'],
    digest?: string,
  ): DestinationCheck => ({
    promotion: promotion(reference),
    verdict,
    ...(digest === undefined ? {} : { destinationDigest: digest }),
  });

  it('all present: success, no job; a conflict: failure naming both digests, no job; else the job', () => {
    // Prepare
    const results = [
      plan('prod', [`shop/api:1.0@${D1}`, `shop/web:1.0@${D2}`]),
      plan('staging', [`shop/api:1.0@${D1}`, 'shop/web:2.0']),
      plan('qa', [`shop/api:1.0@${D1}`, 'shop/web:2.0', 'shop/db:1.0']),
      plan('dev', ['shop/api:9.0']),
    ];
    const checks = new Map([
      [
        'prod',
        [
          check(`shop/api:1.0@${D1}`, 'already present', D1),
          check(`shop/web:1.0@${D2}`, 'already present', D2),
        ],
      ],
      ['staging', [check(`shop/api:1.0@${D1}`, 'conflict', D2), check('shop/web:2.0', 'would copy')]],
      [
        'qa',
        [
          check(`shop/api:1.0@${D1}`, 'already present', D1),
          check('shop/web:2.0', 'would copy'),
          check('shop/db:1.0', 'unchecked', D2),
        ],
      ],
      // dev: not checked (checks off, or its environment's lookup not built): as before.
    ]);
    // Act
    const outcome = buildPushOutcome('d-1', push, results, undefined, 'promote', checks);
    // Assess
    assert.deepEqual(
      outcome.jobs.map((j) => `${j.environment} ${j.promotions.length}`),
      ['qa 3', 'dev 1'],
    );
    const described = outcome.statuses.map((s) => `${s.environment} ${s.state} ${s.description}`);
    assert.deepEqual(described, [
      'prod success 2 images already present',
      `staging failure tag conflict: shop/api:1.0 already points at sha256:222222222222, not sha256:111111111111; promote a new tag or set copy.overwrite`,
      'qa pending promoting 3 images (2 to copy, 1 already present)',
      `dev pending promoting ${DST}/shop/api:9.0`,
    ]);
    // The check run's summary names both digests in full, and the image rows.
    const conflict = outcome.statuses[1]!.images!.find((image) => image.result === 'failed')!;
    assert.ok(conflict.reason?.includes(D1) && conflict.reason.includes(D2), conflict.reason);
    assert.deepEqual(
      outcome.statuses[2]!.images!.map((image) => image.result),
      ['already present', 'to copy', 'to copy'],
    );
    assert.equal(outcome.statuses[0]!.jobId, undefined);
  });

  it('plan mode says the counts, and fails on a conflict the merge would meet', () => {
    const outcome = buildPushOutcome(
      'd-2',
      push,
      [plan('prod', [`shop/api:1.0@${D1}`, 'shop/web:2.0']), plan('staging', [`shop/api:1.0@${D1}`])],
      undefined,
      'plan',
      new Map([
        ['prod', [check(`shop/api:1.0@${D1}`, 'already present', D1), check('shop/web:2.0', 'would copy')]],
        ['staging', [check(`shop/api:1.0@${D1}`, 'conflict', D2)]],
      ]),
    );
    assert.deepEqual(outcome.jobs, []);
    assert.deepEqual(
      outcome.statuses.map((s) => `${s.environment} ${s.state}`),
      ['prod success', 'staging failure'],
    );
    assert.equal(
      outcome.statuses[0]!.description,
      'plan only, promoted after the merge: 2 images (1 to copy, 1 already present)',
    );
  });
});
