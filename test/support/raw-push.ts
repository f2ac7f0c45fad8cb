// Pushing exactly given bytes to a registry with plain HTTP (monolithic blob uploads, manifest
// PUTs), for what skopeo 1.9 cannot push from an OCI layout: Docker-format manifests and indexes of
// OCI 1.1 artifacts. Independent of lambdas/adapters/registry-client on purpose.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Creds } from './images';

export interface RawTarget {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly username: string;
  readonly password: string;
}

function authHeader(target: Creds): string {
  return `Basic ${Buffer.from(`${target.username}:${target.password}`).toString('base64')}`;
}

async function expectStatus(response: Response, statuses: readonly number[], what: string): Promise<void> {
  if (!statuses.includes(response.status)) {
    throw new Error(`${what}: HTTP ${response.status} ${await response.text()}`);
  }
  await response.arrayBuffer();
}

/** Uploads one blob (POST, then PUT with the whole body). */
export async function pushBlobRaw(
  target: RawTarget,
  repository: string,
  bytes: Uint8Array,
  digest: string,
): Promise<void> {
  const started = await fetch(`${target.url}/v2/${repository}/blobs/uploads/`, {
    method: 'POST',
    headers: { authorization: authHeader(target) },
  });
  await expectStatus(started, [202], `start upload of ${digest}`);
  const location = new URL(started.headers.get('location')!, target.url);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { authorization: authHeader(target), 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  await expectStatus(put, [201], `upload of ${digest}`);
}

/** Uploads every blob of an OCI layout directory (manifests included, harmlessly). */
export async function pushLayoutBlobsRaw(
  target: RawTarget,
  repository: string,
  layoutDir: string,
): Promise<void> {
  const dir = join(layoutDir, 'blobs', 'sha256');
  for (const name of await readdir(dir)) {
    await pushBlobRaw(target, repository, await readFile(join(dir, name)), `sha256:${name}`);
  }
}

/** PUTs manifest bytes as they are under `reference` (tag or digest). */
export async function putManifestRaw(
  target: RawTarget,
  repository: string,
  reference: string,
  bytes: string | Uint8Array,
  mediaType: string,
): Promise<void> {
  const response = await fetch(`${target.url}/v2/${repository}/manifests/${reference}`, {
    method: 'PUT',
    headers: { authorization: authHeader(target), 'content-type': mediaType },
    body: bytes,
  });
  await expectStatus(response, [201], `put manifest ${repository}:${reference}`);
}
