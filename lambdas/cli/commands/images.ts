// `image-promoter images`: the images a Kustomize overlay deploys at one revision of a local git
// repository, as the resolver computes them (what `kustomize build` would render). Wiring only:
// git FileSource + resolveOverlayImages; never touches the working tree or any registry.
import { resolve } from 'node:path';
import { GitFileSource } from '../../adapters/git-file-source';
import { UsageError } from '../../core/errors';
import { resolveOverlayImages, type OverlayImages } from '../../core/overlay/resolve-overlay-images';
import type { Command, CommandIo } from '../command';
import { parseCommandArgs } from '../parse-command-args';

const USAGE = `usage: image-promoter images --overlay PATH [--repo DIR] [--ref REV] [--json]

Lists the images the Kustomize overlay at PATH deploys at revision REV, as \`kustomize build\` would
render them, read from git (not from the working tree).

  --repo DIR      a directory of the git repository (default: the current directory)
  --ref REV       commit, branch or tag (default: HEAD)
  --overlay PATH  overlay directory, relative to the repository root
  --json          print {"images": [...], "warnings": [...]}: sorted unique references`;

export const imagesCommand: Command = {
  summary: 'list the images an overlay deploys at a revision',
  usage: USAGE,
  async run(args: readonly string[], io: CommandIo): Promise<number> {
    const options = parseOptions(args);
    const source = new GitFileSource(resolve(options.repo));
    try {
      const result = await resolveOverlayImages(source, options.ref, options.overlay);
      io.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : formatImages(options, result));
      return 0;
    } finally {
      source.close();
    }
  },
};

interface ImagesOptions {
  readonly repo: string;
  readonly ref: string;
  readonly overlay: string;
  readonly json: boolean;
}

function parseOptions(args: readonly string[]): ImagesOptions {
  const { values } = parseCommandArgs({
    args: [...args],
    options: {
      repo: { type: 'string', default: '.' },
      ref: { type: 'string', default: 'HEAD' },
      overlay: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.overlay === undefined || values.overlay === '')
    throw new UsageError('--overlay PATH is required');
  return { repo: values.repo, ref: values.ref, overlay: values.overlay, json: values.json };
}

function formatImages(options: ImagesOptions, result: OverlayImages): string {
  const count = `${result.images.length} image${result.images.length === 1 ? '' : 's'}`;
  const lines = [
    `${options.overlay} at ${options.ref}: ${count}`,
    ...result.images.map((image) => `  ${image}`),
  ];
  for (const warning of result.warnings) lines.push(`warning: ${warning}`);
  return `${lines.join('\n')}\n`;
}
