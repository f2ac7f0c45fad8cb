import assert from 'node:assert/strict';
import { chmod, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GitFileSource } from '../../lambdas/adapters/git-file-source';
import { GitError, OverlayError, PlanningLimitError } from '../../lambdas/core/errors';
import { NULL_SHA } from '../../lambdas/core/file-source';
import { createGitRepo, type GitRepo } from '../support/git-repo';

const MAX_FILE_BYTES = 1024 * 1024;
const BIG = 'x'.repeat(MAX_FILE_BYTES + 1);
// Multi-byte characters across the pipe's chunk boundaries must decode intact.
const LARGE_UTF8 = 'é€😀\n'.repeat(40_000);

for (const mode of ['files', 'git'] as const)
  describe(`GitFileSource (objects: ${mode})`, () => {
    let repo: GitRepo;
    let first: string;
    let second: string;
    let source: GitFileSource;
    /** A git wrapper that logs every invocation and every object id sent to cat-file. */
    let shim: string;
    let log: string;

    before(async () => {
      repo = await createGitRepo();
      await repo.writeFiles({
        'base/kustomization.yaml': 'resources: [deployment.yaml]\n',
        'base/deployment.yaml': 'kind: Deployment\n',
        'overlays/production/kustomization.yaml': 'resources: [../../base]\n',
        'overlays/production/b file.yaml': 'b\n',
        'overlays/production/a.yaml': 'a\n',
        'overlays/production/nested/x.yaml': 'x\n',
        'big.yaml': BIG,
        'large-utf8.txt': LARGE_UTF8,
        ...Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`many/f${i}.txt`, `${i}\n`])),
      });
      await symlink('../base', join(repo.dir, 'overlays/base-link'));
      await symlink('production/a.yaml', join(repo.dir, 'overlays/a-link.yaml'));
      await symlink('missing.yaml', join(repo.dir, 'overlays/dangling'));
      await symlink('../../outside', join(repo.dir, 'overlays/escape'));
      first = await repo.commit('first');
      second = await repo.commitFiles(
        { 'overlays/production/a.yaml': 'a2\n', 'base/deployment.yaml': null },
        'second',
      );

      log = join(repo.dir, '..', `${repo.dir.split('/').pop()}-git.log`);
      shim = `${log}.sh`;
      await writeFile(
        shim,
        [
          '#!/bin/sh',
          `echo "$*" >> '${log}'`,
          `if [ "$3" = cat-file ]; then tee -a '${log}.stdin' | git "$@"; else exec git "$@"; fi`,
          '',
        ].join('\n'),
      );
      await chmod(shim, 0o755);
    });
    after(async () => {
      source?.close();
      await Promise.all([
        repo?.remove(),
        rm(log, { force: true }),
        rm(`${log}.stdin`, { force: true }),
        rm(shim, { force: true }),
      ]);
    });

    describe('kindOf', () => {
      const cases: readonly [string, 'first' | 'second', string, 'file' | 'directory' | undefined][] = [
        ['the root', 'first', '', 'directory'],
        ['a directory', 'first', 'overlays/production', 'directory'],
        ['a directory with ./ and trailing slash', 'first', './overlays/production/', 'directory'],
        ['a file', 'first', 'overlays/production/a.yaml', 'file'],
        ['a file with a space', 'first', 'overlays/production/b file.yaml', 'file'],
        ['a missing path', 'first', 'overlays/staging', undefined],
        ['a path through a file', 'first', 'base/deployment.yaml/x', undefined],
        ['a path above the root', 'first', '../x', undefined],
        ['.. inside the tree', 'first', 'overlays/production/../../base/deployment.yaml', 'file'],
        ['a file deleted by the next commit', 'second', 'base/deployment.yaml', undefined],
        ['a symbolic link to a directory', 'first', 'overlays/base-link', 'directory'],
        ['a file through a symbolic link', 'first', 'overlays/base-link/kustomization.yaml', 'file'],
        ['a symbolic link to a file', 'first', 'overlays/a-link.yaml', 'file'],
        ['a dangling symbolic link', 'first', 'overlays/dangling', undefined],
      ];
      for (const [name, revision, path, expected] of cases) {
        it(`${name}: ${path || "''"} -> ${expected ?? 'undefined'}`, async () => {
          // Prepare
          const git = new GitFileSource(repo.dir, { objects: mode });
          // Act
          const kind = await git.kindOf(revision === 'first' ? first : second, path);
          // Assess
          assert.equal(kind, expected);
          git.close();
        });
      }
    });

    it('reads files at each revision, following symbolic links, decoding UTF-8 intact', async () => {
      // Prepare
      source = new GitFileSource(repo.dir, { objects: mode });
      // Act
      const [a1, a2, link, viaDir, large] = await Promise.all([
        source.readFile(first, 'overlays/production/a.yaml'),
        source.readFile(second, 'overlays/production/a.yaml'),
        source.readFile(first, 'overlays/a-link.yaml'),
        source.readFile(first, 'overlays/base-link/kustomization.yaml'),
        source.readFile('HEAD', 'large-utf8.txt'),
      ]);
      // Assess
      assert.deepEqual([a1, a2, link, viaDir], ['a\n', 'a2\n', 'a\n', 'resources: [deployment.yaml]\n']);
      assert.equal(large, LARGE_UTF8);
    });

    it('lists a directory sorted by name with kinds, symbolic links resolved, dangling ones left out', async () => {
      // Prepare
      const git = new GitFileSource(repo.dir, { objects: mode });
      // Act
      const [production, overlays, root] = await Promise.all([
        git.listDirectory(first, 'overlays/production'),
        git.listDirectory(first, 'overlays'),
        git.listDirectory(second, ''),
      ]);
      // Assess
      assert.deepEqual(production, [
        { name: 'a.yaml', kind: 'file' },
        { name: 'b file.yaml', kind: 'file' },
        { name: 'kustomization.yaml', kind: 'file' },
        { name: 'nested', kind: 'directory' },
      ]);
      assert.deepEqual(
        overlays.map((e) => `${e.name}:${e.kind}`),
        ['a-link.yaml:file', 'base-link:directory', 'production:directory'],
      );
      assert.deepEqual(
        root.map((e) => e.name),
        ['base', 'big.yaml', 'large-utf8.txt', 'many', 'overlays'],
      );
      git.close();
    });

    it('lists each revision once and reads each blob once, however often and concurrently asked', async () => {
      // Prepare
      await Promise.all([rm(log, { force: true }), rm(`${log}.stdin`, { force: true })]);
      const git = new GitFileSource(repo.dir, { git: shim, objects: mode });
      const paths = [
        'overlays/production/kustomization.yaml',
        'overlays/production/a.yaml',
        'overlays/production/b file.yaml',
      ];

      // Act: the same files at both revisions, three times over, all at once.
      const contents = await Promise.all(
        [first, second, first, second, first, second].flatMap((rev) =>
          paths.map((p) => git.readFile(rev, p)),
        ),
      );
      await git.kindOf(first, 'overlays');
      git.close();

      // Assess
      assert.equal(contents.length, 18);
      if (mode === 'files') {
        // Read from .git: git is not started at all.
        await assert.rejects(readFile(log, 'utf8'), /ENOENT/);
        return;
      }
      const calls = (await readFile(log, 'utf8')).trim().split('\n');
      assert.equal(calls.filter((c) => c.includes('ls-tree')).length, 2, calls.join('\n'));
      assert.equal(calls.filter((c) => c.includes('cat-file')).length, 1, calls.join('\n'));
      const requested = (await readFile(`${log}.stdin`, 'utf8')).trim().split('\n');
      // kustomization.yaml and b file.yaml did not change between the revisions: 4 distinct blobs.
      assert.equal(requested.length, 4, requested.join('\n'));
      assert.equal(new Set(requested).size, 4);
    });

    it('rejects a file over maxFileBytes from its size, without reading it', async () => {
      // Prepare
      await rm(`${log}.stdin`, { force: true });
      const git = new GitFileSource(repo.dir, { git: shim, maxFileBytes: MAX_FILE_BYTES, objects: mode });
      // Act
      const read = git.readFile(first, 'big.yaml');
      // Assess
      await assert.rejects(read, (e: unknown) => {
        assert.ok(e instanceof PlanningLimitError);
        assert.equal(e.file, 'big.yaml');
        assert.match(
          e.message,
          /^big\.yaml: planning\.maxFileBytes reached: file is 1048577 bytes, over 1048576$/,
        );
        return true;
      });
      await assert.rejects(readFile(`${log}.stdin`, 'utf8'), /ENOENT/);
      git.close();
    });

    const failures: readonly [
      string,
      () => GitFileSource,
      string,
      string,
      RegExp,
      typeof GitError | typeof OverlayError,
    ][] = [
      [
        'unknown revision',
        () => new GitFileSource(repo.dir, { objects: mode }),
        'no-such-branch',
        '',
        /^unknown revision "no-such-branch" in /,
        GitError,
      ],
      [
        'the null SHA',
        () => new GitFileSource(repo.dir, { objects: mode }),
        NULL_SHA,
        '',
        /^unknown revision "0{40}"/,
        GitError,
      ],
      [
        'an option-like revision',
        () => new GitFileSource(repo.dir, { objects: mode }),
        '--output=x',
        '',
        /^invalid revision "--output=x"$/,
        GitError,
      ],
      [
        'not a repository',
        () => new GitFileSource('/', { objects: mode }),
        'HEAD',
        '',
        /^\/ is not a git repository$/,
        GitError,
      ],
      [
        'a missing directory',
        () => new GitFileSource('/nonexistent/repo', { objects: mode }),
        'HEAD',
        '',
        /^\/nonexistent\/repo does not exist$/,
        GitError,
      ],
      [
        'git not installed',
        () => new GitFileSource(repo.dir, { git: '/nonexistent/git', objects: 'git' }),
        'HEAD',
        '',
        /^git is not installed/,
        GitError,
      ],
      [
        'reading a directory',
        () => new GitFileSource(repo.dir, { objects: mode }),
        'HEAD',
        'overlays',
        /^overlays: is a directory, not a file$/,
        OverlayError,
      ],
      [
        'reading a missing file',
        () => new GitFileSource(repo.dir, { objects: mode }),
        'HEAD',
        'nope.yaml',
        /^nope\.yaml: no such file at revision HEAD$/,
        OverlayError,
      ],
      [
        'a symbolic link leaving the repository',
        () => new GitFileSource(repo.dir, { objects: mode }),
        'HEAD',
        'overlays/escape',
        /^overlays\/escape: symbolic link to \.\.\/\.\.\/outside leaves the repository$/,
        OverlayError,
      ],
    ];
    for (const [name, create, revision, path, message, type] of failures) {
      it(`fails with a one-line ${type.name}: ${name}`, async () => {
        // Prepare
        const git = create();
        // Act
        const read = git.readFile(revision, path);
        // Assess
        await assert.rejects(read, (e: unknown) => {
          assert.ok(e instanceof type, `got ${String(e)}`);
          assert.equal(e.retryable, false);
          assert.match(e.message, message);
          assert.ok(!e.message.includes('\n'));
          return true;
        });
        git.close();
      });
    }

    it('keeps working after close(): the next read starts a new reader, never answered by the old one', async () => {
      // Prepare
      const git = new GitFileSource(repo.dir, { objects: mode });

      // Act: read, close while the old reader may still be exiting, read at once again (distinct
      // blobs, so no read is served from the cache).
      const results: string[] = [];
      for (let i = 0; i < 20; i += 2) {
        results.push(await git.readFile(first, `many/f${i}.txt`));
        git.close();
        results.push(await git.readFile(first, `many/f${i + 1}.txt`));
      }
      git.close();

      // Assess
      assert.deepEqual(
        results,
        Array.from({ length: 20 }, (_, i) => `${i}\n`),
      );
    });
  });
