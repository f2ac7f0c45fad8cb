import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CreateRepositoryCommand,
  DescribeImagesCommand,
  ECRClient,
  PutImageCommand,
} from '@aws-sdk/client-ecr';
import { createEcrImages } from '../../lambdas/adapters/ecr-images';
import { createGitRepo, type GitRepo } from '../support/git-repo';
import { blobLessManifest, MEDIA, sha256 } from '../support/images';
import { startMoto, type MotoServer } from '../support/moto-server';
import { runCli } from '../support/run-cli';

const ACCOUNT = '123456789012';
const DST = `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`;

describe('ECR images for prune (moto)', () => {
  let moto: MotoServer;
  let ecr: ECRClient;
  let restore: () => void;
  let repo: GitRepo;
  const digests = new Map<string, string>();

  const put = async (name: string, manifest: string, tag?: string): Promise<string> => {
    const digest = sha256(manifest);
    await ecr.send(
      new PutImageCommand({
        repositoryName: 'shop/api',
        imageManifest: manifest,
        imageManifestMediaType: JSON.parse(manifest).mediaType as string,
        imageDigest: digest,
        ...(tag === undefined ? {} : { imageTag: tag }),
      }),
    );
    digests.set(name, digest);
    return digest;
  };

  before(async () => {
    moto = await startMoto({ defaultAccountId: ACCOUNT });
    restore = moto.applyToProcess();
    ecr = new ECRClient({ region: 'us-east-1' });
    await ecr.send(new CreateRepositoryCommand({ repositoryName: 'shop/api' }));
    // 2.0 is deployed (an index with two platforms, signed by a referrer); 1.0 was deployed
    // before it; pr-3 was promoted from a pull request never merged, with an untagged referrer;
    // an untagged manifest nothing refers to.
    const amd = await put('amd', blobLessManifest());
    const arm = await put('arm', blobLessManifest());
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.ociIndex,
      manifests: [amd, arm].map((digest) => ({ mediaType: MEDIA.ociManifest, digest, size: 100 })),
    });
    const v2 = await put('2.0', index, '2.0');
    await put('sig-2.0', blobLessManifest(v2));
    await put('1.0', blobLessManifest(), '1.0');
    const pr = await put('pr-3', blobLessManifest(), 'pr-3');
    await put('sbom-pr-3', blobLessManifest(pr));
    await put('orphan', blobLessManifest());

    repo = await createGitRepo();
    const overlay = (tag: string): Record<string, string> => ({
      'overlays/production/kustomization.yaml': [
        'resources: [deployment.yaml]',
        'images:',
        `  - {name: api, newName: ${DST}/shop/api, newTag: "${tag}"}`,
        '',
      ].join('\n'),
      'overlays/production/deployment.yaml':
        'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n    spec:\n      containers: [{name: api, image: api}]\n',
    });
    await repo.commitFiles(overlay('1.0'));
    await repo.commitFiles(overlay('2.0'));
    await writeFile(
      join(repo.dir, '..', `${repo.dir.split('/').pop()!}.yaml`),
      [
        'github: {repository: acme/k8s-overlays}',
        'environments:',
        '  - name: production',
        '    overlay: overlays/production',
        '    source: {registry: "111111111111.dkr.ecr.us-east-1.amazonaws.com"}',
        `    destination: {registry: "${DST}"}`,
        '    repositories: ["shop/**"]',
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    restore?.();
    await moto?.stop();
    await repo?.remove();
  });

  it('lists tagged and untagged images with their children and subjects', async () => {
    const content = await createEcrImages(DST).readRepository('shop/api');
    const byDigest = new Map(content.manifests.map((m) => [m.digest, m]));
    assert.equal(content.manifests.length, digests.size);
    assert.deepEqual(byDigest.get(digests.get('2.0')!)?.children, [digests.get('amd'), digests.get('arm')]);
    assert.equal(byDigest.get(digests.get('sig-2.0')!)?.subject, digests.get('2.0'));
    assert.deepEqual(byDigest.get(digests.get('orphan')!)?.tags, []);
    assert.deepEqual(await createEcrImages(DST).listRepositories(), ['shop/api']);
  });

  it('prune --apply through the CLI deletes the out-of-window, abandoned and untagged images with BatchDeleteImage', async () => {
    // Act
    const config = join(repo.dir, '..', `${repo.dir.split('/').pop()!}.yaml`);
    const args = [
      'prune',
      '--config',
      config,
      '--environment',
      'production',
      '--repo',
      repo.dir,
      '--keep',
      '0',
    ];
    const dry = await runCli([...args, '--json'], { env: moto.env() });
    const applied = await runCli([...args, '--apply', '--json'], { env: moto.env() });

    // Assess
    assert.equal(dry.code, 1, dry.stderr);
    const expected = ['1.0', 'pr-3', 'sbom-pr-3', 'orphan'].map((n) => digests.get(n)!);
    const planned = (JSON.parse(dry.stdout) as { removals: { digest: string }[] }).removals.map(
      (r) => r.digest,
    );
    assert.deepEqual(new Set(planned), new Set(expected));
    // The referrer goes before its subject.
    assert.ok(planned.indexOf(digests.get('sbom-pr-3')!) < planned.indexOf(digests.get('pr-3')!));
    assert.equal(applied.code, 0, applied.stderr);
    const left = await ecr.send(new DescribeImagesCommand({ repositoryName: 'shop/api' }));
    assert.deepEqual(
      new Set(left.imageDetails?.map((d) => d.imageDigest)),
      new Set(['2.0', 'amd', 'arm', 'sig-2.0'].map((n) => digests.get(n))),
    );
  });
});
