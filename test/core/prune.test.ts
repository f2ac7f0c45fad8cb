import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseImageRef, type ImageRef } from '../../lambdas/core/image-ref';
import {
  attachedTagSubject,
  isWindowFull,
  planPrune,
  rollbackWindow,
  type PruneInput,
  type StoredManifest,
} from '../../lambdas/core/prune';

const DST = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
const IMAGE = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';

function digest(n: number): string {
  return `sha256:${n.toString(16).padStart(64, '0')}`;
}

function ref(text: string): ImageRef {
  return parseImageRef(`${DST}/${text}`);
}

function image(n: number, tags: readonly string[] = [], extra: Partial<StoredManifest> = {}): StoredManifest {
  return { digest: digest(n), tags, mediaType: IMAGE, children: [], ...extra };
}

function input(overrides: Partial<PruneInput>): PruneInput {
  return {
    environment: 'production',
    registry: DST,
    repositories: [],
    head: [],
    history: [],
    keep: 2,
    protectedDigests: [],
    ...overrides,
  };
}

function removed(plan: ReturnType<typeof planPrune>): readonly string[] {
  return plan.removals.map((r) => `${r.repository}@${r.digest}`);
}

describe('planPrune', () => {
  it('keeps the head and the last N versions, removes older ones and never-deployed tags', () => {
    // Prepare: api:1..5 deployed in turn (5 at the head), pr-7 pushed by a pull request never merged.
    const repositories = [
      {
        repository: 'shop/api',
        manifests: [1, 2, 3, 4, 5].map((n) => image(n, [`${n}.0`])).concat(image(7, ['pr-7'])),
      },
    ];
    const history = [4, 3, 2, 1].map((n) => [ref(`shop/api:${n}.0`)]);

    // Act
    const plan = planPrune(input({ repositories, head: [ref('shop/api:5.0')], history, keep: 2 }));

    // Assess
    assert.deepEqual(
      plan.kept.map((k) => [k.tags[0], k.reason]),
      [
        ['3.0', 'rollback window: 2nd previous version (3.0)'],
        ['4.0', 'rollback window: 1st previous version (4.0)'],
        ['5.0', 'deployed at the head (5.0)'],
      ],
    );
    assert.deepEqual(
      plan.removals.map((r) => [r.tags[0], r.reason]),
      [
        ['1.0', 'outside the rollback window: deployed before the last versions kept'],
        ['2.0', 'outside the rollback window: deployed before the last versions kept'],
        ['pr-7', 'not deployed at the head nor one of the last 2 versions deployed before'],
      ],
    );
  });

  it('counts a version once however many commits deployed it, and the head never twice', () => {
    const history = [
      [ref('shop/api:5.0')],
      [ref('shop/api:4.0')],
      [ref('shop/api:4.0')],
      [ref('shop/api:3.0')],
    ];
    const { window } = rollbackWindow([ref('shop/api:5.0')], history, 2);
    assert.deepEqual(
      window.get('shop/api')?.map((r) => r.tag),
      ['4.0', '3.0'],
    );
    assert.equal(isWindowFull(['shop/api'], [ref('shop/api:5.0')], history, 2), true);
    assert.equal(isWindowFull(['shop/api', 'shop/web'], [ref('shop/api:5.0')], history, 2), false);
  });

  it('keeps a digest another environment deploys, and what a kept image carries', () => {
    // Prepare: index 10 (children 11, 12) with a cosign signature tag and an OCI referrer (subject);
    // staging deploys it. Image 20 is abandoned with a signature 21 (sha256-<hex>.sig) and a referrer 22.
    const manifests = [
      { ...image(10, ['rc-1']), mediaType: INDEX, children: [digest(11), digest(12)] },
      image(11),
      image(12),
      image(13, [`${digest(10).replace(':', '-')}.sig`]),
      image(14, [], { subject: digest(10) }),
      image(20, ['pr-9']),
      image(21, [`${digest(20).replace(':', '-')}.sig`]),
      image(22, [], { subject: digest(20) }),
    ];

    // Act
    const plan = planPrune(
      input({
        repositories: [{ repository: 'shop/api', manifests }],
        protectedDigests: [{ digest: digest(10), reason: 'deployed by staging' }],
      }),
    );

    // Assess
    assert.deepEqual(
      plan.kept.map((k) => [k.digest, k.reason.split(' sha256')[0]]),
      [
        [digest(10), 'deployed by staging'],
        [digest(11), 'listed by kept index'],
        [digest(12), 'listed by kept index'],
        [digest(13), 'referrer or signature of kept'],
        [digest(14), 'referrer or signature of kept'],
      ],
    );
    // The signature and the referrer go first, then the image they are attached to.
    assert.deepEqual(removed(plan), [
      `shop/api@${digest(21)}`,
      `shop/api@${digest(22)}`,
      `shop/api@${digest(20)}`,
    ]);
    assert.match(plan.removals[0]!.reason, /^referrer or signature of removed sha256:0{12}/);
  });

  it('removes an index before its platforms, and an untagged manifest nothing kept refers to', () => {
    const manifests = [
      { ...image(30, ['old']), mediaType: INDEX, children: [digest(31), digest(32)] },
      image(31),
      image(32),
      image(40),
    ];
    const plan = planPrune(input({ repositories: [{ repository: 'shop/web', manifests }] }));
    assert.deepEqual(removed(plan), [
      `shop/web@${digest(30)}`,
      `shop/web@${digest(40)}`,
      `shop/web@${digest(31)}`,
      `shop/web@${digest(32)}`,
    ]);
    assert.deepEqual(
      plan.removals.map((r) => r.reason.split(' sha256')[0]),
      [
        'never deployed by the overlay in the history read (e.g. an abandoned pull request)',
        'untagged and referenced by nothing kept',
        'listed only by removed index',
        'listed only by removed index',
      ],
    );
  });

  it('keeps a platform shared by a kept index and a removed one', () => {
    const manifests = [
      { ...image(50, ['2.0']), mediaType: INDEX, children: [digest(51), digest(52)] },
      { ...image(60, ['1.0']), mediaType: INDEX, children: [digest(51), digest(62)] },
      image(51),
      image(52),
      image(62),
    ];
    const plan = planPrune(
      input({ repositories: [{ repository: 'shop/web', manifests }], head: [ref('shop/web:2.0')], keep: 0 }),
    );
    assert.deepEqual(removed(plan), [`shop/web@${digest(60)}`, `shop/web@${digest(62)}`]);
  });

  it('resolves a pinned reference by digest and a tag by what the destination tag points at', () => {
    const manifests = [image(70, ['moved']), image(71, ['other'])];
    const plan = planPrune(
      input({
        repositories: [{ repository: 'shop/db', manifests }],
        head: [ref(`shop/db:stale@${digest(71)}`)],
        keep: 0,
      }),
    );
    assert.deepEqual(removed(plan), [`shop/db@${digest(70)}`]);
  });

  it('ignores references to other registries', () => {
    const plan = planPrune(
      input({
        repositories: [{ repository: 'shop/api', manifests: [image(80, ['1.0'])] }],
        head: [parseImageRef('other.example.com/shop/api:1.0')],
        keep: 0,
      }),
    );
    assert.deepEqual(removed(plan), [`shop/api@${digest(80)}`]);
  });
});

describe('attachedTagSubject', () => {
  it('reads the referrers tag scheme and cosign tags, nothing else', () => {
    const hex = 'a'.repeat(64);
    assert.equal(attachedTagSubject(`sha256-${hex}`), `sha256:${hex}`);
    assert.equal(attachedTagSubject(`sha256-${hex}.sig`), `sha256:${hex}`);
    assert.equal(attachedTagSubject(`sha256-${hex}.att`), `sha256:${hex}`);
    assert.equal(attachedTagSubject('1.0'), undefined);
    assert.equal(attachedTagSubject(`sha256-${hex.slice(1)}`), undefined);
  });
});
