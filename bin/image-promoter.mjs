#!/usr/bin/env node
// Entry point of the `image-promoter` CLI: plain node running the bundle that `npm ci` (the prepare
// step), `npm pack` and `npm run build` write to dist/cli/. No TypeScript loader at run time.
// IMAGE_PROMOTER_CLI_FROM_SOURCES=1 runs lambdas/cli/ through tsx instead: set by
// scripts/run-tests.mjs in a source checkout so that tests see the sources, never a stale build.
if (process.env.IMAGE_PROMOTER_CLI_FROM_SOURCES === '1') {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../lambdas/cli/entry.ts');
} else {
  const entry = new URL('../dist/cli/entry.mjs', import.meta.url);
  try {
    await import(entry.href);
  } catch (e) {
    if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes(entry.pathname)) throw e;
    process.stderr.write('image-promoter: dist/cli/ is not built: run `npm run build` (npm ci does it)\n');
    process.exitCode = 1;
  }
}
