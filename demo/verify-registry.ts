// Reading a registry back for the demo, the end-to-end tests and the load script, with clients
// independent of image-promoter: skopeo for manifests and tags, plain HTTP for the catalog.
// Read-only: it must never write to a registry.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { inspectRaw, sha256 } from '../test/support/images';
import type { RegistryServer } from '../test/support/registry-server';

const run = promisify(execFile);

/** The digest of the exact manifest bytes `skopeo inspect --raw` gets for `repository:tag`, or
 * undefined when the registry does not have it. */
export async function inspectDigest(
  registry: RegistryServer,
  reference: string,
): Promise<string | undefined> {
  try {
    return sha256(await inspectRaw(`${registry.host}/${reference}`, registry));
  } catch {
    return undefined;
  }
}

/** Every repository and its tags (sorted), as the registry lists them. */
export async function listRegistry(registry: RegistryServer): Promise<Readonly<Record<string, string[]>>> {
  const authorization = `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`;
  const response = await fetch(`${registry.url}/v2/_catalog?n=1000`, { headers: { authorization } });
  if (!response.ok) throw new Error(`catalog of ${registry.host}: HTTP ${response.status}`);
  const { repositories } = (await response.json()) as { repositories?: string[] };
  const out: Record<string, string[]> = {};
  for (const repository of (repositories ?? []).sort()) {
    const { stdout } = await run('skopeo', [
      'list-tags',
      '--tls-verify=false',
      '--creds',
      `${registry.username}:${registry.password}`,
      `docker://${registry.host}/${repository}`,
    ]);
    out[repository] = ((JSON.parse(stdout) as { Tags?: string[] }).Tags ?? []).sort();
  }
  return out;
}
