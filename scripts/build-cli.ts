// Builds the shipped CLI: lambdas/cli/entry.ts and everything it imports (AWS SDK, octokit, yaml, zod
// included) into plain ESM JavaScript under dist/cli/, one chunk per command so `--help` loads only
// the small entry. Run by `npm ci` / `npm pack` (package.json `prepare`) and `npm run build`; the
// package then needs no dependency at run time. Like the Lambda bundles (infra/constructs/
// lambda-bundling.ts): local esbuild, minified, ESM with a `require` for bundled CommonJS code.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Metafile } from 'esbuild';

export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLI_OUTDIR = join(PROJECT_ROOT, 'dist', 'cli');
/** The file bin/image-promoter.mjs imports. */
export const CLI_ENTRY_FILE = 'entry.mjs';
/** package.json engines.node. */
const TARGET = 'node20';
/** Same banner as the Lambda bundles (ESM_REQUIRE_BANNER there): bundled CommonJS dependencies still
 * call `require` for Node built-ins. */
const REQUIRE_BANNER =
  "import { createRequire as __ipCreateRequire } from 'node:module'; const require = __ipCreateRequire(import.meta.url);";

export async function buildCli(outdir: string = CLI_OUTDIR): Promise<Metafile> {
  await rm(outdir, { recursive: true, force: true });
  const result = await build({
    entryPoints: [join(PROJECT_ROOT, 'lambdas', 'cli', 'entry.ts')],
    outdir,
    entryNames: '[name]',
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: TARGET,
    mainFields: ['module', 'main'],
    minify: true,
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'linked',
    banner: { js: REQUIRE_BANNER },
    metafile: true,
    logLevel: 'error',
  });
  return result.metafile;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = Date.now();
  const metafile = await buildCli();
  const bytes = Object.values(metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
  process.stdout.write(
    `built dist/cli/ (${Math.round(bytes / 1024)} KB with source maps) in ${Date.now() - started} ms\n`,
  );
}
