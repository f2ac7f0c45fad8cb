#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's own test runner through tsx. Node 20 has no glob support
// in `node --test`, so the files are listed here. Pass paths or substrings to run a subset.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function findTests(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'fixtures' ? [] : findTests(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

const filters = process.argv.slice(2);
const files = findTests('test')
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=3', '--test-reporter=spec', ...files],
  // bin/image-promoter.cjs runs lambdas/cli/ from the sources (tsx) in tests, never a stale dist/;
  // test/cli/package.test.ts builds and runs the shipped bundle itself.
  { stdio: 'inherit', env: { ...process.env, NODE_NO_WARNINGS: '1', IMAGE_PROMOTER_CLI_FROM_SOURCES: '1' } },
);
process.exit(result.status ?? 1);
