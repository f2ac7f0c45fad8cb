#!/usr/bin/env node
// Entry point of the `image-promoter` CLI: loads the TypeScript sources through tsx, so a fresh
// `npm ci` is enough to run it (no build step, no generated files in git).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../lambdas/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
