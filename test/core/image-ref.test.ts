import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidReferenceError } from '../../lambdas/core/errors';
import { formatImageRef, parseEcrRegistry, parseImageRef } from '../../lambdas/core/image-ref';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseImageRef', () => {
  const valid: readonly [string, string, string | undefined, string | undefined, string | undefined][] = [
    // input, registry/repository, tag, digest, formatted
    ['ubuntu', 'docker.io/library/ubuntu', undefined, undefined, 'docker.io/library/ubuntu'],
    ['ubuntu:22.04', 'docker.io/library/ubuntu', '22.04', undefined, undefined],
    ['library/ubuntu', 'docker.io/library/ubuntu', undefined, undefined, undefined],
    ['docker.io/ubuntu', 'docker.io/library/ubuntu', undefined, undefined, undefined],
    ['index.docker.io/foo/bar:1', 'docker.io/foo/bar', '1', undefined, 'docker.io/foo/bar:1'],
    ['foo/bar/baz', 'docker.io/foo/bar/baz', undefined, undefined, undefined],
    ['localhost/app', 'localhost/app', undefined, undefined, undefined],
    ['localhost:5000/app:v1', 'localhost:5000/app', 'v1', undefined, undefined],
    ['127.0.0.1:5000/a/b/c:t', '127.0.0.1:5000/a/b/c', 't', undefined, undefined],
    ['[::1]:5000/app', '[::1]:5000/app', undefined, undefined, undefined],
    ['ghcr.io/org/team/app:1.2.3', 'ghcr.io/org/team/app', '1.2.3', undefined, undefined],
    [`app@${D}`, 'docker.io/library/app', undefined, D, undefined],
    [`reg.io/app:1.0@${D}`, 'reg.io/app', '1.0', D, `reg.io/app:1.0@${D}`],
    [
      '111111111111.dkr.ecr.us-east-1.amazonaws.com/shop/cart:2',
      '111111111111.dkr.ecr.us-east-1.amazonaws.com/shop/cart',
      '2',
      undefined,
      undefined,
    ],
    ['Registry.Example/app', 'Registry.Example/app', undefined, undefined, undefined],
    ['a__b/c-d/e.f_g', 'docker.io/a__b/c-d/e.f_g', undefined, undefined, undefined],
    ['app:_x', 'docker.io/library/app', '_x', undefined, undefined],
  ];
  for (const [input, name, tag, digest, formatted] of valid) {
    it(`parses ${input}`, () => {
      const ref = parseImageRef(input);
      assert.equal(`${ref.registry}/${ref.repository}`, name);
      assert.equal(ref.tag, tag);
      assert.equal(ref.digest, digest);
      if (formatted !== undefined) assert.equal(formatImageRef(ref), formatted);
      assert.ok(Object.isFrozen(ref));
    });
  }

  const invalid: readonly [string, RegExp][] = [
    ['', /empty reference/],
    [' ubuntu', /whitespace/],
    ['Ubuntu', /lowercase/],
    ['reg.io/App', /lowercase/],
    ['app:', /invalid tag ""/],
    ['app:-x', /invalid tag/],
    [`app:${'x'.repeat(129)}`, /invalid tag/],
    ['app@sha256:abc', /invalid digest/],
    [`app@sha256:${'A'.repeat(64)}`, /invalid sha256 digest/],
    ['app@', /invalid digest/],
    ['reg.io:99999/app', /invalid registry port/],
    ['reg.io:x/app', /invalid registry port/],
    ['-reg.io/app', /invalid registry host/],
    ['reg.io/', /missing repository name|invalid repository path component/],
    ['reg.io//app', /invalid repository path component ""/],
    ['reg.io/a-/b', /invalid repository path component "a-"/],
    [':tag', /missing repository name/],
    [`reg.io/${'a'.repeat(256)}`, /longer than 255/],
  ];
  for (const [input, reason] of invalid) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(
        () => parseImageRef(input),
        (e: unknown) => e instanceof InvalidReferenceError && reason.test(e.message) && !e.retryable,
      );
    });
  }
});

describe('parseEcrRegistry', () => {
  it('reads account and region from ECR hosts', () => {
    assert.deepEqual(parseEcrRegistry('111111111111.dkr.ecr.eu-west-1.amazonaws.com'), {
      accountId: '111111111111',
      region: 'eu-west-1',
    });
    assert.deepEqual(parseEcrRegistry('222222222222.dkr.ecr-fips.us-gov-west-1.amazonaws.com'), {
      accountId: '222222222222',
      region: 'us-gov-west-1',
    });
    assert.equal(parseEcrRegistry('ghcr.io'), undefined);
    assert.equal(parseEcrRegistry('1111.dkr.ecr.us-east-1.amazonaws.com'), undefined);
  });
});
