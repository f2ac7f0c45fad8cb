import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createGitRepo, type GitRepo } from '../support/git-repo';
import { startGitHubServer, type GitHubServer } from '../support/github-server';
import { addImage, addIndex, exists, ImageLayout, pushLayout, pushRandomImage } from '../support/images';
import { startRegistry, type RegistryServer } from '../support/registry-server';
import { runCli } from '../support/run-cli';

const REPOSITORY = 'acme/k8s-overlays';

function kustomization(image: string): string {
  return ['resources: [deployment.yaml]', 'images:', `  - {name: api, newName: ${image}}`, ''].join('\n');
}

const DEPLOYMENT = [
  'apiVersion: apps/v1',
  'kind: Deployment',
  'metadata: {name: api}',
  'spec:',
  '  template:',
  '    spec:',
  '      containers: [{name: api, image: api}]',
  '',
].join('\n');

interface PruneJson {
  readonly revision: string;
  readonly commitsScanned: number;
  readonly kept: readonly {
    readonly digest: string;
    readonly tags: readonly string[];
    readonly reason: string;
  }[];
  readonly removals: readonly {
    readonly digest: string;
    readonly tags: readonly string[];
    readonly reason: string;
    readonly result: string;
  }[];
}

function sigTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

describe('image-promoter prune', () => {
  let dev: RegistryServer;
  let prod: RegistryServer;
  let repo: GitRepo;
  let github: GitHubServer;
  let configFile: string;
  let env: NodeJS.ProcessEnv;
  /** What must go: digest -> a name for messages. */
  const abandoned = new Map<string, string>();
  const outOfWindow = new Map<string, string>();
  const mustStay = new Map<string, string>();

  before(async () => {
    [dev, prod, repo] = await Promise.all([startRegistry(), startRegistry(), createGitRepo()]);
    const home = `${repo.dir}-home`;
    await mkdir(join(home, 'docker'), { recursive: true });
    const auth = (r: RegistryServer): { auth: string } => ({
      auth: Buffer.from(`${r.username}:${r.password}`).toString('base64'),
    });
    await writeFile(
      join(home, 'docker', 'config.json'),
      JSON.stringify({ auths: { [dev.host]: auth(dev), [prod.host]: auth(prod) } }),
    );
    env = { DOCKER_CONFIG: join(home, 'docker'), GITHUB_TOKEN: 'test-github-token' };

    // Production's registry: api 1.0 (a two-platform index, signed), 2.0, 3.0, 4.0 (signed),
    // deployed in that order on main; pr-7 promoted from a pull request that was closed unmerged,
    // with an OCI referrer under the referrers tag scheme; 0.9, which staging deploys from dev.
    const layout = await ImageLayout.create();
    const amd = await addImage(layout, { layers: [256], platform: { architecture: 'amd64', os: 'linux' } });
    const arm = await addImage(layout, { layers: [256], platform: { architecture: 'arm64', os: 'linux' } });
    const index = await addIndex(layout, [amd.descriptor, arm.descriptor]);
    layout.tag(index.descriptor, 'index');
    await pushLayout(layout, 'index', `${prod.host}/shop/api:1.0`, prod);
    await layout.remove();
    outOfWindow.set(index.descriptor.digest, 'api:1.0 (index)');
    outOfWindow.set(amd.descriptor.digest, 'api:1.0 amd64');
    outOfWindow.set(arm.descriptor.digest, 'api:1.0 arm64');
    const sig1 = await pushRandomImage(`${prod.host}/shop/api:${sigTag(index.descriptor.digest)}`, prod);
    outOfWindow.set(sig1.digest, 'signature of api:1.0');

    for (const tag of ['2.0', '3.0']) {
      mustStay.set((await pushRandomImage(`${prod.host}/shop/api:${tag}`, prod)).digest, `api:${tag}`);
    }
    const v4 = await pushRandomImage(`${prod.host}/shop/api:4.0`, prod);
    mustStay.set(v4.digest, 'api:4.0');
    mustStay.set(
      (await pushRandomImage(`${prod.host}/shop/api:${sigTag(v4.digest)}`, prod)).digest,
      'signature of 4.0',
    );

    const pr = await pushRandomImage(`${prod.host}/shop/api:pr-7`, prod);
    abandoned.set(pr.digest, 'api:pr-7');
    const referrers = await ImageLayout.create();
    const sbom = await addImage(referrers, {
      artifactType: 'application/spdx+json',
      subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: pr.digest, size: 1 },
    });
    const referrersIndex = await addIndex(referrers, [sbom.descriptor]);
    referrers.tag(referrersIndex.descriptor, 'referrers');
    await pushLayout(referrers, 'referrers', `${prod.host}/shop/api:${pr.digest.replace(':', '-')}`, prod);
    await referrers.remove();
    abandoned.set(referrersIndex.descriptor.digest, 'referrers index of pr-7');
    abandoned.set(sbom.descriptor.digest, 'SBOM of pr-7');

    // 0.9 is the digest staging deploys (from dev, as rc-1): another environment's, so it stays.
    const staged = await pushRandomImage(`${prod.host}/shop/api:0.9`, prod);
    mustStay.set(staged.digest, 'api:0.9 (staging)');
    // The same image in dev, as rc-1: staging's overlay names it by tag in dev's registry.
    await copyByDigest(prod, dev, `shop/api@${staged.digest}`, 'shop/api:rc-1');

    // A repository outside the allowlist is never touched.
    mustStay.set((await pushRandomImage(`${prod.host}/other/tool:1`, prod)).digest, 'other/tool:1');

    const files = (tag: string): Record<string, string> => ({
      'overlays/production/deployment.yaml': DEPLOYMENT,
      'overlays/production/kustomization.yaml': kustomization(`${prod.host}/shop/api:${tag}`),
      'overlays/staging/deployment.yaml': DEPLOYMENT,
      'overlays/staging/kustomization.yaml': kustomization(`${dev.host}/shop/api:rc-1`),
    });
    for (const tag of ['1.0', '2.0', '3.0']) await repo.commitFiles(files(tag), `api ${tag}`);
    // The pull request: a branch off main that was never merged.
    await repo.git('checkout', '-q', '-b', 'pr-7');
    await repo.commitFiles(files('pr-7'), 'try pr-7');
    await repo.git('checkout', '-q', '-');
    await repo.commitFiles(files('4.0'), 'api 4.0');

    github = await startGitHubServer({ repository: REPOSITORY, gitDirectory: repo.dir });
    configFile = join(home, 'image-promoter.yaml');
    await writeFile(
      configFile,
      [
        'github:',
        `  repository: ${REPOSITORY}`,
        `  apiUrl: ${github.url}`,
        'environments:',
        '  - name: production',
        '    overlay: overlays/production',
        `    source: { registry: "${dev.host}" }`,
        `    destination: { registry: "${prod.host}" }`,
        '    repositories: ["shop/**"]',
        '  - name: staging',
        '    overlay: overlays/staging',
        `    source: { registry: "${prod.host}" }`,
        `    destination: { registry: "${dev.host}" }`,
        '    repositories: ["shop/**"]',
        'prune:',
        '  keep: 2',
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await Promise.all([dev?.stop(), prod?.stop(), github?.stop()]);
    await repo?.remove();
  });

  it('dry run lists exactly the abandoned and out-of-window images, through GitHub too, and changes nothing', async () => {
    // Act
    const local = await runCli(
      ['prune', '--config', configFile, '--environment', 'production', '--repo', repo.dir, '--json'],
      { env },
    );
    const remote = await runCli(['prune', '--config', configFile, '--environment', 'production', '--json'], {
      env,
    });

    // Assess
    for (const result of [local, remote]) {
      assert.equal(result.code, 1, result.stderr);
      const json = JSON.parse(result.stdout) as PruneJson;
      assert.deepEqual(
        new Set(json.removals.map((r) => r.digest)),
        new Set([...abandoned.keys(), ...outOfWindow.keys()]),
      );
      assert.ok(json.removals.every((r) => r.result === 'would delete'));
      assert.equal(
        json.removals.find((r) => r.tags.includes('pr-7'))?.reason,
        'not deployed at the head nor one of the last 2 versions deployed before',
      );
      // The walk stopped once 3.0 and 2.0 filled the window: 1.0 is out of it without being read.
      assert.equal(json.commitsScanned, 2);
      assert.match(
        json.removals.find((r) => r.tags.includes('1.0'))!.reason,
        /nor one of the last 2 versions/,
      );
      assert.match(json.kept.find((k) => k.tags.includes('0.9'))!.reason, /^deployed by staging/);
      assert.deepEqual(
        json.kept.find((k) => k.tags.includes('3.0'))?.reason,
        'rollback window: 1st previous version (3.0)',
      );
      // One JSON audit line per removal on stderr.
      const audit = result.stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { result: string });
      assert.equal(audit.length, json.removals.length);
    }
    for (const digest of [...abandoned.keys(), ...outOfWindow.keys()]) {
      assert.ok(await exists(`${prod.host}/shop/api@${digest}`, prod), `dry run kept ${digest}`);
    }
  });

  it('--apply removes exactly those, signatures and referrers with them, and a second run finds nothing', async () => {
    // Act
    const result = await runCli(
      ['prune', '--config', configFile, '--environment', 'production', '--repo', repo.dir, '--apply'],
      { env },
    );

    // Assess
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /7\/7 removed/);
    for (const [digest, name] of [...abandoned, ...outOfWindow]) {
      assert.equal(await exists(`${prod.host}/shop/api@${digest}`, prod), false, `${name} is still there`);
    }
    for (const [digest, name] of mustStay) {
      const repository = name.startsWith('other/') ? 'other/tool' : 'shop/api';
      assert.ok(await exists(`${prod.host}/${repository}@${digest}`, prod), `${name} was removed`);
    }
    assert.equal(await exists(`${prod.host}/shop/api:pr-7`, prod), false);
    assert.ok(await exists(`${prod.host}/shop/api:4.0`, prod));

    const again = await runCli(
      ['prune', '--config', configFile, '--environment', 'production', '--repo', repo.dir, '--json'],
      { env },
    );
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual((JSON.parse(again.stdout) as PruneJson).removals, []);
  });

  it('refuses a --keep that is not a number', async () => {
    const bad = await runCli(
      ['prune', '--config', configFile, '--environment', 'production', '--keep', 'x'],
      { env },
    );
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--keep must be a whole number/);
  });
});

/** Puts the manifest `from` of one registry into another under a tag, as it is (skopeo). */
async function copyByDigest(
  src: RegistryServer,
  dst: RegistryServer,
  from: string,
  to: string,
): Promise<void> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  await promisify(execFile)('skopeo', [
    'copy',
    '--all',
    '--preserve-digests',
    '--src-tls-verify=false',
    '--dest-tls-verify=false',
    '--src-creds',
    `${src.username}:${src.password}`,
    '--dest-creds',
    `${dst.username}:${dst.password}`,
    `docker://${src.host}/${from}`,
    `docker://${dst.host}/${to}`,
  ]);
}
