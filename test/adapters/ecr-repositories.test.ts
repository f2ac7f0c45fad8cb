// Destination repository creation against a real moto_server in cross-account mode: the source
// repository lives in account 111111111111 (read through an assumed role), the destination in the
// default account 222222222222 (the function's own credentials).
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { CreateRepositoryCommand, DescribeRepositoriesCommand, ECRClient } from '@aws-sdk/client-ecr';
import { clearKnownRepositories, createRepositoryCreator } from '../../lambdas/adapters/ecr-repositories';
import {
  clearAssumedRoleCache,
  createAssumeRoleCredentialProvider,
} from '../../lambdas/adapters/sts-credentials';
import { parseImageRef } from '../../lambdas/core/image-ref';
import { startMoto, type MotoServer } from '../support/moto-server';

const SRC = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const DST = '222222222222.dkr.ecr.us-east-1.amazonaws.com';

describe('ecr-repositories', () => {
  let moto: MotoServer;
  let undo: () => void;
  let sourceCredentials: ReturnType<typeof createAssumeRoleCredentialProvider>;
  let sourceEcr: ECRClient;
  let destinationEcr: ECRClient;
  before(async () => {
    moto = await startMoto({ defaultAccountId: '222222222222', accountsFollowCredentials: true });
    undo = moto.applyToProcess();
    sourceCredentials = createAssumeRoleCredentialProvider({
      roleArn: 'arn:aws:iam::111111111111:role/source',
      externalId: 'image-promoter',
      sessionName: 'image-promoter-test',
    });
    sourceEcr = new ECRClient({ credentials: sourceCredentials });
    destinationEcr = new ECRClient({});
    await sourceEcr.send(
      new CreateRepositoryCommand({
        repositoryName: 'shop/kms',
        encryptionConfiguration: { encryptionType: 'KMS' },
      }),
    );
    await sourceEcr.send(new CreateRepositoryCommand({ repositoryName: 'shop/plain' }));
    await destinationEcr.send(
      new CreateRepositoryCommand({ repositoryName: 'shop/existing', imageTagMutability: 'MUTABLE' }),
    );
  });
  after(async () => {
    undo?.();
    clearAssumedRoleCache();
    await moto?.stop();
  });
  beforeEach(() => clearKnownRepositories());

  const describeDestination = async (name: string) =>
    (await destinationEcr.send(new DescribeRepositoriesCommand({ repositoryNames: [name] })))
      .repositories?.[0];

  const cases = [
    {
      name: 'creates a missing repository: immutable tags, scan on push, the source encryption type (KMS)',
      repository: 'shop/kms',
      state: 'created',
      expected: { mutability: 'IMMUTABLE', scanOnPush: true, encryption: 'KMS' },
    },
    {
      name: 'creates a missing repository with AES256 when the source uses AES256',
      repository: 'shop/plain',
      state: 'created',
      expected: { mutability: 'IMMUTABLE', scanOnPush: true, encryption: 'AES256' },
    },
    {
      name: 'leaves an existing repository untouched',
      repository: 'shop/existing',
      state: 'exists',
      expected: { mutability: 'MUTABLE', scanOnPush: false, encryption: 'AES256' },
    },
    {
      name: 'creates nothing when the source repository does not exist',
      repository: 'shop/missing',
      state: 'source-missing',
      expected: undefined,
    },
  ] as const;
  for (const c of cases) {
    it(c.name, async () => {
      // Prepare
      const creator = createRepositoryCreator({ sourceCredentials });
      // Act
      const state = await creator.ensureRepository(
        parseImageRef(`${SRC}/${c.repository}:1.0`),
        parseImageRef(`${DST}/${c.repository}:1.0`),
      );
      // Assess
      assert.equal(state, c.state);
      const repository = await describeDestination(c.repository).catch((e: unknown) => {
        if (e instanceof Error && e.name === 'RepositoryNotFoundException') return undefined;
        throw e;
      });
      if (c.expected === undefined) {
        assert.equal(repository, undefined);
        return;
      }
      assert.equal(repository?.imageTagMutability, c.expected.mutability);
      assert.equal(repository?.imageScanningConfiguration?.scanOnPush, c.expected.scanOnPush);
      assert.equal(repository?.encryptionConfiguration?.encryptionType, c.expected.encryption);
      assert.equal(repository?.registryId, '222222222222');
    });
  }

  it('asks ECR once per repository, then remembers it exists', async () => {
    // Prepare
    const creator = createRepositoryCreator({ sourceCredentials });
    const src = parseImageRef(`${SRC}/shop/plain:1.0`);
    const dst = parseImageRef(`${DST}/shop/plain:2.0`);
    await creator.ensureRepository(src, dst);
    // Act: a destination ECR that no longer answers would fail any call
    const offline = createRepositoryCreator({
      sourceCredentials,
      clientConfig: { endpoint: 'http://127.0.0.1:9', maxAttempts: 1 },
    });
    const state = await offline.ensureRepository(src, dst);
    // Assess
    assert.equal(state, 'exists');
  });

  it('skips registries that are not ECR', async () => {
    const state = await createRepositoryCreator().ensureRepository(
      parseImageRef('127.0.0.1:5000/shop/api:1'),
      parseImageRef('127.0.0.1:5001/shop/api:1'),
    );
    assert.equal(state, 'not-ecr');
  });
});
