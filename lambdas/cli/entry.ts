// The process entry of the CLI: what bin/image-promoter.cjs runs, built to dist/cli/entry.cjs by
// scripts/build-cli.ts (or from the sources through tsx in development). Wiring only. No top-level
// await: the built CLI is CommonJS.
import { main } from './main';

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
