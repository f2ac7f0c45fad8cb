// `image-promoter worker`: not implemented yet (placeholder so the CLI wiring typechecks).
import { UsageError } from '../../core/errors';
import type { Command } from '../main';

export const workerCommand: Command = {
  summary: '(not implemented yet)',
  usage: 'usage: image-promoter worker',
  run: () => Promise.reject(new UsageError('worker is not implemented yet')),
};
