// Decisions and descriptions of a promotion attempt: table-driven, pure.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DeniedError,
  ManifestUnknownError,
  RegistryUnavailableError,
  TagConflictError,
} from '../../lambdas/core/errors';
import {
  buildLogsUrl,
  decidePromotionOutcome,
  formatBytes,
  formatDuration,
  selectTargetUrl,
  sessionNameForCommit,
  shortenForStatus,
  summarizePromotion,
  type PromotionAttempt,
} from '../../lambdas/core/promotion-summary';

const HOST = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const DEST = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
const unavailable = new RegistryUnavailableError(`${HOST} answered 503 Service Unavailable; retry later`, {
  registry: HOST,
  status: 503,
});
const missing = new ManifestUnknownError(`manifest unknown: ${HOST}/shop/cart:9.9 does not exist`, {
  registry: HOST,
  repository: 'shop/cart',
});
const denied = new DeniedError('access denied by the registry; check the role policy', { registry: DEST });
const conflict = new TagConflictError(
  `${DEST}/shop/api:1.0`,
  `sha256:${'a'.repeat(64)}`,
  `sha256:${'b'.repeat(64)}`,
  {
    registry: DEST,
    repository: 'shop/api',
  },
);

function attempt(overrides: Partial<PromotionAttempt>): PromotionAttempt {
  return {
    total: 1,
    successes: [],
    failures: [],
    attempt: 1,
    maxAttempts: 5,
    durationMs: 1000,
    ...overrides,
  };
}

describe('decidePromotionOutcome', () => {
  const cases: readonly {
    readonly name: string;
    readonly input: PromotionAttempt;
    readonly kind: string;
    readonly description: string;
  }[] = [
    {
      name: 'all promoted',
      input: attempt({
        total: 3,
        successes: [
          { image: `${DEST}/a:1`, bytesCopied: 600_000_000, alreadyPresent: false },
          { image: `${DEST}/b:1`, bytesCopied: 600_000_000, alreadyPresent: false },
          { image: `${DEST}/c:1`, bytesCopied: 0, alreadyPresent: false },
        ],
        durationMs: 14_200,
      }),
      kind: 'success',
      description: '3 images promoted, 1.2 GB, 14 s',
    },
    {
      name: 'all already present',
      input: attempt({
        total: 2,
        successes: [
          { image: `${DEST}/a:1`, bytesCopied: 0, alreadyPresent: true },
          { image: `${DEST}/b:1`, bytesCopied: 0, alreadyPresent: true },
        ],
      }),
      kind: 'success',
      description: '2 images already present',
    },
    {
      name: 'mixed',
      input: attempt({
        total: 2,
        successes: [
          { image: `${DEST}/a:1`, bytesCopied: 48_000_000, alreadyPresent: false },
          { image: `${DEST}/b:1`, bytesCopied: 0, alreadyPresent: true },
        ],
        durationMs: 2_600,
      }),
      kind: 'success',
      description: '1 image promoted, 1 already present, 48 MB, 3 s',
    },
    {
      name: 'permanent error on the first attempt: failure, repository already named',
      input: attempt({ failures: [{ image: `${HOST}/shop/cart:9.9`, error: missing }] }),
      kind: 'failure',
      description: 'manifest unknown: shop/cart:9.9 does not exist',
    },
    {
      name: 'permanent error wins over a transient one, counted',
      input: attempt({
        total: 3,
        successes: [{ image: `${DEST}/a:1`, bytesCopied: 1, alreadyPresent: false }],
        failures: [
          { image: `${HOST}/shop/web:2`, error: unavailable },
          { image: `${HOST}/shop/api:1.0`, error: denied },
        ],
      }),
      kind: 'failure',
      description: '2 of 3 images failed: shop/api:1.0: access denied by the registry; check the role policy',
    },
    {
      name: 'transient error with attempts left: retry',
      input: attempt({ attempt: 4, failures: [{ image: `${HOST}/shop/web:2`, error: unavailable }] }),
      kind: 'retry',
      description: '',
    },
    {
      name: 'transient error on the last attempt: give up',
      input: attempt({ attempt: 5, failures: [{ image: `${HOST}/shop/web:2`, error: unavailable }] }),
      kind: 'give-up',
      description:
        'gave up after 5 attempts: shop/web:2: ECR 111111111111 answered 503 Service Unavailable; retry later',
    },
    {
      name: 'an unknown error is transient (ends in the DLQ with its stack)',
      input: attempt({ attempt: 1, maxAttempts: 1, failures: [{ error: new TypeError('boom') }] }),
      kind: 'give-up',
      description: 'gave up after 1 attempt: boom',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      // Act
      const decision = decidePromotionOutcome(c.input);
      // Assess
      assert.equal(decision.kind, c.kind);
      if (decision.kind !== 'retry') assert.equal(decision.description, c.description);
    });
  }

  it('shortens hosts and digests, then cuts to 140 characters with an ellipsis', () => {
    // Prepare
    const input = attempt({
      total: 12,
      failures: [
        { image: `${DEST}/shop/api:1.0`, error: conflict },
        ...Array(10).fill({ error: unavailable }),
      ],
    });
    // Act
    const decision = decidePromotionOutcome(input);
    // Assess
    assert.equal(decision.kind, 'failure');
    if (decision.kind === 'failure') {
      assert.equal(decision.description.length, 140);
      assert.equal(
        decision.description,
        '11 of 12 images failed: tag conflict: shop/api:1.0 already points at sha256:aaaaaaaaaaaa, not sha256:bbbbbbbbbbbb; tags are immutable here …',
      );
    }
  });
});

