// Pure classification of verified `pull_request` deliveries: which are planned (merge base -> head,
// reported on the head commit), in which mode, and why every other one is ignored.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig, type Config } from '../../lambdas/core/config';
import { classifyPullRequest, pullRequestAsPush } from '../../lambdas/core/pull-request-event';
import { classifyDelivery } from '../../lambdas/core/push-event';
import { pullRequestPayload, type PullRequestFields } from '../webhook/fixtures';

const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const DST = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
const BASE = 'a'.repeat(40);
const HEAD = 'b'.repeat(40);
const NOW = new Date('2026-02-03T04:05:06Z');

function configWith(pullRequests?: string): Config {
  return parseConfig(
    JSON.stringify({
      github: {
        repository: 'Acme/Deploy',
        branches: ['main', 'release/*'],
        ...(pullRequests === undefined ? {} : { pullRequests }),
      },
      environments: [
        { name: 'prod', overlay: 'overlays/prod', source: { registry: SRC }, destination: { registry: DST } },
      ],
    }),
  );
}

const payload = (fields: Partial<PullRequestFields> = {}): Record<string, unknown> =>
  pullRequestPayload({
    repository: 'acme/deploy',
    action: 'opened',
    baseSha: BASE,
    headSha: HEAD,
    number: 7,
    ...fields,
  });

describe('classifyPullRequest', () => {
  it('an opened pull request into main is planned in promote mode (the default)', () => {
    // Act
    const decision = classifyDelivery('pull_request', payload(), configWith(), NOW);
    // Assess
    assert.deepEqual(decision, {
      kind: 'plan-pull-request',
      pullRequest: {
        repository: 'Acme/Deploy',
        number: 7,
        action: 'opened',
        baseBranch: 'main',
        baseSha: BASE,
        headSha: HEAD,
        headBranch: 'promote/api-1.1',
        mode: 'promote',
        author: 'Codertocat',
        updatedAt: '2019-05-15T15:20:33.000Z',
      },
    });
  });

  const cases: readonly {
    readonly name: string;
    readonly fields?: Partial<PullRequestFields>;
    readonly mode?: string;
    readonly tweak?: (p: Record<string, unknown>) => unknown;
    readonly expect: string;
  }[] = [
    { name: 'synchronize', fields: { action: 'synchronize' }, expect: 'plan promote' },
    { name: 'reopened', fields: { action: 'reopened' }, expect: 'plan promote' },
    { name: 'into a release branch (glob)', fields: { baseRef: 'release/2.0' }, expect: 'plan promote' },
    { name: 'plan mode', mode: 'plan', expect: 'plan plan' },
    {
      name: 'from a fork: planned only',
      fields: { headRepository: 'stranger/deploy' },
      expect: 'plan plan (pull request from a fork: planned only, promoted by the push after the merge)',
    },
    {
      name: 'from a deleted fork: planned only',
      fields: { headRepository: null },
      expect: 'plan plan (pull request from a fork: planned only, promoted by the push after the merge)',
    },
    {
      name: 'from a fork in plan mode',
      mode: 'plan',
      fields: { headRepository: 'stranger/deploy' },
      expect: 'plan plan',
    },
    {
      name: 'edited with a new base',
      fields: { action: 'edited' },
      tweak: (p) => ({ ...p, changes: { base: { ref: { from: 'develop' } } } }),
      expect: 'plan promote',
    },
    {
      name: 'edited title only',
      fields: { action: 'edited' },
      tweak: (p) => ({ ...p, changes: { title: { from: 'x' } } }),
      expect: 'ignore pull request action "edited" changes no commits',
    },
    {
      name: 'labeled',
      fields: { action: 'labeled' },
      expect: 'ignore pull request action "labeled" changes no commits',
    },
    {
      name: 'merged',
      fields: { action: 'closed', merged: true },
      expect: 'ignore pull request #7 merged: the push to main plans it (its images are already present)',
    },
    {
      name: 'closed without merging',
      fields: { action: 'closed', merged: false },
      expect:
        'ignore pull request #7 closed without merging: images promoted for it stay until `image-promoter prune` removes them',
    },
    { name: 'pull requests off', mode: 'off', expect: 'ignore pull request #7: github.pullRequests is off' },
    {
      name: 'into an unconfigured branch',
      fields: { baseRef: 'develop' },
      expect:
        'ignore pull request #7 into develop, which is not configured (github.branches: main, release/*)',
    },
    {
      name: 'another repository',
      fields: { repository: 'acme/other' },
      expect: 'ignore pull request in acme/other, not Acme/Deploy',
    },
    {
      name: 'head SHA invalid',
      fields: { headSha: 'HEAD' },
      expect: 'invalid not a pull_request payload: pull_request.head.sha: must be a 40-character commit SHA',
    },
    {
      name: 'no pull_request object',
      tweak: (p) => ({ ...p, pull_request: undefined }),
      expect:
        'invalid not a pull_request payload: pull_request: Invalid input: expected object, received undefined',
    },
  ];
  for (const c of cases) {
    it(`${c.name} -> ${c.expect.split(' ')[0]}`, () => {
      // Prepare
      const body = payload(c.fields);
      // Act
      const decision = classifyPullRequest(c.tweak ? c.tweak(body) : body, configWith(c.mode), NOW);
      // Assess
      const summary =
        decision.kind === 'plan-pull-request'
          ? `plan ${decision.pullRequest.mode}${decision.pullRequest.planOnlyReason ? ` (${decision.pullRequest.planOnlyReason})` : ''}`
          : `${decision.kind} ${decision.reason}`;
      assert.equal(summary, c.expect);
    });
  }

  it('plans as a push from the merge base to the head, under refs/pull/<n>/head', () => {
    // Prepare
    const decision = classifyPullRequest(payload(), configWith(), NOW);
    assert.equal(decision.kind, 'plan-pull-request');
    // Act
    const push = pullRequestAsPush(decision.pullRequest, 'c'.repeat(40));
    // Assess
    assert.deepEqual(push, {
      repository: 'Acme/Deploy',
      ref: 'refs/pull/7/head',
      branch: 'promote/api-1.1',
      before: 'c'.repeat(40),
      after: HEAD,
      pusher: 'Codertocat',
      pushedAt: '2019-05-15T15:20:33.000Z',
    });
  });
});
