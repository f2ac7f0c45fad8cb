// STS AssumeRole against a real moto_server: the credentials are the role's (another account), the
// session name reaches STS, the cache shares one request, and failures are typed.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import {
  clearAssumedRoleCache,
  createAssumeRoleCredentialProvider,
} from '../../lambdas/adapters/sts-credentials';
import { AwsServiceError } from '../../lambdas/core/errors';
import { freePort } from '../support/processes';
import { startMoto, type MotoServer } from '../support/moto-server';

const ROLE = 'arn:aws:iam::111111111111:role/image-promoter-source';

describe('sts-credentials', () => {
  let moto: MotoServer;
  let undo: () => void;
  before(async () => {
    moto = await startMoto({ defaultAccountId: '222222222222', accountsFollowCredentials: true });
    undo = moto.applyToProcess();
  });
  after(async () => {
    undo?.();
    await moto?.stop();
  });
  beforeEach(() => clearAssumedRoleCache());

  it('assumes the source role: credentials act in the role account under the commit session name', async () => {
    // Prepare
    const provider = createAssumeRoleCredentialProvider({
      roleArn: ROLE,
      externalId: 'image-promoter',
      sessionName: 'image-promoter-0123456789ab',
    });
    // Act
    const credentials = await provider();
    const identity = await new STSClient({ credentials }).send(new GetCallerIdentityCommand({}));
    // Assess
    assert.equal(identity.Account, '111111111111');
    assert.match(identity.Arn ?? '', /assumed-role\/image-promoter-source\/image-promoter-0123456789ab$/);
    assert.ok(credentials.expiration instanceof Date);
  });

  it('caches per role and session, and shares one request between concurrent callers', async () => {
    // Prepare
    const options = { roleArn: ROLE, externalId: 'x-id', sessionName: 'image-promoter-aaaaaaaaaaaa' };
    const a = createAssumeRoleCredentialProvider(options);
    const b = createAssumeRoleCredentialProvider(options);
    const other = createAssumeRoleCredentialProvider({
      ...options,
      sessionName: 'image-promoter-bbbbbbbbbbbb',
    });
    // Act
    const [first, second] = await Promise.all([a(), b()]);
    const third = await a();
    const different = await other();
    // Assess
    assert.equal(first.accessKeyId, second.accessKeyId);
    assert.equal(first.accessKeyId, third.accessKeyId);
    assert.notEqual(first.accessKeyId, different.accessKeyId);
  });

  it('refreshes credentials that expire within the margin', async () => {
    // Prepare: a clock 58 minutes ahead sees the 1-hour credentials as nearly expired
    const options = { roleArn: ROLE, externalId: 'x-id', sessionName: 'image-promoter-cccccccccccc' };
    const first = await createAssumeRoleCredentialProvider(options)();
    // Act
    const later = await createAssumeRoleCredentialProvider({
      ...options,
      now: () => Date.now() + 58 * 60_000,
    })();
    // Assess
    assert.notEqual(first.accessKeyId, later.accessKeyId);
  });

  it('maps an unreachable STS to a retryable AwsServiceError without secrets in the message', async () => {
    // Prepare
    const port = await freePort();
    const client = new STSClient({ endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1 });
    const provider = createAssumeRoleCredentialProvider({
      roleArn: ROLE,
      externalId: 'x-id',
      sessionName: 'image-promoter-dddddddddddd',
      client,
    });
    // Act
    const error = await provider().then(
      () => undefined,
      (e: unknown) => e,
    );
    // Assess
    assert.ok(error instanceof AwsServiceError, String(error));
    assert.equal(error.retryable, true);
    assert.match(
      error.message,
      /STS AssumeRole arn:aws:iam::111111111111:role\/image-promoter-source failed/,
    );
    assert.ok(!error.message.includes(process.env['AWS_SECRET_ACCESS_KEY'] ?? '\0'));
  });
});
