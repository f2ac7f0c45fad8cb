// The `image-promoter` command line: picks the command and maps errors to one line on stderr and
// an exit code (2: usage, 1: failure). Each command lives in ./commands/<name>.ts and only wires core
// and adapters. Commands load only when run: `--help` and `--version` read this table and never
// import a command module (the AWS SDK among them); the built CLI keeps each command in its own bundle
// (scripts/build-cli.ts).
import { version } from '../../package.json';
import { describeError, PromoterError, UsageError } from '../core/errors';
import { describeAwsSetupProblem } from './aws-setup-hint';
import type { Command, CommandIo } from './command';

interface CommandEntry {
  /** The line `image-promoter --help` shows; test/cli/main.test.ts checks it equals the module's. */
  readonly summary: string;
  readonly load: () => Promise<Command>;
}

/** One entry per command. */
export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  copy: {
    summary: 'copy one image between registries, byte for byte (like crane copy)',
    load: async () => (await import('./commands/copy')).copyCommand,
  },
  history: {
    summary: 'list what was promoted into an environment, by whom, from which commit',
    load: async () => (await import('./commands/history')).historyCommand,
  },
  images: {
    summary: 'list the images an overlay deploys at a revision',
    load: async () => (await import('./commands/images')).imagesCommand,
  },
  plan: {
    summary: 'show what a push would promote, per environment',
    load: async () => (await import('./commands/plan')).planCommand,
  },
  prune: {
    summary: 'remove what no overlay deploys and the rollback window does not keep (dry run by default)',
    load: async () => (await import('./commands/prune')).pruneCommand,
  },
  reconcile: {
    summary: 'run the scheduled reconcile once: enqueue what destinations are missing',
    load: async () => (await import('./commands/reconcile')).reconcileCommand,
  },
  verify: {
    summary: 'check that each destination registry holds what its overlay deploys',
    load: async () => (await import('./commands/verify')).verifyCommand,
  },
  webhook: {
    summary: 'serve the webhook Lambda over plain HTTP (local use)',
    load: async () => (await import('./commands/webhook')).webhookCommand,
  },
  worker: {
    summary: 'run the promotion worker against an SQS queue',
    load: async () => (await import('./commands/worker')).workerCommand,
  },
};

function usage(): string {
  const lines = ['usage: image-promoter <command> [options]', '', 'commands:'];
  for (const [name, command] of Object.entries(COMMANDS))
    lines.push(`  ${name.padEnd(10)}${command.summary}`);
  lines.push('', 'Run `image-promoter <command> --help` for its options; `--version` prints the version.');
  return lines.join('\n');
}

export async function main(argv: readonly string[], io: CommandIo = defaultIo()): Promise<number> {
  const [name, ...args] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${usage()}\n`);
    return 0;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    io.stdout.write(`image-promoter ${version}\n`);
    return 0;
  }
  const names = Object.keys(COMMANDS).join(', ');
  const entry = name === undefined ? undefined : Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (name === undefined || entry === undefined) {
    const what = name === undefined ? 'expected a command' : `unknown command "${name}"`;
    io.stderr.write(`image-promoter: ${what}: ${names} (see --help)\n`);
    return 2;
  }
  const command = await entry.load();
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(args, io);
  } catch (e: unknown) {
    if (e instanceof UsageError) {
      io.stderr.write(`image-promoter ${name}: ${describeError(e)} (see --help)\n`);
      return 2;
    }
    io.stderr.write(`image-promoter ${name}: ${describeAwsSetupProblem(e) ?? describeError(e)}\n`);
    if (!(e instanceof PromoterError) && io.env['IMAGE_PROMOTER_DEBUG'] && e instanceof Error) {
      io.stderr.write(`${e.stack ?? ''}\n`);
    }
    return 1;
  }
}

function defaultIo(): CommandIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}
