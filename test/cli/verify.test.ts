import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NULL_SHA } from '../../lambdas/core/file-source';
import { createGitRepo, type GitRepo } from '../support/git-repo';
import { startGitHubServer, type GitHubServer } from '../support/github-server';
import { addImage, ImageLayout, inspectRaw, pushLayout, pushRandomImage, sha256 } from '../support/images';
import { startRegistry, type RegistryServer } from '../support/registry-server';
import { runCli } from '../support/run-cli';

const REPOSITORY = 'acme/k8s-overlays';

function overlay(dst: string, tags: Readonly<Record<string, string>>): string {
  return [
    'resources: [deployment.yaml]',
    'images:',
    ...Object.entries(tags).map(
      ([name, tag]) => `  - {name: ${name}, newName: ${dst}/shop/${name}, newTag: "${tag}"}`,
    ),
    '',
  ].join('\n');
}

function deployment(names: readonly string[]): string {
  return [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata: {name: shop}',
    'spec:',
    '  template:',
    '    spec:',
    `      containers: [${[...names.map((n) => `{name: ${n}, image: ${n}}`), '{name: proxy, image: "nginx:1.25"}'].join(', ')}]`,
    '',
  ].join('\n');
}

interface VerifyJson {
  readonly revision: string;
  readonly environments: readonly {
    readonly name: string;
    readonly images: readonly {
      readonly image: string;
      readonly state: string;
      readonly expectedDigest: string | null;
      readonly destinationDigest: string | null;
    }[];
    readonly skipped: readonly { readonly image: string }[];
    readonly lookups: number;
    readonly error?: string;
  }[];
  readonly githubApiCalls?: number;
}

