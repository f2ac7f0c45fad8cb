import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GitFileSource } from '../../lambdas/adapters/git-file-source';
import { GitHubError } from '../../lambdas/core/errors';
import type { FileSource } from '../../lambdas/core/file-source';
import { resolveOverlayImages } from '../../lambdas/core/overlay/resolve-overlay-images';
import { answersMatch, recordAnswers } from '../../lambdas/core/plan-replay';
import { createGitRepo, type FileChanges, type GitRepo } from '../support/git-repo';

const BASE: FileChanges = {
  'base/kustomization.yaml': 'resources: [deployment.yaml]\n',
  'base/deployment.yaml':
    'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: app}]\n',
  'overlays/prod/kustomization.yaml': 'resources: [../../base]\nimages: [{name: app, newTag: "1"}]\n',
  'overlays/dev/kustomization.yaml': 'resources: [../../base]\nimages: [{name: app, newTag: "2"}]\n',
  'README.md': 'overlays\n',
};

describe('recordAnswers / answersMatch', () => {
  let repo: GitRepo;
  let source: GitFileSource;
  let original: string;

  before(async () => {
    repo = await createGitRepo();
    source = new GitFileSource(repo.dir);
    original = await repo.commitFiles(BASE, 'original');
  });
  after(async () => {
    source?.close();
    await repo?.remove();
  });

  // change made after `original`, does prod resolve identically at both (per the replay)?
  const cases: readonly [string, FileChanges, boolean][] = [
    [
      'nothing the overlay reads changed (another overlay, a README)',
      { 'overlays/dev/kustomization.yaml': 'resources: [../../base]\n', 'README.md': 'x\n' },
      true,
    ],
    [
      'the overlay itself changed',
      { 'overlays/prod/kustomization.yaml': 'resources: [../../base]\nimages: [{name: app, newTag: "3"}]\n' },
      false,
    ],
    [
      'a base resource changed',
      { 'base/deployment.yaml': `${String(BASE['base/deployment.yaml'])}# comment\n` },
      false,
    ],
    ['a file appeared in the overlay directory', { 'overlays/prod/patch.yaml': 'x: 1\n' }, false],
    ['the base was deleted', { 'base/kustomization.yaml': null, 'base/deployment.yaml': null }, false],
  ];
  for (const [name, change, expected] of cases) {
    it(`${expected ? 'matches' : 'differs'} when ${name}`, async () => {
      // Prepare: the push goes from `changed` (before) to `original` (after).
      await repo.commitFiles({ ...BASE, 'overlays/prod/patch.yaml': null }, 'reset', { allowEmpty: true });
      const changed = await repo.commitFiles(change, name);
      const recording = recordAnswers(source, original);
      const images = await resolveOverlayImages(recording, original, 'overlays/prod');

      // Act
      const match = await answersMatch(source, changed, await recording.answers());

      // Assess
      assert.equal(match, expected);
      if (match) {
        // What the replay promises: resolving at `changed` gives the same images.
        assert.deepEqual(await resolveOverlayImages(source, changed, 'overlays/prod'), images);
      }
      assert.ok((await recording.answers()).length >= 3, 'the resolution asked questions');
    });
  }

  it('records only the recorded revision, once per question', async () => {
    // Prepare
    const recording = recordAnswers(source, original);
    // Act
    await Promise.all([
      recording.readFile(original, 'README.md'),
      recording.readFile(original, 'README.md'),
      recording.kindOf('HEAD', 'README.md'),
    ]);
    // Assess
    assert.deepEqual(
      (await recording.answers()).map((a) => a.question),
      [{ op: 'readFile', path: 'README.md' }],
    );
  });

  it('compares a failure at both revisions without the revision names in its message', async () => {
    // Prepare: a question that fails at both revisions, once for a missing file, once for a directory.
    const later = await repo.commitFiles({ 'README.md': 'changed\n' }, 'later');
    const recording = recordAnswers(source, original);
    await Promise.allSettled([
      recording.readFile(original, 'overlays/missing.yaml'),
      recording.readFile(original, 'overlays'),
    ]);
    const answers = await recording.answers();

    // Act
    const match = await answersMatch(source, later, answers);

    // Assess
    assert.equal(match, true);
    assert.match(answers[0]!.outcome, /no such file at revision <revision>$/);
  });

  it('throws retryable failures of the outside system instead of answering false', async () => {
    // Prepare
    const recording = recordAnswers(source, original);
    await resolveOverlayImages(recording, original, 'overlays/prod');
    const down: FileSource = {
      kindOf: () => Promise.reject(new GitHubError('GitHub answered 502', 502)),
      readFile: () => Promise.reject(new GitHubError('GitHub answered 502', 502)),
      listDirectory: () => Promise.reject(new GitHubError('GitHub answered 502', 502)),
    };
    // Act
    const match = answersMatch(down, original, await recording.answers());
    // Assess
    await assert.rejects(match, (e: unknown) => e instanceof GitHubError && e.retryable);
  });
});
