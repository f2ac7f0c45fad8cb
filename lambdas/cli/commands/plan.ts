// `image-promoter plan`: not implemented yet (placeholder so the CLI wiring typechecks).
import { UsageError } from '../../core/errors';
import type { Command } from '../main';

export const planCommand: Command = {
  summary: '(not implemented yet)',
  usage: 'usage: image-promoter plan',
  run: () => Promise.reject(new UsageError('plan is not implemented yet')),
};
