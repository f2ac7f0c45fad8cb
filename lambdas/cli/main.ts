// The `image-promoter` command line: picks the command and maps errors to one line on stderr and
// an exit code. Each command lives in ./commands/<name>.ts and only wires core and adapters.
import { describeError, PromoterError, UsageError } from '../core/errors';

export interface CommandIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
}

export interface Command {
  readonly summary: string;
  readonly usage: string;
  /** Returns the exit code. Throws PromoterError for failures the user must see. */
  run(args: readonly string[], io: CommandIo): Promise<number>;
}

type CommandLoader = () => Promise<Command>;

const COMMANDS: Readonly<Record<string, CommandLoader>> = {
  copy: async () => (await import('./commands/copy')).copyCommand,
  images: async () => (await import('./commands/images')).imagesCommand,
  plan: async () => (await import('./commands/plan')).planCommand,
  verify: async () => (await import('./commands/verify')).verifyCommand,
  webhook: async () => (await import('./commands/webhook')).webhookCommand,
  worker: async () => (await import('./commands/worker')).workerCommand,
};

async function usage(): Promise<string> {
  const lines = ['usage: image-promoter <command> [options]', '', 'commands:'];
  for (const [name, load] of Object.entries(COMMANDS)) {
    const command = await load();
    lines.push(`  ${name.padEnd(10)}${command.summary}`);
  }
  lines.push('', 'Run `image-promoter <command> --help` for its options.');
  return lines.join('\n');
}

export async function main(argv: readonly string[], io: CommandIo = defaultIo()): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${await usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    io.stderr.write(
      `image-promoter: unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(', ')})\n`,
    );
    return 2;
  }
  const command = await load();
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(args, io);
  } catch (e: unknown) {
    io.stderr.write(`image-promoter ${name}: ${describeError(e)}\n`);
    if (e instanceof UsageError) io.stderr.write(`${command.usage}\n`);
    if (!(e instanceof PromoterError) && io.env['IMAGE_PROMOTER_DEBUG'] && e instanceof Error) {
      io.stderr.write(`${e.stack ?? ''}\n`);
    }
    return e instanceof UsageError ? 2 : 1;
  }
}

function defaultIo(): CommandIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}
