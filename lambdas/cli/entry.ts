// The process entry of the CLI: what bin/image-promoter.mjs runs, built to dist/cli/entry.mjs by
// scripts/build-cli.ts (or from the sources through tsx in development). Wiring only.
import { main } from './main';

process.exitCode = await main(process.argv.slice(2));
