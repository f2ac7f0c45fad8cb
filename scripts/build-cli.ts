// Builds the shipped CLI: lambdas/cli/entry.ts and everything it imports (AWS SDK, octokit, yaml, zod
// included) into plain CommonJS under dist/cli/, so the package needs no dependency at run time. Run
// by `npm ci` / `npm pack` (package.json `prepare`) and `npm run build`. Local esbuild, minified,
// like the Lambda bundles (infra/constructs/lambda-bundling.ts).
//
// CommonJS, not ESM, because of start-up: on Node 20 a process whose bin is ESM starts the ESM loader,
// which reads every module asynchronously and wraps every built-in it imports in a facade. Measured
// on the 2-core build machine (perf stat, 30 runs each, 2026-12-06): `--version` 153 → 140 ms,
// `copy --help` 174 → 150 ms, against `node -e 0` at 124 ms. esbuild splits code into shared chunks
// only for ESM, so the bundles are cut by hand, along the lines the sources already draw:
//
//   entry.cjs              main.ts: --help, --version and the command table; no command code
//   commands/<name>.cjs    one command and all it imports statically
//   lazy/<name>.cjs        what a command imports only when it needs it (`await import(...)`):
//                          the config file's parser, the AWS SDK for ECR tokens
//   shared/errors.cjs      the error tree, once: every other bundle requires it, so `instanceof`
//                          (main.ts's exit codes, retry decisions) holds across bundles
//
// Every `import()` of a source file becomes its own bundle, required when the import runs.
import { rm } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Metafile, type Plugin } from 'esbuild';

export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLI_OUTDIR = join(PROJECT_ROOT, 'dist', 'cli');
/** The file bin/image-promoter.cjs requires. */
export const CLI_ENTRY_FILE = 'entry.cjs';
/** package.json engines.node. */
const TARGET = 'node20';
const LAMBDAS = join(PROJECT_ROOT, 'lambdas');
const COMMANDS_DIR = join(LAMBDAS, 'cli', 'commands');
/** Modules whose classes must be one across bundles (without extension). */
const SHARED = new Map([[join(LAMBDAS, 'core', 'errors'), 'shared/errors.cjs']]);

/** Where a source file's own bundle goes, relative to the output directory. */
function bundleName(source: string): string {
  const shared = SHARED.get(source);
  if (shared !== undefined) return shared;
  const name = basename(source).replace(/\.ts$/, '');
  return dirname(source) === COMMANDS_DIR ? `commands/${name}.cjs` : `lazy/${name}.cjs`;
}

/**
 * Keeps shared modules and `import()`ed source files out of the bundle being built: each becomes a
 * `require` of its own bundle (queued in `wanted`), at a path relative to the output file.
 */
function boundaries(outfile: string, outdir: string, self: string, wanted: Set<string>): Plugin {
  return {
    name: 'image-promoter-bundle-boundaries',
    setup(b) {
      b.onResolve({ filter: /^\.\.?\// }, (args) => {
        const target = resolve(args.resolveDir, args.path).replace(/\.ts$/, '');
        const shared = SHARED.has(target) && target !== self;
        // Only our own sources: a dependency's import() (the AWS SDK's SSO loaders) stays inside
        // the bundle that uses it, evaluated when imported.
        const lazy = args.kind === 'dynamic-import' && target.startsWith(`${LAMBDAS}/`);
        if (!shared && !lazy) return undefined;
        if (lazy) wanted.add(`${target}.ts`);
        let path = relative(dirname(outfile), join(outdir, bundleName(target)));
        if (!path.startsWith('.')) path = `./${path}`;
        return { path, external: true };
      });
    },
  };
}

function mergeMetafiles(metafiles: readonly Metafile[]): Metafile {
  return {
    inputs: Object.assign({}, ...metafiles.map((m) => m.inputs)) as Metafile['inputs'],
    outputs: Object.assign({}, ...metafiles.map((m) => m.outputs)) as Metafile['outputs'],
  };
}

export async function buildCli(outdir: string = CLI_OUTDIR): Promise<Metafile> {
  await rm(outdir, { recursive: true, force: true });
  const entry = join(LAMBDAS, 'cli', 'entry.ts');
  const queue: { source: string; outfile: string }[] = [
    { source: entry, outfile: join(outdir, CLI_ENTRY_FILE) },
    ...[...SHARED].map(([source, name]) => ({ source: `${source}.ts`, outfile: join(outdir, name) })),
  ];
  const built = new Set(queue.map((item) => item.source));
  const metafiles: Metafile[] = [];
  while (queue.length > 0) {
    const batch = queue.splice(0);
    const results = await Promise.all(
      batch.map(async ({ source, outfile }) => {
        const wanted = new Set<string>();
        const result = await build({
          entryPoints: [source],
          outfile,
          bundle: true,
          format: 'cjs',
          platform: 'node',
          target: TARGET,
          // `import()` of a bundle becomes a require() inside a promise (it is CommonJS).
          supported: { 'dynamic-import': false },
          mainFields: ['module', 'main'],
          minify: true,
          sourcemap: 'linked',
          sourcesContent: false,
          legalComments: 'linked',
          metafile: true,
          logLevel: 'error',
          plugins: [boundaries(outfile, outdir, source.replace(/\.ts$/, ''), wanted)],
        });
        return { metafile: result.metafile, wanted };
      }),
    );
    for (const { metafile, wanted } of results) {
      metafiles.push(metafile);
      for (const source of wanted) {
        if (built.has(source)) continue;
        built.add(source);
        queue.push({ source, outfile: join(outdir, bundleName(source.replace(/\.ts$/, ''))) });
      }
    }
  }
  return mergeMetafiles(metafiles);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = Date.now();
  const metafile = await buildCli();
  const bytes = Object.values(metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
  process.stdout.write(
    `built dist/cli/ (${Math.round(bytes / 1024)} KB with source maps) in ${Date.now() - started} ms\n`,
  );
}
