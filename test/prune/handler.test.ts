// The scheduled prune Lambda itself (lambdas/prune/handler.ts), invoked as its EventBridge rule
// invokes it: a Scheduled Event and a Lambda context (lambdas/local/scheduler.ts builds both), the
// configuration and PRUNE_ENVIRONMENTS in its environment, the branch and its history read through
// the GitHub test server over a real git repository, production's registry in moto's ECR
// (DescribeImages, BatchGetImage, BatchDeleteImage). It deletes exactly the abandoned and
// out-of-window images, keeps the rollback window, what another environment deploys and what lies
// outside the allowlist, and on a configuration without an allowlist deletes nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CreateRepositoryCommand,
  DescribeImagesCommand,
  ECRClient,
  PutImageCommand,
} from '@aws-sdk/client-ecr';
import { invocationContext, scheduledEvent } from '../../lambdas/local/scheduler';
import { handler } from '../../lambdas/prune/handler';
import { createGitRepo, type GitRepo } from '../support/git-repo';
import { startGitHubServer, type GitHubServer } from '../support/github-server';
import { blobLessManifest, MEDIA, sha256 } from '../support/images';
import { startMoto, type MotoServer } from '../support/moto-server';

const ACCOUNT = '222222222222';
const PROD = `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`;
const STAGING = '333333333333.dkr.ecr.us-east-1.amazonaws.com';
const RULE = `arn:aws:events:us-east-1:${ACCOUNT}:rule/ImagePromoter-PruneSchedule`;

const config = (allowlist: string): string =>
  [
    'github: {repository: acme/k8s-overlays}',
    'environments:',
    '  - name: production',
    '    overlay: overlays/production',
    '    source: {registry: "111111111111.dkr.ecr.us-east-1.amazonaws.com"}',
    `    destination: {registry: "${PROD}"}`,
    allowlist,
    '  - name: staging',
    '    overlay: overlays/staging',
    '    source: {registry: "111111111111.dkr.ecr.us-east-1.amazonaws.com"}',
    `    destination: {registry: "${STAGING}"}`,
    '    repositories: ["shop/**"]',
    'prune: {keep: 1, scheduled: true}',
    '',
  ].join('\n');

