// `image-promoter copy`: not implemented yet (placeholder so the CLI wiring typechecks).
import { UsageError } from '../../core/errors';
import type { Command } from '../main';

export const copyCommand: Command = {
  summary: '(not implemented yet)',
  usage: 'usage: image-promoter copy',
  run: () => Promise.reject(new UsageError('copy is not implemented yet')),
};
