// The ECR model answers as ECR does where ECR differs from the CNCF registry: each behaviour, over
// plain HTTP, against a real docker-registry behind it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startEcrModel, type EcrModel } from './ecr-model';
import { MEDIA, pushRandomImage, sha256 } from './images';
import { pushBlobRaw, putManifestRaw } from './raw-push';
import { startRegistry, type RegistryServer } from './registry-server';

describe('ECR model', () => {
  let registry: RegistryServer;
  let ecr: EcrModel;
  let auth: { authorization: string };
  let image: Awaited<ReturnType<typeof pushRandomImage>>;
  before(async () => {
    registry = await startRegistry({ password: 'ecr-model-pw' });
    ecr = await startEcrModel({
      upstream: registry,
      repositories: ['app', 'locked', 'throttled'],
      immutableRepositories: ['locked'],
    });
    auth = {
      authorization: `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`,
    };
    image = await pushRandomImage(`${registry.host}/app:1`, registry, { layers: [2048] });
  });
  after(async () => {
    await Promise.all([ecr?.stop(), registry?.stop()]);
  });

  const startUpload = async (query = ''): Promise<Response> =>
    fetch(`${ecr.url}/v2/app/blobs/uploads/${query}`, { method: 'POST', headers: auth });

  const errorOf = async (response: Response): Promise<{ code: string; message: string }> =>
    ((await response.json()) as { errors: { code: string; message: string }[] }).errors[0]!;

  it('answers a chunk (PATCH) with 201, and refuses a part after one under 5 MiB', async () => {
    // Prepare
    const started = await startUpload();
    const location = new URL(started.headers.get('location')!, ecr.url);
    // Act
    const first = await fetch(location, { method: 'PATCH', headers: auth, body: Buffer.alloc(1024, 1) });
    const next = new URL(first.headers.get('location')!, ecr.url);
    const second = await fetch(next, { method: 'PATCH', headers: auth, body: Buffer.alloc(1024, 2) });
    // Assess
    assert.equal(started.status, 202);
    assert.equal(first.status, 201);
    assert.equal(second.status, 400);
    assert.deepEqual(await errorOf(second), {
      code: 'LAYER_PART_TOO_SMALL',
      message: 'All layer parts except the last part should be at least 5MB',
    });
  });

  it('answers a mount with an upload session: blob mounting is off', async () => {
    // Act
    const layer = image.manifest.layers[0]!.digest;
    const response = await startUpload(`?mount=${layer}&from=app`);
    // Assess
    assert.equal(response.status, 202);
    assert.match(response.headers.get('location') ?? '', /\/v2\/app\/blobs\/uploads\//);
  });

  it('redirects blob reads to presigned storage', async () => {
    // Act
    const layer = image.manifest.layers[0]!.digest;
    const response = await fetch(`${ecr.url}/v2/app/blobs/${layer}`, { headers: auth, redirect: 'manual' });
    const followed = await fetch(response.headers.get('location')!);
    // Assess
    assert.equal(response.status, 307);
    assert.match(
      response.headers.get('location') ?? '',
      /^http:\/\/localhost:\d+\/sha256\/[a-f0-9]{64}\?X-Amz-Signature=/,
    );
    assert.equal(sha256(Buffer.from(await followed.arrayBuffer())), layer);
  });

  it('answers NAME_UNKNOWN for a repository that does not exist', async () => {
    // Act
    const response = await fetch(`${ecr.url}/v2/nowhere/blobs/uploads/`, { method: 'POST', headers: auth });
    // Assess
    assert.equal(response.status, 404);
    assert.deepEqual(await errorOf(response), {
      code: 'NAME_UNKNOWN',
      message: `The repository with name 'nowhere' does not exist in the registry with id '111111111111'`,
    });
  });

  it('refuses to overwrite a tag of an immutable repository, even with the same manifest', async () => {
    // Prepare
    for (const blob of [image.manifest.config, ...image.manifest.layers]) {
      const bytes = await (
        await fetch(`${registry.url}/v2/app/blobs/${blob.digest}`, { headers: auth })
      ).arrayBuffer();
      await pushBlobRaw(registry, 'locked', new Uint8Array(bytes), blob.digest);
    }
    await putManifestRaw(ecr, 'locked', 'v1', image.manifest.bytes, MEDIA.ociManifest);
    // Act
    const again = await fetch(`${ecr.url}/v2/locked/manifests/v1`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': MEDIA.ociManifest },
      body: image.manifest.bytes,
    });
    // Assess
    assert.equal(again.status, 400);
    assert.deepEqual(await errorOf(again), {
      code: 'TAG_INVALID',
      message:
        "The image tag 'v1' already exists in the 'locked' repository and cannot be overwritten because the tag is immutable.",
    });
  });

  const refusedManifests: readonly {
    readonly name: string;
    readonly manifest: () => object;
    readonly status: number;
    readonly code: string;
  }[] = [
    {
      name: 'a referrer whose subject is an index',
      manifest: () => ({
        ...JSON.parse(image.manifest.bytes),
        subject: { mediaType: MEDIA.ociIndex, digest: `sha256:${'1'.repeat(64)}`, size: 100 },
      }),
      status: 405,
      code: 'UNSUPPORTED',
    },
    {
      name: 'an index with platform.features',
      manifest: () => ({
        schemaVersion: 2,
        mediaType: MEDIA.ociIndex,
        manifests: [
          {
            ...image.manifest.descriptor,
            platform: { architecture: 'amd64', os: 'linux', features: ['sse4'] },
          },
        ],
      }),
      status: 400,
      code: 'MANIFEST_INVALID',
    },
    {
      name: 'a descriptor with data',
      manifest: () => {
        const parsed = JSON.parse(image.manifest.bytes) as { config: object };
        return { ...parsed, config: { ...parsed.config, data: 'e30=' } };
      },
      status: 400,
      code: 'MANIFEST_INVALID',
    },
    {
      name: 'a manifest over 4 MiB',
      manifest: () => ({ ...JSON.parse(image.manifest.bytes), annotations: { big: 'x'.repeat(4 << 20) } }),
      status: 400,
      code: 'MANIFEST_INVALID',
    },
  ];
  for (const c of refusedManifests) {
    it(`refuses ${c.name}`, async () => {
      // Act
      const response = await fetch(`${ecr.url}/v2/app/manifests/refused`, {
        method: 'PUT',
        headers: { ...auth, 'content-type': MEDIA.ociManifest },
        body: JSON.stringify(c.manifest()),
      });
      // Assess
      assert.equal(response.status, c.status);
      assert.equal((await errorOf(response)).code, c.code);
    });
  }

  it('throttles each API to its quota: PutImage at 10 per second answers 429 Rate exceeded past it', async () => {
    // Prepare: PutImage's bucket holds 10; a burst of 15 takes them all and more. Time stands still
    // in this model, so however slowly the machine sends the burst, exactly 5 are over the quota.
    const frozen = await startEcrModel({ upstream: registry, repositories: ['throttled'], clock: () => 0 });
    const put = (): Promise<Response> =>
      fetch(`${frozen.url}/v2/throttled/manifests/${image.digest}`, {
        method: 'PUT',
        headers: { ...auth, 'content-type': MEDIA.ociManifest },
        body: image.manifest.bytes,
      });
    try {
      // Act
      const answers = await Promise.all(Array.from({ length: 15 }, put));
      const refused = answers.filter((a) => a.status === 429);
      // Assess
      assert.equal(refused.length, 5);
      assert.deepEqual(await errorOf(refused[0]!), { code: 'TOOMANYREQUESTS', message: 'Rate exceeded' });
      assert.equal(refused[0]!.headers.get('retry-after'), null);
      assert.equal(frozen.throttled('PutImage'), 5);
      await Promise.all(answers.map((a) => a.arrayBuffer().catch(() => undefined)));
    } finally {
      await frozen.stop();
    }
  });
});
