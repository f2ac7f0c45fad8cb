// `image-promoter webhook --port PORT --config FILE`: the webhook Lambda served over plain HTTP for
// local use (lambdas/local/webhook-server.ts). Wiring only: options, config, handler, server, stop on
// a signal. Secrets come from WEBHOOK_SECRET / GITHUB_TOKEN (or their ARNs); it never prints them.
import { loadConfigFile, loadConfigFromEnvironment } from '../../adapters/config-source';
import { UsageError } from '../../core/errors';
import { createWebhookHandler } from '../../webhook/handler';
import { startWebhookServer } from '../../local/webhook-server';
import type { Command, CommandIo } from '../command';
import { parseCommandArgs, parseIntegerOption } from '../parse-command-args';

const USAGE = `usage: image-promoter webhook --port PORT [--host HOST] [--config FILE]

Serves the webhook Lambda over plain HTTP, exactly as its Function URL would call it.
  --port PORT     port to listen on (0: any free port)
  --host HOST     address to bind (default 127.0.0.1)
  --config FILE   image-promoter.yaml (default: IMAGE_PROMOTER_CONFIG / IMAGE_PROMOTER_CONFIG_FILE)

Environment: WEBHOOK_SECRET (comma-separated for rotation) or WEBHOOK_SECRET_ARN; GITHUB_TOKEN or
GITHUB_TOKEN_SECRET_ARN; GITHUB_API_URL; QUEUE_URL; DELIVERIES_TABLE (optional: in memory without it);
AWS_ENDPOINT_URL for a local AWS endpoint. Stops on SIGINT / SIGTERM.`;

export const webhookCommand: Command = {
  summary: 'serve the webhook Lambda over plain HTTP (local use)',
  usage: USAGE,
  run: async (args: readonly string[], io: CommandIo): Promise<number> => {
    const { values } = parseCommandArgs({
      args: [...args],
      options: { port: { type: 'string' }, host: { type: 'string' }, config: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.port === undefined) throw new UsageError('--port PORT is required (0-65535)');
    const port = parseIntegerOption('--port', values.port, 0, 65535);
    const config = values.config
      ? await loadConfigFile(values.config)
      : await loadConfigFromEnvironment(io.env);
    const handler = createWebhookHandler({ config, env: io.env });
    const server = await startWebhookServer({ handler, port, ...(values.host ? { host: values.host } : {}) });
    io.stdout.write(`image-promoter webhook listening on ${server.url}\n`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await server.stop();
    io.stdout.write('image-promoter webhook stopped\n');
    return 0;
  },
};
