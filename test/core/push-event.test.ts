// Pure classification of verified deliveries and turning plans into jobs and statuses.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../lambdas/core/config';
import { ConfigError, OverlayError } from '../../lambdas/core/errors';
import { parseImageRef } from '../../lambdas/core/image-ref';
import { buildPushOutcome, MAX_PROMOTIONS_PER_JOB } from '../../lambdas/core/jobs-from-plan';
import type { EnvironmentPlan, EnvironmentPlanResult } from '../../lambdas/core/plan';
import { classifyDelivery, extractPayloadText, type PushToPlan } from '../../lambdas/core/push-event';
import { pushPayload } from '../webhook/fixtures';

const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const DST = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const NULL = '0'.repeat(40);
const NOW = new Date('2026-02-03T04:05:06Z');

const config = parseConfig(
  JSON.stringify({
    github: { repository: 'Acme/Deploy', branches: ['main', 'release/*'] },
    environments: [
      { name: 'prod', overlay: 'overlays/prod', source: { registry: SRC }, destination: { registry: DST } },
    ],
  }),
);

describe('classifyDelivery', () => {
  const cases: readonly {
    readonly name: string;
    readonly event: string;
    readonly payload: unknown;
    readonly expect: ReturnType<typeof classifyDelivery>;
  }[] = [
    { name: 'ping', event: 'ping', payload: {}, expect: { kind: 'ping' } },
    {
      name: 'other event',
      event: 'issues',
      payload: {},
      expect: { kind: 'ignore', reason: 'event "issues" is not handled (only push and pull_request)' },
    },
    {
      name: 'push to main (repository name case-insensitive)',
      event: 'push',
      payload: { ...pushPayload({ repository: 'acme/deploy', before: A, after: B }) },
      expect: {
        kind: 'plan',
        push: {
          repository: 'Acme/Deploy',
          ref: 'refs/heads/main',
          branch: 'main',
          before: A,
          after: B,
          pusher: 'Codertocat',
          pushedAt: '2019-05-15T15:20:57.000Z',
        },
      },
    },
    {
      name: 'created release branch matches a glob',
      event: 'push',
      payload: pushPayload({
        repository: 'acme/deploy',
        ref: 'refs/heads/release/2',
        before: NULL,
        after: B,
      }),
      expect: {
        kind: 'plan',
        push: {
          repository: 'Acme/Deploy',
          ref: 'refs/heads/release/2',
          branch: 'release/2',
          before: NULL,
          after: B,
          pusher: 'Codertocat',
          pushedAt: '2019-05-15T15:20:57.000Z',
        },
      },
    },
    {
      name: 'glob does not cross a slash',
      event: 'push',
      payload: pushPayload({
        repository: 'acme/deploy',
        ref: 'refs/heads/release/2/hotfix',
        before: A,
        after: B,
      }),
      expect: {
        kind: 'ignore',
        reason: 'branch release/2/hotfix is not configured (github.branches: main, release/*)',
      },
    },
    {
      name: 'deleted branch',
      event: 'push',
      payload: pushPayload({ repository: 'acme/deploy', before: A, after: NULL }),
      expect: { kind: 'ignore', reason: 'branch main was deleted' },
    },
    {
      name: 'not a push payload',
      event: 'push',
      payload: [1, 2],
      expect: {
        kind: 'invalid',
        reason: 'not a push payload: Invalid input: expected object, received array',
      },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(classifyDelivery(c.event, c.payload, config, NOW), c.expect);
    });
  }

  it('pushed-at falls back to the head commit, then the clock', () => {
    const payload = pushPayload({ repository: 'acme/deploy', before: A, after: B });
    const repository = { ...(payload['repository'] as object), pushed_at: null };
    const fromHead = classifyDelivery('push', { ...payload, repository }, config, NOW);
    const fromClock = classifyDelivery('push', { ...payload, repository, head_commit: null }, config, NOW);
    assert.equal(fromHead.kind === 'plan' && fromHead.push.pushedAt, '2019-05-15T15:19:25.000Z');
    assert.equal(fromClock.kind === 'plan' && fromClock.push.pushedAt, NOW.toISOString());
  });

  it('reads form-encoded payloads', () => {
    assert.equal(
      extractPayloadText('payload=%7B%22a%22%3A1%7D', 'application/x-www-form-urlencoded'),
      '{"a":1}',
    );
    assert.equal(extractPayloadText('{"a":1}', 'application/json; charset=utf-8'), '{"a":1}');
  });
});

