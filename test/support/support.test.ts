// The test servers themselves: a real registry with basic auth, skopeo pushing into it, moto.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { inspectRaw, pushRandomImage, sha256 } from './images';
import { startMoto, type MotoServer } from './moto-server';
import { startRegistry, type RegistryServer } from './registry-server';

describe('test support', () => {
  let registry: RegistryServer;
  let moto: MotoServer;
  before(async () => {
    [registry, moto] = await Promise.all([
      startRegistry({ password: '111111111111-auth-token' }),
      startMoto(),
    ]);
  });
  after(async () => {
    await Promise.all([registry?.stop(), moto?.stop()]);
  });

  it('registry demands basic auth for user AWS', async () => {
    const anonymous = await fetch(`${registry.url}/v2/`);
    assert.equal(anonymous.status, 401);
    const authed = await fetch(`${registry.url}/v2/`, {
      headers: { authorization: `Basic ${Buffer.from(`AWS:${registry.password}`).toString('base64')}` },
    });
    assert.equal(authed.status, 200);
  });

  it('skopeo pushes a random image and reads back the same bytes', async () => {
    const pushed = await pushRandomImage(`${registry.host}/shop/api:1.0`, registry);
    const raw = await inspectRaw(`${registry.host}/shop/api:1.0`, registry);
    assert.equal(sha256(raw), pushed.digest);
  });

  it('moto answers', async () => {
    const response = await fetch(`${moto.url}/moto-api/`);
    assert.equal(response.status, 200);
  });
});
