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
  /** Cross-account mode: moto's MOTO_ACCOUNT_ID pins EVERY request to one account (assumed roles
   * included), so with this option it is not set; instead `env()` carries the access key of an IAM
   * user created in `defaultAccountId`, and credentials from STS AssumeRole act in the role's account. */
  readonly accountsFollowCredentials?: boolean;
}

export async function startMoto(options: MotoOptions = {}): Promise<MotoServer> {
  const port = await freePort();
  const defaultAccountId = options.defaultAccountId ?? '123456789012';
  const region = options.region ?? 'us-east-1';
  const url = `http://127.0.0.1:${port}`;
  const followCredentials = options.accountsFollowCredentials ?? false;
  const { MOTO_ACCOUNT_ID: _ignored, ...inherited } = process.env;
  const server: ManagedProcess = await startProcess('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    env: followCredentials ? inherited : { ...process.env, MOTO_ACCOUNT_ID: defaultAccountId },
    ready: () => answers(`${url}/moto-api/`),
    timeoutMs: 60_000,
  });
  const keys = followCredentials
    ? await createAccessKey(url, defaultAccountId).catch(async (e: unknown) => {
        await server.stop();
        throw e;
      })
    : { accessKeyId: 'testing', secretAccessKey: 'testing', sessionToken: 'testing' };
  const env = (): Record<string, string> => ({
    AWS_ENDPOINT_URL: url,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: keys.accessKeyId,
    AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
    ...(keys.sessionToken === undefined ? {} : { AWS_SESSION_TOKEN: keys.sessionToken }),
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
      if (keys.sessionToken === undefined) {
        saved.set('AWS_SESSION_TOKEN', process.env['AWS_SESSION_TOKEN']);
        Reflect.deleteProperty(process.env, 'AWS_SESSION_TOKEN');
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

/** An IAM user with an access key in `accountId` (IAM query API; moto does not check signatures,
 * the `x-moto-account-id` header picks the account). */
async function createAccessKey(
  url: string,
  accountId: string,
): Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }> {
  const call = async (params: Record<string, string>): Promise<string> => {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-moto-account-id': accountId,
        authorization:
          'AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0',
      },
      body: new URLSearchParams({ ...params, Version: '2010-05-08' }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`moto IAM ${params['Action']} failed: ${response.status} ${text}`);
    return text;
  };
  await call({ Action: 'CreateUser', UserName: 'image-promoter-test' });
  const xml = await call({ Action: 'CreateAccessKey', UserName: 'image-promoter-test' });
  const accessKeyId = /<AccessKeyId>([^<]+)</.exec(xml)?.[1];
  const secretAccessKey = /<SecretAccessKey>([^<]+)</.exec(xml)?.[1];
  if (accessKeyId === undefined || secretAccessKey === undefined)
    throw new Error(`moto IAM: no access key in ${xml}`);
  return { accessKeyId, secretAccessKey };
}