describe('formatting', () => {
  const bytes: readonly (readonly [number, string])[] = [
    [0, '0 B'],
    [999, '999 B'],
    [1500, '1.5 kB'],
    [48_000_000, '48 MB'],
    [1_234_567_890, '1.2 GB'],
  ];
  for (const [input, expected] of bytes) {
    it(`formatBytes(${input}) = ${expected}`, () => assert.equal(formatBytes(input), expected));
  }
  const durations: readonly (readonly [number, string])[] = [
    [850, '850 ms'],
    [14_200, '14 s'],
    [125_000, '2 min 5 s'],
    [120_000, '2 min'],
  ];
  for (const [input, expected] of durations) {
    it(`formatDuration(${input}) = ${expected}`, () => assert.equal(formatDuration(input), expected));
  }
  it('summarizes an empty job', () => assert.equal(summarizePromotion([], 5), 'nothing to promote'));
  it('names the commit in the session name', () =>
    assert.equal(
      sessionNameForCommit('0123456789abcdef0123456789abcdef01234567'),
      'image-promoter-0123456789ab',
    ));
});

describe('shortenForStatus', () => {
  const cases: readonly (readonly [string, string])[] = [
    [
      `manifest ${HOST}/shop/api:1.0: ${HOST} answered 404`,
      'manifest shop/api:1.0: ECR 111111111111 answered 404',
    ],
    [`${DEST}/a@sha256:${'c'.repeat(64)} differs`, `a@sha256:${'c'.repeat(12)} differs`],
    ['127.0.0.1:5000/shop/api:1.0 unreachable', '127.0.0.1:5000/shop/api:1.0 unreachable'],
  ];
  for (const [input, expected] of cases) it(expected, () => assert.equal(shortenForStatus(input), expected));
});

describe('target URL', () => {
  it('escapes log group and stream the way the CloudWatch console does', () => {
    assert.equal(
      buildLogsUrl('eu-west-1', '/aws/lambda/worker', '2026/11/24/[$LATEST]abc'),
      'https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1' +
        '#logsV2:log-groups/log-group/$252Faws$252Flambda$252Fworker' +
        '/log-events/2026$252F11$252F24$252F$255B$2524LATEST$255Dabc',
    );
  });
  const cases = [
    {
      name: 'dashboard first',
      input: { dashboardUrl: 'https://d.example/x', region: 'r', logGroup: 'g' },
      url: 'https://d.example/x',
    },
    { name: 'else logs', input: { region: 'us-east-1', logGroup: 'g' }, url: buildLogsUrl('us-east-1', 'g') },
    { name: 'else nothing', input: { region: 'us-east-1' }, url: undefined },
  ] as const;
  for (const c of cases) it(c.name, () => assert.equal(selectTargetUrl(c.input), c.url));
});