describe('buildPushOutcome', () => {
  const push: PushToPlan = {
    repository: 'acme/deploy',
    ref: 'refs/heads/main',
    branch: 'main',
    before: A,
    after: B,
    pusher: 'octocat',
    pushedAt: '2026-01-01T00:00:00.000Z',
  };
  const plan = (environment: string, tags: readonly string[]): EnvironmentPlanResult => ({
    kind: 'planned',
    plan: {
      environment,
      overlay: `overlays/${environment}`,
      promotions: tags.map((tag) => ({
        source: parseImageRef(`${SRC}/shop/api:${tag}`),
        destination: parseImageRef(`${DST}/shop/api:${tag}`),
      })),
      unchanged: [],
      skipped: [],
      warnings: environment === 'dev' ? ['remote resource ignored'] : [],
    } satisfies EnvironmentPlan,
  });

  it('one job per environment with work, a status for every environment', () => {
    // Prepare
    const results: EnvironmentPlanResult[] = [
      plan('prod', ['1.0']),
      plan('dev', []),
      plan('qa', ['1.0', '2.0']),
      {
        kind: 'failed',
        environment: 'broken',
        overlay: 'overlays/broken',
        error: new OverlayError('overlays/broken/kustomization.yaml', 'malformed YAML: bad indentation', 3),
      },
      {
        kind: 'failed',
        environment: 'other',
        overlay: 'overlays/other',
        error: new ConfigError('images[0]', 'newTag must be a string', 'kustomization.yaml'),
      },
    ];
    // Act
    const outcome = buildPushOutcome('d-1', push, results, 'https://dash.example.com');
    // Assess
    assert.deepEqual(
      outcome.jobs.map(
        (j) => `${j.environment} ${j.deliveryId} ${j.commit.slice(0, 4)} ${j.promotions.length}`,
      ),
      ['prod d-1 bbbb 1', 'qa d-1 bbbb 2'],
    );
    assert.deepEqual(
      outcome.statuses.map((s) => `${s.environment} ${s.state} ${s.description}`),
      [
        `prod pending promoting ${DST}/shop/api:1.0`,
        'dev success no image changes',
        'qa pending promoting 2 images',
        'broken failure overlays/broken/kustomization.yaml:3: malformed YAML: bad indentation',
        'other failure overlays/other: kustomization.yaml: images[0]: newTag must be a string',
      ],
    );
    assert.ok(outcome.statuses.every((s) => s.targetUrl === 'https://dash.example.com' && s.commit === B));
    assert.deepEqual(outcome.warnings, ['dev: remote resource ignored']);
    assert.deepEqual(
      outcome.failures.map((f) => f.environment),
      ['broken', 'other'],
    );
  });

  it('an environment over the job limit fails with a status instead of a job', () => {
    const many = Array.from({ length: MAX_PROMOTIONS_PER_JOB + 1 }, (_, i) => `1.${i}`);
    const outcome = buildPushOutcome('d-2', push, [plan('prod', many)]);
    assert.deepEqual(outcome.jobs, []);
    assert.equal(outcome.statuses[0]?.state, 'failure');
    assert.match(outcome.statuses[0]?.description ?? '', /501 new images in one push, over the limit of 500/);
  });

  it('plan mode (pull requests): no jobs, success saying what the push after the merge promotes', () => {
    // Act
    const outcome = buildPushOutcome(
      'd-3',
      push,
      [plan('prod', ['1.0']), plan('qa', ['1.0', '2.0']), plan('dev', [])],
      undefined,
      'plan',
    );
    // Assess
    assert.deepEqual(outcome.jobs, []);
    assert.deepEqual(
      outcome.statuses.map((s) => `${s.environment} ${s.state} ${s.description}`),
      [
        `prod success plan only, promoted after the merge: ${DST}/shop/api:1.0`,
        'qa success plan only, promoted after the merge: 2 images',
        'dev success no image changes',
      ],
    );
  });
});
