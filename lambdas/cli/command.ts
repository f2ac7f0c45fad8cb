// What a CLI command is: the shape every module in ./commands exports and main.ts runs. Its own
// module so the commands never import main.ts (which loads them): no import circle.

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
