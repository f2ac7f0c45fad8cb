// `image-promoter images`: not implemented yet (placeholder so the CLI wiring typechecks).
import { UsageError } from '../../core/errors';
import type { Command } from '../main';

export const imagesCommand: Command = {
  summary: '(not implemented yet)',
  usage: 'usage: image-promoter images',
  run: () => Promise.reject(new UsageError('images is not implemented yet')),
};
