// The Argo CD PreSync gate component (deploy/argocd-presync-gate): rendered by the real `kubectl
// kustomize` into an overlay as a user adds it (hook annotations, the revision reaching the pod
// through commonAnnotations and the downward API, the image override, the settings patch), and its
// script run by sh with curl against the GitHub test server: pending -> success passes, failure
// stops, a status that never comes gives up, an unknown revision refuses to guess.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CORE_SCHEMA, loadAll } from 'js-yaml';
import { createGitRepo, type GitRepo } from '../support/git-repo';
import { startGitHubServer, type GitHubServer } from '../support/github-server';
import { startPresyncGate, type GateRun } from '../support/presync-gate';

const run = promisify(execFile);
const COMPONENT = resolve('deploy/argocd-presync-gate');
const REVISION = '0123456789abcdef0123456789abcdef01234567';

interface Manifest {
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly annotations?: Readonly<Record<string, string>> };
  readonly data?: Readonly<Record<string, string>>;
  readonly spec?: {
    readonly backoffLimit?: number;
    readonly template: {
      readonly metadata: { readonly annotations?: Readonly<Record<string, string>> };
      readonly spec: {
        readonly containers: readonly {
          readonly image: string;
          readonly env: readonly { readonly name: string; readonly valueFrom?: unknown }[];
        }[];
      };
    };
  };
}

describe('argocd-presync-gate component', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'presync-gate-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('renders a PreSync hook Job, its ConfigMaps as earlier hooks, the revision on the pod template', async () => {
    // Prepare: an overlay as docs/deploy.md tells users to write it; commonAnnotations stands in for
    // what Argo CD adds with kustomize.commonAnnotations + commonAnnotationsEnvsubst.
    await cp(COMPONENT, join(dir, 'gate'), { recursive: true });
    await writeFile(
      join(dir, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'namespace: shop',
        'commonAnnotations:',
        `  image-promoter.dev/revision: "${REVISION}"`,
        'components:',
        '  - gate',
        'patches:',
        '  - patch: |',
        '      apiVersion: v1',
        '      kind: ConfigMap',
        '      metadata:',
        '        name: image-promoter-gate-settings',
        '      data:',
        '        GITHUB_REPOSITORY: acme/deploy',
        '        PROMOTION_ENVIRONMENT: prod',
        'images:',
        '  - name: curlimages/curl',
        '    newName: registry.example.com/tools/curl',
        '    newTag: "8.12.0"',
        '',
      ].join('\n'),
    );
    // Act
    const { stdout } = await run('kubectl', ['kustomize', dir]);
    const manifests = loadAll(stdout, undefined, { schema: CORE_SCHEMA }) as Manifest[];
    // Assess
    const job = manifests.find((m) => m.kind === 'Job');
    assert.ok(job, 'a Job is rendered');
    assert.equal(job.metadata.annotations?.['argocd.argoproj.io/hook'], 'PreSync');
    assert.equal(
      job.metadata.annotations?.['argocd.argoproj.io/hook-delete-policy'],
      'BeforeHookCreation,HookSucceeded',
    );
    assert.equal(job.spec?.backoffLimit, 0);
    const template = job.spec!.template;
    assert.equal(template.metadata.annotations?.['image-promoter.dev/revision'], REVISION);
    const container = template.spec.containers[0]!;
    assert.equal(container.image, 'registry.example.com/tools/curl:8.12.0');
    assert.deepEqual(container.env.find((e) => e.name === 'REVISION')?.valueFrom, {
      fieldRef: { fieldPath: "metadata.annotations['image-promoter.dev/revision']" },
    });
    const configMaps = manifests.filter((m) => m.kind === 'ConfigMap');
    assert.deepEqual(configMaps.map((m) => m.metadata.name).sort(), [
      'image-promoter-gate-script',
      'image-promoter-gate-settings',
    ]);
    for (const configMap of configMaps) {
      assert.equal(configMap.metadata.annotations?.['argocd.argoproj.io/hook'], 'PreSync');
      assert.equal(configMap.metadata.annotations?.['argocd.argoproj.io/sync-wave'], '-1');
    }
    const settings = configMaps.find((m) => m.metadata.name === 'image-promoter-gate-settings')!;
    assert.equal(settings.data?.['GITHUB_REPOSITORY'], 'acme/deploy');
    assert.equal(settings.data?.['PROMOTION_ENVIRONMENT'], 'prod');
  });
});

