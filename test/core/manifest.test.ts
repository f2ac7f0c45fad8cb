import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  computeDigest,
  cosignTags,
  ManifestFormatError,
  matchesDigest,
  MAX_MANIFEST_BYTES,
  MEDIA_TYPES,
  parseManifest,
  referrersTag,
  type ParsedManifest,
} from '../../lambdas/core/manifest';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const desc = (mediaType: string, c: string, size = 10): Record<string, unknown> => ({
  mediaType,
  digest: d(c),
  size,
});
const bytes = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

describe('parseManifest', () => {
  const cases: readonly {
    readonly name: string;
    readonly body: unknown;
    readonly contentType?: string;
    readonly expect: Partial<ParsedManifest> & { readonly blobDigests?: readonly string[] };
  }[] = [
    {
      name: 'OCI image: config then layers',
      body: {
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config: desc('application/vnd.oci.image.config.v1+json', 'a'),
        layers: [desc('application/vnd.oci.image.layer.v1.tar+gzip', 'b')],
      },
      expect: { kind: 'image', mediaType: MEDIA_TYPES.ociManifest, blobDigests: [d('a'), d('b')] },
    },
    {
      name: 'Docker v2 image without mediaType in the body takes the Content-Type',
      body: { schemaVersion: 2, config: desc('x', 'a'), layers: [] },
      contentType: `${MEDIA_TYPES.dockerManifest}; charset=utf-8`,
      expect: { kind: 'image', mediaType: MEDIA_TYPES.dockerManifest, blobDigests: [d('a')] },
    },
    {
      name: 'OCI index: children, no blobs',
      body: {
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociIndex,
        manifests: [desc(MEDIA_TYPES.ociManifest, 'c'), desc(MEDIA_TYPES.ociManifest, 'e')],
      },
      expect: { kind: 'index', blobDigests: [] },
    },
    {
      name: 'index without mediaType anywhere is recognised by its manifests',
      body: { schemaVersion: 2, manifests: [] },
      expect: { kind: 'index', mediaType: MEDIA_TYPES.ociIndex },
    },
    {
      name: 'foreign (Windows) layers are not blobs to copy',
      body: {
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.dockerManifest,
        config: desc('x', 'a'),
        layers: [
          { ...desc(MEDIA_TYPES.dockerForeignLayer, 'f'), urls: ['https://example.invalid/l'] },
          desc('application/vnd.docker.image.rootfs.diff.tar.gzip', 'b'),
        ],
      },
      expect: { blobDigests: [d('a'), d('b')] },
    },
    {
      name: 'referrer: subject and artifactType',
      body: {
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        artifactType: 'application/spdx+json',
        config: desc('application/vnd.oci.empty.v1+json', 'a', 2),
        layers: [desc('application/spdx+json', 'b')],
        subject: desc(MEDIA_TYPES.ociManifest, 'c'),
      },
      expect: { artifactType: 'application/spdx+json', blobDigests: [d('a'), d('b')] },
    },
    {
      name: 'schema 1: blobSums, duplicates once, size unknown',
      body: {
        schemaVersion: 1,
        name: 'x',
        tag: '1',
        fsLayers: [{ blobSum: d('a') }, { blobSum: d('b') }, { blobSum: d('a') }],
      },
      expect: { kind: 'image', mediaType: MEDIA_TYPES.dockerSchema1Signed, blobDigests: [d('a'), d('b')] },
    },
  ];
  for (const { name, body, contentType, expect } of cases) {
    it(name, () => {
      const parsed = parseManifest(bytes(body), contentType);
      if (expect.kind !== undefined) assert.equal(parsed.kind, expect.kind);
      if (expect.mediaType !== undefined) assert.equal(parsed.mediaType, expect.mediaType);
      if (expect.artifactType !== undefined) assert.equal(parsed.artifactType, expect.artifactType);
      if (expect.blobDigests !== undefined) {
        assert.deepEqual(
          parsed.blobs.map((b) => b.digest),
          expect.blobDigests,
        );
      }
    });
  }

  it('reads the subject of a referrer', () => {
    const parsed = parseManifest(
      bytes({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config: desc('x', 'a'),
        layers: [],
        subject: desc(MEDIA_TYPES.ociIndex, 'c', 99),
      }),
      undefined,
    );
    assert.deepEqual(parsed.subject, { mediaType: MEDIA_TYPES.ociIndex, digest: d('c'), size: 99 });
  });

  const invalid: readonly [string, Uint8Array, RegExp][] = [
    ['not JSON', Buffer.from('{'), /not JSON/],
    ['an array', bytes([]), /not a JSON object/],
    ['schemaVersion 3', bytes({ schemaVersion: 3, config: desc('x', 'a') }), /schemaVersion/],
    ['image without config', bytes({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest }), /no config/],
    [
      'bad digest',
      bytes({ schemaVersion: 2, config: { mediaType: 'x', digest: 'sha256:abc', size: 1 } }),
      /config\.digest/,
    ],
    [
      'negative size',
      bytes({ schemaVersion: 2, config: { mediaType: 'x', digest: d('a'), size: -1 } }),
      /config\.size/,
    ],
    [
      'manifests not an array',
      bytes({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: {} }),
      /manifests is not an array/,
    ],
    ['unknown type', bytes({ schemaVersion: 2 }), /unknown manifest media type/],
    ['too large', Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20), /over/],
  ];
  for (const [name, input, reason] of invalid) {
    it(`rejects ${name}`, () => {
      assert.throws(
        () => parseManifest(input, undefined),
        (e: unknown) => e instanceof ManifestFormatError && reason.test(e.reason),
      );
    });
  }
});

describe('digests and referrer tags', () => {
  it('computes and matches digests over exact bytes', () => {
    const compact = Buffer.from('{"a":1}');
    const spaced = Buffer.from('{"a": 1}');
    const digest = computeDigest(compact);
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(matchesDigest(compact, digest), true);
    assert.equal(matchesDigest(spaced, digest), false);
    assert.equal(matchesDigest(compact, computeDigest(compact, 'sha512')), true);
    assert.equal(matchesDigest(compact, `md5:${'0'.repeat(32)}`), false);
  });

  it('names the referrers fallback tag and cosign tags', () => {
    assert.equal(referrersTag(d('a')), `sha256-${'a'.repeat(64)}`);
    const base = `sha256-${'b'.repeat(64)}`;
    assert.deepEqual(cosignTags(d('b')), [`${base}.sig`, `${base}.att`, `${base}.sbom`]);
  });
});
