// `image-promoter webhook`: not implemented yet (placeholder so the CLI wiring typechecks).
import { UsageError } from '../../core/errors';
import type { Command } from '../main';

export const webhookCommand: Command = {
  summary: '(not implemented yet)',
  usage: 'usage: image-promoter webhook',
  run: () => Promise.reject(new UsageError('webhook is not implemented yet')),
};
