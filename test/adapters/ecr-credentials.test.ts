// ECR registry credentials against a real moto_server in cross-account mode: the token follows the
// credentials' account (own: 222222222222, assumed role: 111111111111), is cached and shared, and
// failures are typed. A fault proxy in front of moto counts and breaks the token requests.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEcrCredentialProvider } from '../../lambdas/adapters/ecr-credentials';
import {
  clearAssumedRoleCache,
  createAssumeRoleCredentialProvider,
} from '../../lambdas/adapters/sts-credentials';
import { AwsServiceError } from '../../lambdas/core/errors';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { startMoto, type MotoServer } from '../support/moto-server';

const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const DST = '222222222222.dkr.ecr.us-east-1.amazonaws.com';

describe('ecr-credentials', () => {
  let moto: MotoServer;
  let proxy: FaultProxy;
  let undo: () => void;
  before(async () => {
    moto = await startMoto({ defaultAccountId: '222222222222', accountsFollowCredentials: true });
    undo = moto.applyToProcess();
    proxy = await startFaultProxy({ upstream: moto.url });
  });
  after(async () => {
    undo?.();
    clearAssumedRoleCache();
    await Promise.allSettled([proxy?.stop(), moto?.stop()]);
  });

  const cases = [
    {
      name: "the function's own credentials: the default account's token",
      assumeRole: false,
      password: '222222222222-auth-token',
    },
    {
      name: "an assumed role's credentials: the role account's token",
      assumeRole: true,
      password: '111111111111-auth-token',
    },
  ] as const;
  for (const c of cases) {
    it(c.name, async () => {
      // Prepare
      const provider = createEcrCredentialProvider(
        c.assumeRole
          ? {
              credentials: createAssumeRoleCredentialProvider({
                roleArn: 'arn:aws:iam::111111111111:role/source',
                externalId: 'image-promoter',
                sessionName: 'image-promoter-ecr-test',
              }),
            }
          : {},
      );
      // Act
      const credentials = await provider(c.assumeRole ? SRC : DST);
      // Assess
      assert.deepEqual(credentials, { username: 'AWS', password: c.password });
    });
  }

  it('answers undefined for registries that are not ECR', async () => {
    assert.equal(await createEcrCredentialProvider()('127.0.0.1:5000'), undefined);
  });

  it('shares one request between concurrent callers, reuses the token, refreshes it after expiry', async () => {
    // Prepare
    let clock = Date.now();
    const provider = createEcrCredentialProvider({
      clientConfig: { endpoint: proxy.url, maxAttempts: 1 },
      now: () => clock,
    });
    proxy.setRules([]);
    // Act
    const [a, b] = await Promise.all([provider(DST), provider(DST)]);
    const again = await provider(DST);
    const requestsWhileCached = proxy.requests().length;
    proxy.setRules([{ name: 'ecr down', path: /.*/, action: { kind: 'status', status: 503 } }]);
    const cachedDuringOutage = await provider(DST);
    clock += 10 * 60_000;
    const afterExpiry = await provider(DST).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Assess
    assert.equal(requestsWhileCached, 1);
    assert.deepEqual(
      [a, b, again, cachedDuringOutage].map((x) => x?.password),
      Array(4).fill('222222222222-auth-token'),
    );
    assert.ok(afterExpiry instanceof AwsServiceError, String(afterExpiry));
    assert.equal(afterExpiry.retryable, true);
    assert.match(
      afterExpiry.message,
      /ECR GetAuthorizationToken for 222222222222\.dkr\.ecr\.us-east-1\.amazonaws\.com failed/,
    );
    assert.equal(proxy.stats('ecr down').injected, 1);
  });
});