describe('image-promoter verify', () => {
  let src: RegistryServer;
  let dst: RegistryServer;
  let repo: GitRepo;
  let github: GitHubServer;
  let dir: string;
  let configFile: string;
  let env: NodeJS.ProcessEnv;
  let healthy: string;
  let drifted: string;
  let webDigest: string;

  before(async () => {
    [src, dst, repo] = await Promise.all([startRegistry(), startRegistry(), createGitRepo()]);
    dir = `${repo.dir}-home`;
    await mkdir(join(dir, 'docker'), { recursive: true });
    const auth = (r: RegistryServer): { auth: string } => ({
      auth: Buffer.from(`${r.username}:${r.password}`).toString('base64'),
    });
    await writeFile(
      join(dir, 'docker', 'config.json'),
      JSON.stringify({ auths: { [src.host]: auth(src), [dst.host]: auth(dst) } }),
    );
    env = { DOCKER_CONFIG: join(dir, 'docker'), GITHUB_TOKEN: 'test-github-token' };

    // web:1.0 is in both registries with one digest; api:2.0.0 only at the source; moved:4 differs.
    const layout = await ImageLayout.create();
    const web = await addImage(layout, { layers: [512] });
    layout.tag(web.descriptor, 'web');
    webDigest = web.descriptor.digest;
    await pushLayout(layout, 'web', `${src.host}/shop/web:1.0`, src);
    await pushLayout(layout, 'web', `${dst.host}/shop/web:1.0`, dst);
    await layout.remove();
    await pushRandomImage(`${src.host}/shop/api:2.0.0`, src);
    await pushRandomImage(`${src.host}/shop/moved:4`, src);
    await pushRandomImage(`${dst.host}/shop/moved:4`, dst);

    healthy = await repo.commitFiles({
      'overlays/production/deployment.yaml': deployment(['web']),
      'overlays/production/kustomization.yaml': overlay(dst.host, { web: '1.0' }),
    });
    drifted = await repo.commitFiles({
      'overlays/production/deployment.yaml': deployment(['web', 'api', 'moved', 'gone']),
      'overlays/production/kustomization.yaml': overlay(dst.host, {
        web: '1.0',
        api: '2.0.0',
        moved: '4',
        gone: '3',
      }),
    });
    github = await startGitHubServer({ repository: REPOSITORY, gitDirectory: repo.dir });
    configFile = join(dir, 'image-promoter.yaml');
    await writeFile(
      configFile,
      [
        'github:',
        `  repository: ${REPOSITORY}`,
        `  apiUrl: ${github.url}`,
        'environments:',
        '  - name: production',
        '    overlay: overlays/production',
        `    source: { registry: "${src.host}" }`,
        `    destination: { registry: "${dst.host}" }`,
        '    repositories: ["shop/**"]',
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await Promise.all([src?.stop(), dst?.stop(), github?.stop()]);
    await repo?.remove();
  });

  it('classifies every managed image of a local revision and exits 1 when one is not in place', async () => {
    // Act
    const result = await runCli(
      ['verify', '--config', configFile, '--repo', repo.dir, '--ref', drifted, '--json'],
      {
        env,
      },
    );

    // Assess
    assert.equal(result.code, 1, result.stderr);
    const json = JSON.parse(result.stdout) as VerifyJson;
    assert.equal(json.revision, drifted);
    const production = json.environments[0]!;
    assert.deepEqual(
      production.images.map((i) => `${i.image} ${i.state}`),
      [
        `${dst.host}/shop/api:2.0.0 missing`,
        `${dst.host}/shop/gone:3 missing-at-source`,
        `${dst.host}/shop/moved:4 digest-differs`,
        `${dst.host}/shop/web:1.0 in-place`,
      ],
    );
    assert.equal(production.images[3]!.destinationDigest, webDigest);
    assert.deepEqual(
      production.skipped.map((s) => s.image),
      ['nginx:1.25'],
    );
    // One manifest HEAD per image and registry.
    assert.equal(production.lookups, 8);
  });

  it('exits 0 with a table when everything is in place', async () => {
    // Act
    const result = await runCli(['verify', '--config', configFile, '--repo', repo.dir, '--ref', healthy], {
      env,
    });

    // Assess
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      new RegExp(`production\\s+in-place\\s+${dst.host}/shop/web:1.0\\s+${webDigest}`),
    );
    assert.match(result.stdout, /production: 1\/1 in place$/m);
  });

  it('reads the branch head through the GitHub API when no --repo is given', async () => {
    // Act
    const result = await runCli(['verify', '--config', configFile, '--json'], { env });

    // Assess
    assert.equal(result.code, 1, result.stderr);
    const json = JSON.parse(result.stdout) as VerifyJson;
    assert.equal(json.revision, drifted);
    assert.equal(json.environments[0]!.images.length, 4);
    // The commit, one recursive tree, one blob per file read.
    assert.equal(json.githubApiCalls, 4);
  });

  it('plan --check-registries says already present, would copy, conflict and missing at source', async () => {
    // Act
    const args = [
      'plan',
      '--config',
      configFile,
      '--repo',
      repo.dir,
      '--before',
      NULL_SHA,
      '--after',
      drifted,
    ];
    const json = await runCli([...args, '--check-registries', '--json'], { env });
    const table = await runCli([...args, '--check-registries'], { env });
    const unchecked = await runCli([...args, '--json'], { env });

    // Assess
    assert.equal(json.code, 0, json.stderr);
    const promotions = (
      JSON.parse(json.stdout) as {
        environments: { promotions: { destination: string; check?: { action: string } }[] }[];
      }
    ).environments[0]!.promotions;
    assert.deepEqual(
      promotions.map((p) => `${p.destination} ${p.check?.action}`),
      [
        `${dst.host}/shop/api:2.0.0 would copy`,
        `${dst.host}/shop/gone:3 missing at source`,
        `${dst.host}/shop/moved:4 conflict`,
        `${dst.host}/shop/web:1.0 already present`,
      ],
    );
    assert.match(table.stdout, /conflict\s+\S+shop\/moved:4\s+destination tag points at another digest/);
    assert.match(
      table.stdout,
      /4 images to promote \(1 would copy, 1 missing at source, 1 conflict, 1 already present\)/,
    );
    assert.doesNotMatch(unchecked.stdout, /"check"/);
  });

  it('--fix copies what is missing as the worker does, leaves the conflict alone, and checks again', async () => {
    // Prepare: the source digest of api:2.0.0.
    const before = JSON.parse(
      (
        await runCli(['verify', '--config', configFile, '--repo', repo.dir, '--ref', drifted, '--json'], {
          env,
        })
      ).stdout,
    ) as VerifyJson;
    const apiDigest = before.environments[0]!.images[0]!.expectedDigest;

    // Act (runs last among the tests that read the destination: it changes it)
    const result = await runCli(
      ['verify', '--config', configFile, '--repo', repo.dir, '--ref', drifted, '--fix', '--json'],
      { env },
    );

    // Assess
    assert.equal(result.code, 1, result.stderr);
    const json = JSON.parse(result.stdout) as VerifyJson;
    assert.deepEqual(
      json.environments[0]!.images.map((i) => `${i.image} ${i.state}`),
      [
        `${dst.host}/shop/api:2.0.0 in-place`,
        `${dst.host}/shop/gone:3 missing-at-source`,
        `${dst.host}/shop/moved:4 digest-differs`,
        `${dst.host}/shop/web:1.0 in-place`,
      ],
    );
    assert.equal(json.environments[0]!.images[0]!.destinationDigest, apiDigest);
    assert.equal(sha256(await inspectRaw(`${dst.host}/shop/api:2.0.0`, dst)), apiDigest);
    // The worker's audit line, on stderr, naming who asked.
    const audit = result.stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line['audit'] === true);
    assert.equal(audit?.['digest'], apiDigest);
    assert.match(String(audit?.['pusher']), /^verify --fix by /);
    assert.match(String(audit?.['deliveryId']), /^reconcile-/);
    assert.match(result.stderr, /verify --fix: production: success: 1 image promoted/);
  });

  it('refuses an unknown environment and reports an unreadable registry for its environment', async () => {
    // Act
    const unknown = await runCli(
      ['verify', '--config', configFile, '--repo', repo.dir, '--environment', 'nope'],
      {
        env,
      },
    );
    const noCreds = await runCli(['verify', '--config', configFile, '--repo', repo.dir, '--json'], {
      env: { DOCKER_CONFIG: join(dir, 'nowhere') },
    });

    // Assess
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no environment "nope" in the config \(production\)/);
    assert.equal(noCreds.code, 1, noCreds.stderr);
    const json = JSON.parse(noCreds.stdout) as VerifyJson;
    assert.match(json.environments[0]!.error ?? '', /401|unauthorized|credentials/i);
  });
});
