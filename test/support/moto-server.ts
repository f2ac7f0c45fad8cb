// A real moto_server (Python moto 5) on a free loopback port: STS, ECR control plane, SQS, Secrets
// Manager, DynamoDB, CloudWatch. Point the AWS SDK at it with `env()` (AWS_ENDPOINT_URL and fake
// credentials). Tokens from ECR GetAuthorizationToken are `AWS:<account>-auth-token`, where the
// account is that of the credentials used: the default account, or the assumed role's.
import { answers, freePort, startProcess, type ManagedProcess } from './processes';

export interface MotoServer {
  readonly url: string;
  /** The account of plain (not assumed-role) credentials. */
  readonly defaultAccountId: string;
  readonly region: string;
  /** Environment for a process or SDK client that must talk to this moto. */
  env(): Record<string, string>;
  /** Sets this moto's endpoint and credentials on the current process (returns an undo). */
  applyToProcess(): () => void;
  stop(): Promise<void>;
}

export interface MotoOptions {
  readonly defaultAccountId?: string;
  readonly region?: string;
}

export async function startMoto(options: MotoOptions = {}): Promise<MotoServer> {
  const port = await freePort();
  const defaultAccountId = options.defaultAccountId ?? '123456789012';
  const region = options.region ?? 'us-east-1';
  const url = `http://127.0.0.1:${port}`;
  const server: ManagedProcess = await startProcess('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    env: { ...process.env, MOTO_ACCOUNT_ID: defaultAccountId },
    ready: () => answers(`${url}/moto-api/`),
    timeoutMs: 60_000,
  });
  const env = (): Record<string, string> => ({
    AWS_ENDPOINT_URL: url,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_SESSION_TOKEN: 'testing',
    AWS_EC2_METADATA_DISABLED: 'true',
  });
  return {
    url,
    defaultAccountId,
    region,
    env,
    applyToProcess: () => {
      const saved = new Map<string, string | undefined>();
      for (const [key, value] of Object.entries(env())) {
        saved.set(key, process.env[key]);
        process.env[key] = value;
      }
      return () => {
        for (const [key, value] of saved) {
          if (value === undefined) Reflect.deleteProperty(process.env, key);
          else process.env[key] = value;
        }
      };
    },
    stop: () => server.stop(),
  };
}