describe('wait-for-promotion.sh (sh + curl against the GitHub test server)', () => {
  let repo: GitRepo;
  let github: GitHubServer;
  let commit: string;
  before(async () => {
    repo = await createGitRepo({ 'README.md': 'gate\n' });
    commit = (await repo.git('rev-parse', 'HEAD')).trim();
    github = await startGitHubServer({ repository: 'acme/deploy', gitDirectory: repo.dir });
  });
  after(async () => {
    await Promise.all([github?.stop(), repo?.remove()]);
  });

  async function setStatus(sha: string, context: string, state: string, description: string): Promise<void> {
    const post = (): Promise<Response> =>
      fetch(`${github.url}/repos/acme/deploy/statuses/${sha}`, {
        method: 'POST',
        headers: { authorization: `token ${github.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ state, context, description }),
      });
    // A kept-alive connection the server closed meanwhile resets once; the POST never reached it.
    const response = await post().catch(() => post());
    assert.equal(response.status, 201);
  }

  /** Runs the script; `whileRunning` acts on the server as the worker would. */
  async function gate(
    env: Readonly<Record<string, string>>,
    whileRunning: () => Promise<void> = () => Promise.resolve(),
  ): Promise<GateRun> {
    const running = startPresyncGate({
      GITHUB_API_URL: github.url,
      GITHUB_REPOSITORY: 'acme/deploy',
      PROMOTION_ENVIRONMENT: 'prod',
      GITHUB_TOKEN: github.token,
      REVISION: commit,
      GATE_INTERVAL_SECONDS: '1',
      GATE_TIMEOUT_SECONDS: '30',
      ...env,
    });
    await whileRunning();
    return running.done;
  }

  it('holds while pending, passes once the status is success', async () => {
    // Prepare
    const sha = await repo.commitFiles({ 'a.txt': 'pending then success\n' });
    await setStatus(sha, 'image-promotion/prod', 'pending', 'promoting 1 image');
    await setStatus(sha, 'image-promotion/staging', 'failure', 'another environment: not ours');
    // Act
    const result = await gate({ REVISION: sha }, async () => {
      await new Promise((r) => setTimeout(r, 1500));
      await setStatus(sha, 'image-promotion/prod', 'success', '1 image promoted, 2 MB, 1 s');
    });
    // Assess
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /still waiting: promoting 1 image/);
    assert.match(
      result.output,
      /image-promotion\/prod is success at [0-9a-f]{12} \(1 image promoted, 2 MB, 1 s\)/,
    );
    assert.ok(result.ms >= 1500, 'it waited for the success');
    const polls = github
      .requests()
      .filter((r) => r.path.startsWith(`/repos/acme/deploy/commits/${sha}/status`));
    assert.ok(polls.length >= 2);
    assert.ok(polls.every((r) => r.authorization === `Bearer ${github.token}`));
    assert.ok(!result.output.includes(github.token), 'the token is never printed');
  });

  it('fails the sync on failure, with the reason', async () => {
    // Prepare
    const sha = await repo.commitFiles({ 'a.txt': 'failure\n' });
    await setStatus(
      sha,
      'image-promotion/prod',
      'failure',
      'shop/api:1.2: manifest unknown at the source {x}',
    );
    // Act
    const result = await gate({ REVISION: sha });
    // Assess
    assert.equal(result.code, 1);
    assert.match(
      result.output,
      /image-promotion\/prod failed at [0-9a-f]{12}: shop\/api:1\.2: manifest unknown at the source \{x\}; sync stopped/,
    );
  });

  it('gives up after the timeout while nothing but pending comes', async () => {
    // Prepare
    const sha = await repo.commitFiles({ 'a.txt': 'timeout\n' });
    await setStatus(sha, 'image-promotion/prod', 'pending', 'promoting 3 images');
    // Act
    const result = await gate({ REVISION: sha, GATE_TIMEOUT_SECONDS: '2' });
    // Assess
    assert.equal(result.code, 1);
    assert.match(result.output, /gave up after 2 s: image-promotion\/prod is still not success/);
  });

  const refusals: readonly {
    readonly name: string;
    readonly env: Readonly<Record<string, string>>;
    readonly says: RegExp;
  }[] = [
    {
      name: 'no revision (Argo CD setting missing)',
      env: { REVISION: '' },
      says: /set kustomize.commonAnnotationsEnvsubst: true/,
    },
    {
      name: 'an unsubstituted revision',
      env: { REVISION: '${ARGOCD_APP_REVISION}' },
      says: /the synced revision is unknown/,
    },
    { name: 'no repository', env: { GITHUB_REPOSITORY: '' }, says: /GITHUB_REPOSITORY must be owner\/name/ },
  ];
  for (const c of refusals) {
    it(`refuses to run with ${c.name} (exit 2)`, async () => {
      const result = await gate(c.env);
      assert.equal(result.code, 2);
      assert.match(result.output, c.says);
    });
  }
});
