// The worker end to end on real parts (see world.ts): SQS-shaped events in, images in the
// destination registry (checked with skopeo, an independent client), statuses on the commit
// (recorded by the GitHub test server), logs and EMF metrics out.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CreateRepositoryCommand, DescribeRepositoriesCommand, ECRClient } from '@aws-sdk/client-ecr';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { createSqsPoller } from '../../lambdas/adapters/sqs-poller';
import { METRICS, METRICS_NAMESPACE } from '../../lambdas/core/contract';
import { createAssumeRoleCredentialProvider } from '../../lambdas/adapters/sts-credentials';
import { runLocalWorker } from '../../lambdas/local/worker-runner';
import {
  addImage,
  addIndex,
  ImageLayout,
  inspectRaw,
  pushLayout,
  pushRandomImage,
  sha256,
} from '../support/images';
import {
  DST,
  ENVIRONMENT,
  MAX_RECEIVE_COUNT,
  ROLE_ARN,
  SRC,
  sqsEvent,
  startWorld,
  type World,
} from './world';

const CONTEXT = `image-promotion/${ENVIRONMENT}`;

/** The names of the metrics in one EMF document, each checked against the contract (namespace,
 * unit, dimensions): what the dashboard and the alarms query is what the worker publishes. */
function contractMetricsOf(emf: Readonly<Record<string, unknown>>): string[] {
  const aws = emf['_aws'] as {
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  const names: string[] = [];
  for (const directive of aws.CloudWatchMetrics) {
    assert.equal(directive.Namespace, METRICS_NAMESPACE);
    for (const metric of directive.Metrics) {
      const spec = Object.values(METRICS).find((m) => m.name === metric.Name);
      assert.ok(spec !== undefined, `${metric.Name} is not in the contract`);
      assert.equal(metric.Unit, spec.unit, metric.Name);
      assert.deepEqual(directive.Dimensions, [spec.dimensions], metric.Name);
      names.push(metric.Name);
    }
  }
  return names.sort();
}

// Twice: straight to the registries, and through an ECR model in front of each (see world.ts).
for (const target of [
  { name: 'docker-registry', ecr: false },
  { name: 'through ECR models', ecr: true },
] as const)
  describe(`worker end to end (${target.name})`, () => {
    let world: World;
    before(async () => {
      world = await startWorld({ ecr: target.ecr });
    });
    after(async () => {
      await world?.stop();
    });

    /** Pushes a random single-platform image to the source registry; returns its digest. */
    const pushSource = async (
      repositoryAndTag: string,
      layers: readonly number[] = [2048, 4096],
    ): Promise<string> =>
      (await pushRandomImage(`${world.source.host}/${repositoryAndTag}`, world.source, { layers })).digest;

    /** Pushes a two-platform OCI index to the source registry; returns the index and child digests. */
    const pushSourceIndex = async (
      repositoryAndTag: string,
    ): Promise<{ index: string; children: string[] }> => {
      const layout = await ImageLayout.create();
      try {
        const amd = await addImage(layout, {
          layers: [1024],
          platform: { architecture: 'amd64', os: 'linux' },
        });
        const arm = await addImage(layout, {
          layers: [1024],
          platform: { architecture: 'arm64', os: 'linux' },
        });
        const index = await addIndex(layout, [amd.descriptor, arm.descriptor]);
        layout.tag(index.descriptor, 'image');
        await pushLayout(layout, 'image', `${world.source.host}/${repositoryAndTag}`, world.source);
        return { index: index.descriptor.digest, children: [amd.descriptor.digest, arm.descriptor.digest] };
      } finally {
        await layout.remove();
      }
    };

    const destinationDigest = async (reference: string): Promise<string> =>
      sha256(await inspectRaw(`${world.destination.host}/${reference}`, world.destination));

    const destinationExists = async (reference: string): Promise<boolean> =>
      destinationDigest(reference).then(
        () => true,
        () => false,
      );

    const statusesOf = (commit: string): { state: string; description: string | null; context: string }[] =>
      world.github
        .statuses(commit)
        .map((s) => ({ state: s.state, description: s.description, context: s.context }));

    it('promotes several images, an index with all its platforms included, and reports success', async () => {
      // Prepare
      const api = await pushSource('shop/api:1.0');
      const web = await pushSourceIndex('shop/web:2.0');
      const commit = await world.newCommit();
      const job = world.job(commit, [
        { source: `${SRC}/shop/api:1.0@${api}`, destination: `${DST}/shop/api:1.0` },
        { source: `${SRC}/shop/web:2.0`, destination: `${DST}/shop/web:2.0` },
      ]);
      world.clearOutput();
      // Act
      const response = await world.worker().handleEvent(sqsEvent([{ body: JSON.stringify(job) }]));
      // Assess
      assert.deepEqual(response.batchItemFailures, []);
      const statuses = world.github.statuses(commit);
      assert.equal(statuses.length, 1);
      assert.equal(statuses[0]?.state, 'success');
      assert.equal(statuses[0]?.context, CONTEXT);
      assert.match(statuses[0]?.description ?? '', /^2 images promoted, \d+(\.\d)? kB, \d+ (ms|s)$/);
      assert.equal(statuses[0]?.target_url, 'https://dashboard.example.com/promotions');
      assert.equal(await destinationDigest('shop/api:1.0'), api);
      assert.equal(await destinationDigest('shop/web:2.0'), web.index);
      for (const child of web.children) assert.equal(await destinationDigest(`shop/web@${child}`), child);

      const audit = world.logs().filter((l) => l['audit'] === true);
      assert.deepEqual(
        audit
          .map((l) => [l['message'], l['source'], l['destination'], l['digest'], l['pusher'], l['commit']])
          .sort(),
        [
          [
            'image promoted',
            `${SRC}/shop/api:1.0@${api}`,
            `${DST}/shop/api:1.0@${api}`,
            api,
            'octocat',
            commit,
          ],
          [
            'image promoted',
            `${SRC}/shop/web:2.0`,
            `${DST}/shop/web:2.0@${web.index}`,
            web.index,
            'octocat',
            commit,
          ],
        ].sort(),
      );
      for (const line of world.logs().filter((l) => String(l['message']).startsWith('promotion'))) {
        assert.equal(line['deliveryId'], job.deliveryId);
        assert.equal(line['commit'], commit);
        assert.equal(line['environment'], ENVIRONMENT);
      }
      assert.ok(audit.every((l) => typeof l['image'] === 'string'));
      assert.ok(!JSON.stringify(world.logs()).includes(world.source.password), 'no token in the logs');

      const [emf, ...more] = world.metrics();
      assert.equal(more.length, 0);
      assert.equal(emf?.['Environment'], ENVIRONMENT);
      // The dashboard and alarms read the contract's metrics: every one of the worker's
      // per-environment metrics is published, each with the contract's unit and dimensions.
      assert.deepEqual(
        contractMetricsOf(emf!),
        Object.values(METRICS)
          .filter((m) => m.emittedBy === 'worker' && m.dimensions.length === 2)
          .map((m) => m.name)
          .sort(),
      );
      assert.equal(emf?.['ImagesPromoted'], 2);
      assert.equal(emf?.['ImagesAlreadyPresent'], 0);
      assert.equal(emf?.['PromotionFailures'], 0);
      assert.equal(emf?.['BlobsCopied'], 3 + 4); // api: config + 2 layers; web: 2 configs + 2 layers
      assert.ok((emf?.['BytesCopied'] as number) > 2048 + 4096 + 1024 + 1024);
      assert.ok((emf?.['PushToPromotedLatency'] as number) >= 5000);
      assert.equal(typeof emf?.['PromotionDuration'], 'number');
    });

    it('copies the platforms of an index copy.imageJobs at a time (the setting reaches the copy engine)', async () => {
      // Prepare: every source manifest read by digest takes 150 ms, so reads allowed together overlap.
      const web = await pushSourceIndex('shop/serial:1.0');
      const job = world.job(await world.newCommit(), [
        { source: `${SRC}/shop/serial:1.0`, destination: `${DST}/shop/serial:1.0` },
      ]);
      world.proxy.setRules([
        {
          name: 'slow-manifests',
          methods: ['GET'],
          path: /\/manifests\/sha256:/,
          action: { kind: 'delay', ms: 150 },
        },
      ]);
      // Act
      const response = await world
        .worker({ copy: { imageJobs: 1, blobJobs: 4 } })
        .handleEvent(sqsEvent([{ body: JSON.stringify(job) }]));
      const reads = world.proxy
        .requests()
        .filter((r) => r.method === 'GET' && /\/manifests\/sha256:/.test(r.url));
      world.proxy.setRules([]);
      // Assess
      assert.deepEqual(response.batchItemFailures, []);
      assert.equal(await destinationDigest('shop/serial:1.0'), web.index);
      assert.ok(reads.length >= 2, `${reads.length} manifest reads by digest`);
      const overlapping = reads.filter((a) =>
        reads.some((b) => b !== a && b.arrivedAt < a.arrivedAt + a.ms && a.arrivedAt < b.arrivedAt + b.ms),
      );
      assert.deepEqual(overlapping, [], 'at most one manifest read at a time with imageJobs 1');
    });

    it('reports "already present" when every image is already at the destination', async () => {
      // Prepare
      const digest = await pushSource('shop/again:1.0');
      const first = world.job(await world.newCommit(), [
        { source: `${SRC}/shop/again:1.0`, destination: `${DST}/shop/again:1.0` },
      ]);
      await world.worker().handleEvent(sqsEvent([{ body: JSON.stringify(first) }]));
      const commit = await world.newCommit();
      const job = world.job(commit, first.promotions);
      world.clearOutput();
      // Act
      const response = await world.worker().handleEvent(sqsEvent([{ body: JSON.stringify(job) }]));
      // Assess
      assert.deepEqual(response.batchItemFailures, []);
      assert.deepEqual(statusesOf(commit), [
        { state: 'success', description: '1 image already present', context: CONTEXT },
      ]);
      assert.equal(await destinationDigest('shop/again:1.0'), digest);
      const [emf] = world.metrics();
      assert.equal(emf?.['ImagesAlreadyPresent'], 1);
      assert.equal(emf?.['ImagesPromoted'], 0);
      assert.equal(emf?.['BytesCopied'], 0);
    });

    const permanentCases = [
      {
        name: 'a missing source image',
        prepare: async (): Promise<void> => undefined,
        repository: 'shop/missing',
        description: /^manifest shop\/missing:1\.0: ECR 111111111111 answered 404 \(MANIFEST_UNKNOWN/,
        destination: undefined as string | undefined,
      },
      {
        name: 'a tag conflict (destination untouched)',
        prepare: async (): Promise<void> => {
          await pushSource('shop/conflict:1.0');
          await pushRandomImage(`${world.destination.host}/shop/conflict:1.0`, world.destination);
        },
        repository: 'shop/conflict',
        description: /^tag conflict: .*shop\/conflict:1\.0 already points at sha256:/,
        destination: 'keep',
      },
    ];
    for (const c of permanentCases) {
      it(`fails the commit and acknowledges the message on ${c.name}`, async () => {
        // Prepare
        await c.prepare();
        const before = c.destination === 'keep' ? await destinationDigest(`${c.repository}:1.0`) : undefined;
        const commit = await world.newCommit();
        const job = world.job(commit, [
          { source: `${SRC}/${c.repository}:1.0`, destination: `${DST}/${c.repository}:1.0` },
        ]);
        world.clearOutput();
        // Act
        const response = await world.worker().handleEvent(sqsEvent([{ body: JSON.stringify(job) }]));
        // Assess
        assert.deepEqual(response.batchItemFailures, [], 'permanent errors are acknowledged');
        const statuses = statusesOf(commit);
        assert.equal(statuses.length, 1);
        assert.equal(statuses[0]?.state, 'failure');
        assert.equal(statuses[0]?.context, CONTEXT);
        assert.match(statuses[0]?.description ?? '', c.description);
        assert.ok((statuses[0]?.description ?? '').length <= 140);
        if (before === undefined) assert.equal(await destinationExists(`${c.repository}:1.0`), false);
        else assert.equal(await destinationDigest(`${c.repository}:1.0`), before);
        assert.equal(world.metrics()[0]?.['PromotionFailures'], 1);
      });
    }

    it('fails a job for an environment or registry the worker does not serve, without copying', async () => {
      // Prepare
      await pushSource('shop/elsewhere:1.0');
      const commit = await world.newCommit();
      const wrongEnvironment = world.job(
        commit,
        [{ source: `${SRC}/shop/elsewhere:1.0`, destination: `${DST}/shop/elsewhere:1.0` }],
        { environment: 'staging' },
      );
      const other = await world.newCommit();
      const wrongRegistry = world.job(other, [
        {
          source: `${SRC}/shop/elsewhere:1.0`,
          destination: `333333333333.dkr.ecr.us-east-1.amazonaws.com/shop/elsewhere:1.0`,
        },
      ]);
      // Act
      const response = await world
        .worker()
        .handleEvent(
          sqsEvent([{ body: JSON.stringify(wrongEnvironment) }, { body: JSON.stringify(wrongRegistry) }]),
        );
      // Assess
      assert.deepEqual(response.batchItemFailures, []);
      assert.deepEqual(statusesOf(commit), [
        {
          state: 'failure',
          description: `invalid promotion job: environment "staging" is not in this worker's configuration (prod)`,
          context: 'image-promotion/staging',
        },
      ]);
      assert.equal(statusesOf(other)[0]?.state, 'failure');
      assert.match(statusesOf(other)[0]?.description ?? '', /is not in prod's destination registry/);
      assert.equal(await destinationExists('shop/elsewhere:1.0'), false);
    });

    describe('forged jobs: refused before any registry call, a security event, nothing copied', () => {
      // The worker's config for these cases: prod may promote shop/** only.
      const allowlisted = (): Partial<Record<'environments', unknown>> => ({
        environments: world.config.environments.map((env) => ({ ...env, repositories: ['shop/**'] })),
      });
      const cases: readonly {
        readonly name: string;
        readonly promotion: { readonly source: string; readonly destination: string };
        readonly overrides?: Record<string, string>;
        /** The description of the failure status, or undefined: no status at all. */
        readonly description: string | undefined;
        readonly reason: string;
        /** What must not exist at the destination afterwards. */
        readonly absent: string;
      }[] = [
        {
          name: 'a repository outside the allowlist',
          promotion: { source: `${SRC}/internal/secrets:1.0`, destination: `${DST}/internal/secrets:1.0` },
          description:
            "invalid promotion job: repository internal/secrets is not in prod's allowlist (shop/**)",
          reason: 'repository-not-allowed',
          absent: 'internal/secrets:1.0',
        },
        {
          name: 'a source path renamed to an allowed destination path',
          promotion: { source: `${SRC}/internal/secrets:1.0`, destination: `${DST}/shop/forged:1.0` },
          description:
            'invalid promotion job: 111111111111.dkr.ecr.us-east-1.amazonaws.com/internal/secrets:1.0 would be ' +
            'copied to another repository path (shop/forged); a promotion keeps the path',
          reason: 'repository-renamed',
          absent: 'shop/forged:1.0',
        },
        {
          name: 'a tag renamed',
          promotion: { source: `${SRC}/shop/forged:1.0-rc`, destination: `${DST}/shop/forged:1.0` },
          description:
            'invalid promotion job: 111111111111.dkr.ecr.us-east-1.amazonaws.com/shop/forged:1.0-rc would be ' +
            'tagged 1.0 at the destination; a promotion keeps the tag',
          reason: 'tag-renamed',
          absent: 'shop/forged:1.0',
        },
        {
          name: "a source registry that is not the environment's",
          promotion: {
            source: `333333333333.dkr.ecr.us-east-1.amazonaws.com/shop/forged:1.0`,
            destination: `${DST}/shop/forged:1.0`,
          },
          description:
            "invalid promotion job: 333333333333.dkr.ecr.us-east-1.amazonaws.com/shop/forged:1.0 is not in prod's " +
            `source registry ${SRC}`,
          reason: 'source-registry',
          absent: 'shop/forged:1.0',
        },
        {
          name: 'an environment the worker does not serve',
          promotion: { source: `${SRC}/shop/forged:1.0`, destination: `${DST}/shop/forged:1.0` },
          overrides: { environment: 'staging' },
          description: `invalid promotion job: environment "staging" is not in this worker's configuration (prod)`,
          reason: 'unknown-environment',
          absent: 'shop/forged:1.0',
        },
        {
          name: 'a foreign GitHub repository (no status there, ever)',
          promotion: { source: `${SRC}/shop/forged:1.0`, destination: `${DST}/shop/forged:1.0` },
          overrides: { repository: 'evil/overlays' },
          description: undefined,
          reason: 'foreign-github-repository',
          absent: 'shop/forged:1.0',
        },
      ];
      for (const c of cases) {
        it(`refuses ${c.name}`, async () => {
          // Prepare: every image the job names exists at the source
          await pushSource('internal/secrets:1.0');
          await pushSource('shop/forged:1.0-rc');
          await pushSource('shop/forged:1.0');
          const commit = await world.newCommit();
          const job = world.job(commit, [c.promotion], c.overrides);
          world.proxy.setRules([]);
          world.clearOutput();
          // Act
          const response = await world
            .worker(allowlisted())
            .handleEvent(sqsEvent([{ body: JSON.stringify(job), messageId: 'forged' }]));
          // Assess
          assert.deepEqual(response.batchItemFailures, [], 'acknowledged: retrying cannot make it allowed');
          assert.deepEqual(world.proxy.requests(), [], 'no request reached the source registry');
          assert.equal(await destinationExists(c.absent), false);
          const statuses = world.github.statuses(commit);
          if (c.description === undefined) {
            assert.deepEqual(statuses, []);
          } else {
            // GitHub keeps 140 characters of a description: the start says what was refused.
            const expected = c.description.length <= 140 ? c.description : `${c.description.slice(0, 139)}…`;
            assert.deepEqual(
              statuses.map((st) => [st.state, st.context, st.description]),
              [['failure', `image-promotion/${job.environment}`, expected]],
            );
          }
          const security = world.logs().filter((l) => l['securityEvent'] === true);
          assert.equal(security.length, 1, JSON.stringify(world.logs()));
          assert.equal(security[0]?.['message'], 'job rejected');
          assert.equal(security[0]?.['reason'], c.reason);
          assert.equal(security[0]?.['level'], 'ERROR');
          assert.equal(security[0]?.['pusher'], 'octocat');
          assert.equal(security[0]?.['statusReported'], c.description !== undefined);
          const metrics = world.metrics();
          assert.equal(metrics.length, 1);
          assert.equal(metrics[0]?.['RejectedJobs'], 1);
          assert.deepEqual(contractMetricsOf(metrics[0]!), [METRICS.rejectedJobs.name]);
          assert.equal(metrics[0]?.['Environment'], undefined, "the job's environment is not a dimension");
          assert.equal(
            world.logs().some((l) => l['message'] === 'promotion started'),
            false,
          );
        });
      }
    });

    it('drops invalid messages (acknowledged, no status) and fails only the records that must come back', async () => {
      // Prepare: a registry that answers 503 to every manifest request of one repository
      await pushSource('shop/unavailable:1.0');
      world.proxy.setRules([
        {
          name: 'down',
          path: /^\/v2\/shop\/unavailable\/manifests\//,
          action: { kind: 'status', status: 503 },
        },
      ]);
      const commit = await world.newCommit();
      const transient = world.job(commit, [
        { source: `${SRC}/shop/unavailable:1.0`, destination: `${DST}/shop/unavailable:1.0` },
      ]);
      world.clearOutput();
      try {
        // Act
        const response = await world.worker().handleEvent(
          sqsEvent([
            { body: 'not json', messageId: 'garbage' },
            { body: JSON.stringify({ ...transient, version: 99 }), messageId: 'wrong-version' },
            { body: JSON.stringify(transient), messageId: 'transient', receiveCount: 1 },
          ]),
        );
        // Assess
        assert.deepEqual(response.batchItemFailures, [{ itemIdentifier: 'transient' }]);
        assert.deepEqual(statusesOf(commit), [], 'no status while attempts are left');
        const dropped = world.logs().filter((l) => l['message'] === 'invalid message dropped');
        assert.deepEqual(dropped.map((l) => l['messageId']).sort(), ['garbage', 'wrong-version']);
        // Not a job the webhook could have written: a security event, counted like a refused job.
        assert.deepEqual(
          dropped.map((l) => [l['level'], l['securityEvent'], l['reason']]),
          [
            ['ERROR', true, 'invalid-message'],
            ['ERROR', true, 'invalid-message'],
          ],
        );
        const rejected = world.metrics().filter((m) => m['RejectedJobs'] !== undefined);
        assert.deepEqual(
          rejected.map((m) => [m['RejectedJobs'], m['Environment']]),
          [
            [1, undefined],
            [1, undefined],
          ],
        );
        assert.ok(world.proxy.stats('down').injected > 0);
      } finally {
        world.proxy.setRules([]);
      }
    });

    it('creates a missing destination repository like the source one when the environment asks for it', async () => {
      // Prepare: the source repository exists in the source account's ECR (KMS-encrypted)
      const sourceEcr = new ECRClient({
        credentials: createAssumeRoleCredentialProvider({
          roleArn: ROLE_ARN,
          externalId: 'image-promoter-test',
          sessionName: 'test-setup',
        }),
      });
      await sourceEcr.send(
        new CreateRepositoryCommand({
          repositoryName: 'shop/fresh',
          encryptionConfiguration: { encryptionType: 'KMS' },
        }),
      );
      const digest = await pushSource('shop/fresh:1.0');
      const commit = await world.newCommit();
      const job = world.job(commit, [
        { source: `${SRC}/shop/fresh:1.0`, destination: `${DST}/shop/fresh:1.0` },
      ]);
      const environments = world.config.environments.map((e) => ({
        ...e,
        destination: { ...e.destination, createRepositories: true },
      }));
      // Act
      const response = await world
        .worker({ environments })
        .handleEvent(sqsEvent([{ body: JSON.stringify(job) }]));
      // Assess
      assert.deepEqual(response.batchItemFailures, []);
      assert.equal(statusesOf(commit)[0]?.state, 'success');
      assert.equal(await destinationDigest('shop/fresh:1.0'), digest);
      const created = (
        await new ECRClient({}).send(new DescribeRepositoriesCommand({ repositoryNames: ['shop/fresh'] }))
      ).repositories?.[0];
      assert.equal(created?.registryId, '222222222222');
      assert.equal(created?.imageTagMutability, 'IMMUTABLE');
      assert.equal(created?.imageScanningConfiguration?.scanOnPush, true);
      assert.equal(created?.encryptionConfiguration?.encryptionType, 'KMS');
    });

    it('returns the message when GitHub cannot take the status, and reports on the next attempt', async () => {
      // Prepare
      const digest = await pushSource('shop/status:1.0');
      const commit = await world.newCommit();
      const job = world.job(commit, [
        { source: `${SRC}/shop/status:1.0`, destination: `${DST}/shop/status:1.0` },
      ]);
      const worker = world.worker();
      world.github.failNext(10, 502);
      // Act
      const first = await worker.handleEvent(
        sqsEvent([{ body: JSON.stringify(job), messageId: 'm', receiveCount: 1 }]),
      );
      world.github.failNext(0);
      const second = await worker.handleEvent(
        sqsEvent([{ body: JSON.stringify(job), messageId: 'm', receiveCount: 2 }]),
      );
      // Assess
      assert.deepEqual(first.batchItemFailures, [{ itemIdentifier: 'm' }]);
      assert.deepEqual(second.batchItemFailures, []);
      assert.deepEqual(statusesOf(commit), [
        { state: 'success', description: '1 image already present', context: CONTEXT },
      ]);
      assert.equal(await destinationDigest('shop/status:1.0'), digest);
    });

    describe('through SQS with the local runner (redrive to a DLQ after 3 receives)', () => {
      const sqs = (): SQSClient => new SQSClient({});
      const createQueues = async (name: string): Promise<{ queueUrl: string; dlqUrl: string }> => {
        const dlqUrl = (await sqs().send(new CreateQueueCommand({ QueueName: `${name}-dlq` }))).QueueUrl!;
        const dlqArn = (
          await sqs().send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }))
        ).Attributes!['QueueArn']!;
        const queueUrl = (
          await sqs().send(
            new CreateQueueCommand({
              QueueName: name,
              Attributes: {
                VisibilityTimeout: '60',
                RedrivePolicy: JSON.stringify({
                  deadLetterTargetArn: dlqArn,
                  maxReceiveCount: MAX_RECEIVE_COUNT,
                }),
              },
            }),
          )
        ).QueueUrl!;
        return { queueUrl, dlqUrl };
      };
      const count = async (queueUrl: string): Promise<number> => {
        const attributes = (
          await sqs().send(
            new GetQueueAttributesCommand({
              QueueUrl: queueUrl,
              AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
            }),
          )
        ).Attributes!;
        return (
          Number(attributes['ApproximateNumberOfMessages']) +
          Number(attributes['ApproximateNumberOfMessagesNotVisible'])
        );
      };

      it('retries transient registry faults and then succeeds, with one final status', async () => {
        // Prepare
        const { queueUrl, dlqUrl } = await createQueues('jobs-flaky');
        const digest = await pushSource('shop/flaky:1.0');
        const commit = await world.newCommit();
        const job = world.job(commit, [
          { source: `${SRC}/shop/flaky:1.0`, destination: `${DST}/shop/flaky:1.0` },
        ]);
        await sqs().send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(job) }));
        world.proxy.setRules([
          { name: 'flaky', path: /^\/v2\/shop\/flaky\/blobs\//, action: { kind: 'status', status: 502 } },
        ]);
        const batches: { received: number; failed: number }[] = [];
        // Act: the faults stop after the first attempt
        const summary = await runLocalWorker({
          poller: createSqsPoller(sqs(), queueUrl),
          worker: world.worker(),
          once: true,
          waitSeconds: 0,
          retryDelaySeconds: 0,
          onBatch: (batch) => {
            batches.push({ received: batch.received, failed: batch.failed });
            if (batches.length === 1) assert.ok(world.proxy.stats('flaky').injected > 0);
            world.proxy.setRules([]);
          },
        });
        // Assess
        assert.deepEqual(batches, [
          { received: 1, failed: 1 },
          { received: 1, failed: 0 },
        ]);
        assert.deepEqual(summary, { batches: 2, received: 2, acknowledged: 1, failed: 1 });
        assert.equal(statusesOf(commit).length, 1);
        assert.equal(statusesOf(commit)[0]?.state, 'success');
        assert.equal(await destinationDigest('shop/flaky:1.0'), digest);
        assert.equal(await count(queueUrl), 0);
        assert.equal(await count(dlqUrl), 0);
      });

      it('gives up on the last attempt with an error status and leaves the message to the DLQ', async () => {
        // Prepare
        const { queueUrl, dlqUrl } = await createQueues('jobs-down');
        await pushSource('shop/down:1.0');
        const commit = await world.newCommit();
        const job = world.job(commit, [
          { source: `${SRC}/shop/down:1.0`, destination: `${DST}/shop/down:1.0` },
        ]);
        await sqs().send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(job) }));
        world.proxy.setRules([
          { name: 'down', path: /^\/v2\/shop\/down\/manifests\//, action: { kind: 'status', status: 503 } },
        ]);
        try {
          // Act
          const summary = await runLocalWorker({
            poller: createSqsPoller(sqs(), queueUrl),
            worker: world.worker(),
            once: true,
            waitSeconds: 0,
            retryDelaySeconds: 0,
          });
          // Assess
          assert.deepEqual(summary, { batches: MAX_RECEIVE_COUNT, received: 3, acknowledged: 0, failed: 3 });
          const statuses = statusesOf(commit);
          assert.equal(statuses.length, 1, JSON.stringify(statuses));
          assert.equal(statuses[0]?.state, 'error');
          assert.match(
            statuses[0]?.description ?? '',
            /^gave up after 3 attempts: .*ECR 111111111111 answered 503/,
          );
          assert.equal(await count(queueUrl), 0);
          const inDlq = await sqs().send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, WaitTimeSeconds: 0 }));
          assert.equal(inDlq.Messages?.length, 1);
          assert.equal(JSON.parse(inDlq.Messages?.[0]?.Body ?? '{}').commit, commit);
        } finally {
          world.proxy.setRules([]);
        }
      });
    });
  });