describe('scheduled prune Lambda (handler, moto ECR, GitHub test server)', () => {
  let moto: MotoServer;
  let ecr: ECRClient;
  let repo: GitRepo;
  let github: GitHubServer;
  const restores: (() => void)[] = [];
  /** name -> digest, for every manifest in production's registry. */
  const digests = new Map<string, string>();

  const put = async (repository: string, name: string, manifest: string, tag?: string): Promise<string> => {
    const digest = sha256(manifest);
    await ecr.send(
      new PutImageCommand({
        repositoryName: repository,
        imageManifest: manifest,
        imageManifestMediaType: (JSON.parse(manifest) as { mediaType: string }).mediaType,
        imageDigest: digest,
        ...(tag === undefined ? {} : { imageTag: tag }),
      }),
    );
    digests.set(name, digest);
    return digest;
  };
  const left = async (repository: string): Promise<Set<string | undefined>> =>
    new Set(
      (await ecr.send(new DescribeImagesCommand({ repositoryName: repository }))).imageDetails?.map(
        (d) => d.imageDigest,
      ),
    );
  const setEnv = (values: Readonly<Record<string, string>>): void => {
    const saved = Object.fromEntries(Object.keys(values).map((k) => [k, process.env[k]]));
    Object.assign(process.env, values);
    restores.push(() => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) Reflect.deleteProperty(process.env, k);
        else process.env[k] = v;
      }
    });
  };
  const invoke = (): ReturnType<typeof handler> =>
    handler(
      scheduledEvent(RULE, new Date()),
      invocationContext(RULE, 'ImagePromoter-PruneFunction', 900_000),
    );

  before(async () => {
    moto = await startMoto({ defaultAccountId: ACCOUNT });
    restores.push(moto.applyToProcess());
    ecr = new ECRClient({ region: 'us-east-1' });
    await ecr.send(new CreateRepositoryCommand({ repositoryName: 'shop/api' }));
    await ecr.send(new CreateRepositoryCommand({ repositoryName: 'other/tool' }));
    // Deployed on main in this order: 0.9, 1.0, 2.0 (an index of two platforms, signed by a
    // referrer), 3.0 (the head). pr-3 was promoted from a pull request never merged, with an SBOM
    // referring to it; an untagged manifest nothing refers to. Staging deploys shop/api:1.0 from
    // its own registry.
    await put('shop/api', '0.9', blobLessManifest(), '0.9');
    await put('shop/api', '1.0', blobLessManifest(), '1.0');
    const amd = await put('shop/api', 'amd', blobLessManifest());
    const arm = await put('shop/api', 'arm', blobLessManifest());
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.ociIndex,
      manifests: [amd, arm].map((digest) => ({ mediaType: MEDIA.ociManifest, digest, size: 100 })),
    });
    const v2 = await put('shop/api', '2.0', index, '2.0');
    await put('shop/api', 'sig-2.0', blobLessManifest(v2));
    await put('shop/api', '3.0', blobLessManifest(), '3.0');
    const pr = await put('shop/api', 'pr-3', blobLessManifest(), 'pr-3');
    await put('shop/api', 'sbom-pr-3', blobLessManifest(pr));
    await put('shop/api', 'orphan', blobLessManifest());
    await put('other/tool', 'tool-1', blobLessManifest(), '1');

    repo = await createGitRepo();
    const files = (tag: string): Record<string, string> => {
      const overlay = (image: string): string =>
        ['resources: [deployment.yaml]', 'images:', `  - {name: api, newName: ${image}}`, ''].join('\n');
      const deployment =
        'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n    spec:\n      containers: [{name: api, image: api}]\n';
      return {
        'overlays/production/kustomization.yaml': overlay(`${PROD}/shop/api:${tag}`),
        'overlays/production/deployment.yaml': deployment,
        'overlays/staging/kustomization.yaml': overlay(`${STAGING}/shop/api:1.0`),
        'overlays/staging/deployment.yaml': deployment,
      };
    };
    for (const tag of ['0.9', '1.0', '2.0']) await repo.commitFiles(files(tag), `api ${tag}`);
    await repo.git('checkout', '-q', '-b', 'pr-3');
    await repo.commitFiles(files('pr-3'), 'try pr-3');
    await repo.git('checkout', '-q', '-');
    await repo.commitFiles(files('3.0'), 'api 3.0');
    github = await startGitHubServer({ repository: 'acme/k8s-overlays', gitDirectory: repo.dir });
    setEnv({
      PRUNE_ENVIRONMENTS: 'production',
      GITHUB_TOKEN: github.token,
      GITHUB_API_URL: github.url,
      POWERTOOLS_LOG_LEVEL: 'WARN',
    });
  });
  after(async () => {
    for (const restore of restores.reverse()) restore();
    await github?.stop();
    await moto?.stop();
    await repo?.remove();
  });

  it('keeps everything when production has no allowlist (it cannot tell its repositories)', async () => {
    // Prepare
    setEnv({ IMAGE_PROMOTER_CONFIG: config('') });
    // Act
    const summary = await invoke();
    // Assess
    assert.equal(summary.environments.length, 1);
    const [production] = summary.environments;
    assert.equal(production!.removed, 0);
    assert.equal(production!.clean, false);
    assert.match(production!.error ?? '', /prune needs an allowlist/);
    assert.deepEqual(
      await left('shop/api'),
      new Set([...digests].filter(([n]) => n !== 'tool-1').map(([, d]) => d)),
    );
    assert.deepEqual(await left('other/tool'), new Set([digests.get('tool-1')]));
  });

  it("deletes exactly the abandoned and out-of-window images, and keeps the window, staging's tag and other repositories", async () => {
    // Prepare
    setEnv({ IMAGE_PROMOTER_CONFIG: config('    repositories: ["shop/**"]') });
    // Act
    const summary = await invoke();
    const again = await invoke();
    // Assess
    const removed = ['0.9', 'pr-3', 'sbom-pr-3', 'orphan'];
    const kept = ['1.0', '2.0', 'amd', 'arm', 'sig-2.0', '3.0'];
    assert.deepEqual(summary.environments, [
      { name: 'production', removed: removed.length, kept: kept.length, clean: true },
    ]);
    assert.deepEqual(await left('shop/api'), new Set(kept.map((n) => digests.get(n))));
    assert.deepEqual(await left('other/tool'), new Set([digests.get('tool-1')]));
    // The next scheduled run finds nothing more to remove.
    assert.deepEqual(again.environments, [
      { name: 'production', removed: 0, kept: kept.length, clean: true },
    ]);
  });
});
