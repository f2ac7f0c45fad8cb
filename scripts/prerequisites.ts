// The programs `npm test` and `npm run demo` need besides Node, and the set-up step both run first
// (`tsx scripts/prerequisites.ts test|demo`): a missing Debian-packaged program is installed with
// apt-get when we are root on Debian/Ubuntu (one line says so); otherwise the command stops at once
// with one line naming what to install for this system. test/support/processes.ts uses the same
// table to refuse, before spawning, a server whose program is missing (no test waits for it).
// Must never install anything without root on Debian/Ubuntu, nor ask questions (noninteractive).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface Program {
  readonly name: string;
  /** The Debian/Ubuntu package holding it, when Debian ships a version the tests work with. */
  readonly debianPackage?: string;
  /** How to install it anywhere else (or on Debian when there is no package). */
  readonly elsewhere: string;
}

export const PROGRAMS = {
  git: { name: 'git', debianPackage: 'git', elsewhere: 'git from your package manager' },
  skopeo: {
    name: 'skopeo',
    debianPackage: 'skopeo',
    elsewhere: 'skopeo (https://github.com/containers/skopeo/blob/main/install.md)',
  },
  'docker-registry': {
    name: 'docker-registry',
    debianPackage: 'docker-registry',
    elsewhere:
      "the CNCF distribution registry as `docker-registry` on PATH (Fedora's docker-distribution or Homebrew's distribution installs it as `registry`: link it)",
  },
  openssl: { name: 'openssl', debianPackage: 'openssl', elsewhere: 'openssl from your package manager' },
  // Debian's python3-moto is moto 4; the tests need moto 5's server.
  moto_server: { name: 'moto_server', elsewhere: "pip install 'moto[server]>=5'" },
  kubectl: { name: 'kubectl', elsewhere: 'kubectl (https://kubernetes.io/docs/tasks/tools/)' },
  'cfn-lint': { name: 'cfn-lint', elsewhere: 'pip install cfn-lint' },
} as const satisfies Record<string, Program>;

export type ProgramName = keyof typeof PROGRAMS;

/** What each of README's two commands needs. */
export const NEEDS: Readonly<Record<'test' | 'demo', readonly ProgramName[]>> = {
  demo: ['git', 'skopeo', 'docker-registry', 'moto_server'],
  test: ['git', 'skopeo', 'docker-registry', 'openssl', 'moto_server', 'kubectl', 'cfn-lint'],
};

/** The absolute path of `name` on `env.PATH` (executable regular file), or undefined. */
export function findProgram(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      if (statSync(path).isFile()) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface System {
  /** Effective user is root (apt-get may run). */
  readonly root: boolean;
  /** Debian, Ubuntu or a derivative with apt-get on PATH. */
  readonly debian: boolean;
}

export function detectSystem(env: NodeJS.ProcessEnv = process.env): System {
  let osRelease = '';
  try {
    osRelease = readFileSync('/etc/os-release', 'utf8');
  } catch {
    // not Linux, or a minimal image without it
  }
  // os-release(5): ID=debian / ID=ubuntu, derivatives list them in ID_LIKE.
  const ids = [...osRelease.matchAll(/^(?:ID|ID_LIKE)=("?)([^"\n]*)\1$/gm)].flatMap((m) =>
    m[2]!.split(/\s+/),
  );
  return {
    root: process.getuid?.() === 0,
    debian: ids.some((id) => id === 'debian' || id === 'ubuntu') && findProgram('apt-get', env) !== undefined,
  };
}

/** One line saying how to install `missing` on `system`. */
export function installAdvice(missing: readonly ProgramName[], system: System): string {
  const packages = missing.flatMap((name) => {
    const program: Program = PROGRAMS[name];
    return system.debian && program.debianPackage !== undefined ? [program.debianPackage] : [];
  });
  const others = missing
    .filter((name) => !(system.debian && (PROGRAMS[name] as Program).debianPackage !== undefined))
    .map((name) => PROGRAMS[name].elsewhere);
  const apt =
    packages.length === 0 ? [] : [`${system.root ? '' : 'sudo '}apt-get install -y ${packages.join(' ')}`];
  return [...apt, ...others].join('; ');
}

/** The error message for a program a test server needs and PATH lacks. */
export function missingProgramMessage(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const known =
    name in PROGRAMS ? installAdvice([name as ProgramName], detectSystem(env)) : `install ${name}`;
  return `${name} is not installed (not found on PATH): ${known}`;
}

export interface EnsureOptions {
  readonly purpose: keyof typeof NEEDS;
  readonly env?: NodeJS.ProcessEnv;
  readonly system?: System;
  /** Installs Debian packages; throws with apt-get's complaint. Default: apt-get update + install. */
  readonly aptInstall?: (packages: readonly string[], env: NodeJS.ProcessEnv) => void;
  readonly write?: (line: string) => void;
}

/** Returns the exit code: 0 when every program is (now) there, 1 after one line saying what to do. */
export function ensurePrerequisites(options: EnsureOptions): number {
  const env = options.env ?? process.env;
  const system = options.system ?? detectSystem(env);
  const write = options.write ?? ((line: string): void => void process.stderr.write(`${line}\n`));
  const command = options.purpose === 'test' ? 'npm test' : 'npm run demo';
  const missingNow = (): ProgramName[] =>
    NEEDS[options.purpose].filter((name) => findProgram(name, env) === undefined);

  let missing = missingNow();
  const installable = missing.filter((name) => (PROGRAMS[name] as Program).debianPackage !== undefined);
  if (system.root && system.debian && installable.length > 0) {
    const packages = installable.map((name) => (PROGRAMS[name] as Program).debianPackage!);
    write(
      `image-promoter: ${command} needs ${installable.join(', ')}: installing with apt-get install -y ${packages.join(' ')}`,
    );
    try {
      (options.aptInstall ?? aptInstall)(packages, env);
    } catch (e: unknown) {
      write(`image-promoter: apt-get failed: ${e instanceof Error ? e.message : String(e)}`);
      return 1;
    }
    missing = missingNow();
  }
  if (missing.length === 0) return 0;
  write(
    `image-promoter: ${command} needs ${missing.join(', ')} (not found on PATH); install: ${installAdvice(missing, system)}`,
  );
  return 1;
}

function aptInstall(packages: readonly string[], env: NodeJS.ProcessEnv): void {
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', ...packages],
  ]) {
    const result = spawnSync('apt-get', args, { env: aptEnv, encoding: 'utf8', maxBuffer: 64 << 20 });
    if (result.status !== 0) {
      const said = `${result.stderr ?? ''}${result.error?.message ?? ''}`.trim().split('\n').at(-1) ?? '';
      throw new Error(`apt-get ${args[0]} exited ${result.status ?? 'on a signal'}: ${said}`);
    }
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const purpose = process.argv[2];
  if (purpose !== 'test' && purpose !== 'demo') {
    process.stderr.write('usage: tsx scripts/prerequisites.ts test|demo\n');
    process.exit(2);
  }
  process.exit(ensurePrerequisites({ purpose }));
}
