#!/usr/bin/env node
// Entry point of the `image-promoter` CLI: plain node running the CommonJS bundle that `npm ci` (the
// prepare step), `npm pack` and `npm run build` write to dist/cli/ (scripts/build-cli.ts says why
// CommonJS: start-up). No TypeScript loader at run time.
// IMAGE_PROMOTER_CLI_FROM_SOURCES=1 runs lambdas/cli/ through tsx instead: set by
// scripts/run-tests.mjs in a source checkout so that tests see the sources, never a stale build.
'use strict';
if (process.env.IMAGE_PROMOTER_CLI_FROM_SOURCES === '1') {
  void import('tsx/esm/api').then(({ register }) => {
    register();
    return import('../lambdas/cli/entry.ts');
  });
} else {
  const entry = require('node:path').join(__dirname, '..', 'dist', 'cli', 'entry.cjs');
  try {
    require(entry);
  } catch (e) {
    if (e?.code !== 'MODULE_NOT_FOUND' || !String(e.message).includes(entry)) throw e;
    process.stderr.write('image-promoter: dist/cli/ is not built: run `npm run build` (npm ci does it)\n');
    process.exitCode = 1;
  }
}
