import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../lambdas/core/config';
import { ConfigError } from '../../lambdas/core/errors';
import {
  configForDestination,
  dashboardUrlOf,
  MAX_LAMBDA_CONFIG_BYTES,
  partitionOf,
  planDeployment,
} from '../../infra/deployment-plan';

const DEV = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const STAGING = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
const PROD = '333333333333.dkr.ecr.eu-west-1.amazonaws.com';

interface EnvSpec {
  readonly name: string;
  readonly from: string;
  readonly to: string;
  readonly roleArn?: string;
  /** Default `<name>-external-id-0123`; null: none. */
  readonly externalId?: string | null;
  readonly repositories?: readonly string[];
  readonly create?: boolean;
}

function configText(envs: readonly EnvSpec[], extra = ''): string {
  const lines = ['github:', '  repository: acme/overlays', 'environments:'];
  for (const env of envs) {
    lines.push(
      `  - name: ${env.name}`,
      `    overlay: overlays/${env.name}`,
      '    source:',
      `      registry: ${env.from}`,
    );
    if (env.roleArn !== undefined) lines.push(`      roleArn: ${env.roleArn}`);
    if (env.externalId !== null)
      lines.push(`      externalId: ${env.externalId ?? `${env.name}-external-id-0123`}`);
    lines.push('    destination:', `      registry: ${env.to}`);
    if (env.create === true) lines.push('      createRepositories: true');
    if (env.repositories !== undefined) lines.push(`    repositories: ${JSON.stringify(env.repositories)}`);
  }
  return `${lines.join('\n')}\n${extra}`;
}

describe('planDeployment', () => {
  it('chains dev -> staging -> prod into one destination stack per registry and one source stack per account', () => {
    // Prepare
    const config = parseConfig(
      configText([
        { name: 'staging', from: DEV, to: STAGING, repositories: ['shop/**'] },
        { name: 'prod', from: STAGING, to: PROD, repositories: ['shop/**', 'base/node'] },
      ]),
    );

    // Act
    const plan = planDeployment(config);

    // Assess
    assert.deepEqual(
      plan.destinations.map((d) => [d.stackName, d.env, d.workerRoleName, d.sourceRoleArns, d.pushable]),
      [
        [
          'ImagePromoter-222222222222-us-east-1',
          { account: '222222222222', region: 'us-east-1' },
          'image-promoter-worker-us-east-1',
          ['arn:aws:iam::111111111111:role/image-promoter-source-222222222222'],
          ['shop/*'],
        ],
        [
          'ImagePromoter-333333333333-eu-west-1',
          { account: '333333333333', region: 'eu-west-1' },
          'image-promoter-worker-eu-west-1',
          ['arn:aws:iam::222222222222:role/image-promoter-source-333333333333'],
          ['base/node', 'shop/*'],
        ],
      ],
    );
    assert.deepEqual(
      plan.sources.map((s) => [
        s.stackName,
        s.env,
        s.roles.map((r) => [r.roleName, r.trustedBy, r.readable]),
      ]),
      [
        [
          'ImagePromoterSourceAccess-111111111111',
          { account: '111111111111', region: 'us-east-1' },
          [
            [
              'image-promoter-source-222222222222',
              [
                {
                  workerRoleArn: 'arn:aws:iam::222222222222:role/image-promoter-worker-us-east-1',
                  destinationAccount: '222222222222',
                  externalIds: ['staging-external-id-0123'],
                },
              ],
              [{ region: 'us-east-1', patterns: ['shop/*'] }],
            ],
          ],
        ],
        [
          'ImagePromoterSourceAccess-222222222222',
          { account: '222222222222', region: 'us-east-1' },
          [
            [
              'image-promoter-source-333333333333',
              [
                {
                  workerRoleArn: 'arn:aws:iam::333333333333:role/image-promoter-worker-eu-west-1',
                  destinationAccount: '333333333333',
                  externalIds: ['prod-external-id-0123'],
                },
              ],
              [{ region: 'us-east-1', patterns: ['base/node', 'shop/*'] }],
            ],
          ],
        ],
      ],
    );
  });

  it('serves several environments of one registry pair with one stack pair and one role', () => {
    const config = parseConfig(
      configText([
        {
          name: 'staging',
          from: DEV,
          to: STAGING,
          repositories: ['shop/**'],
          externalId: 'ext-a-0123456789abcdef',
        },
        {
          name: 'staging-eu',
          from: DEV,
          to: STAGING,
          repositories: ['eu/**'],
          externalId: 'ext-b-0123456789abcdef',
          create: true,
        },
      ]),
    );

    const plan = planDeployment(config);

    assert.equal(plan.destinations.length, 1);
    assert.equal(plan.sources.length, 1);
    const [destination] = plan.destinations;
    assert.deepEqual(
      destination!.environments.map((e) => e.name),
      ['staging', 'staging-eu'],
    );
    assert.deepEqual(destination!.pushable, ['eu/*', 'shop/*']);
    assert.deepEqual(destination!.creatable, ['eu/*']);
    const [role] = plan.sources[0]!.roles;
    assert.deepEqual(role!.trustedBy, [
      {
        workerRoleArn: 'arn:aws:iam::222222222222:role/image-promoter-worker-us-east-1',
        destinationAccount: '222222222222',
        externalIds: ['ext-a-0123456789abcdef', 'ext-b-0123456789abcdef'],
      },
    ]);
    assert.deepEqual(role!.environments, ['staging', 'staging-eu']);
  });

  it("gives each (source, destination) account pair its own role, reading only that pair's allowlists", () => {
    // Prepare: production allows shop/** only; staging, from the same source account, allows all.
    const config = parseConfig(
      configText([
        { name: 'staging', from: DEV, to: STAGING },
        { name: 'prod', from: DEV, to: PROD, repositories: ['shop/**'] },
        {
          name: 'prod-tools',
          from: DEV,
          to: PROD,
          roleArn: 'arn:aws:iam::111111111111:role/ci/tools-read',
          repositories: ['tools/cli'],
        },
      ]),
    );

    // Act
    const plan = planDeployment(config);

    // Assess
    assert.equal(plan.sources.length, 1);
    assert.deepEqual(
      plan.sources[0]!.roles.map((r) => [
        r.roleName,
        r.path,
        r.trustedBy.map((t) => t.workerRoleArn),
        r.readable,
        r.environments,
      ]),
      [
        [
          'image-promoter-source-222222222222',
          '/',
          ['arn:aws:iam::222222222222:role/image-promoter-worker-us-east-1'],
          [{ region: 'us-east-1', patterns: ['*'] }],
          ['staging'],
        ],
        [
          'image-promoter-source-333333333333',
          '/',
          ['arn:aws:iam::333333333333:role/image-promoter-worker-eu-west-1'],
          [{ region: 'us-east-1', patterns: ['shop/*'] }],
          ['prod'],
        ],
        [
          'tools-read',
          '/ci/',
          ['arn:aws:iam::333333333333:role/image-promoter-worker-eu-west-1'],
          [{ region: 'us-east-1', patterns: ['tools/cli'] }],
          ['prod-tools'],
        ],
      ],
    );
    assert.deepEqual(
      plan.destinations.map((d) => d.sourceRoleArns),
      [
        ['arn:aws:iam::111111111111:role/image-promoter-source-222222222222'],
        [
          'arn:aws:iam::111111111111:role/ci/tools-read',
          'arn:aws:iam::111111111111:role/image-promoter-source-333333333333',
        ],
      ],
    );
  });

  it('reads every region of a source account through the one role, scoped per region', () => {
    const config = parseConfig(
      configText([
        { name: 'a', from: DEV, to: STAGING, repositories: ['a/**'] },
        {
          name: 'b',
          from: '111111111111.dkr.ecr.eu-central-1.amazonaws.com',
          to: STAGING,
          repositories: ['b/**'],
        },
      ]),
    );

    const [source] = planDeployment(config).sources;

    assert.deepEqual(source!.roles[0]!.readable, [
      { region: 'us-east-1', patterns: ['a/*'] },
      { region: 'eu-central-1', patterns: ['b/*'] },
    ]);
  });

  const rejected: readonly [string, EnvSpec, RegExp][] = [
    [
      'a source that is not ECR',
      { name: 'x', from: 'ghcr.io', to: STAGING },
      /environments\[0\]\.source\.registry: "ghcr\.io" is not an ECR registry host/,
    ],
    [
      'a destination that is not ECR',
      { name: 'x', from: DEV, to: 'localhost:5000' },
      /environments\[0\]\.destination\.registry: "localhost:5000" is not an ECR registry host/,
    ],
    [
      'registries in different partitions',
      { name: 'x', from: DEV, to: '222222222222.dkr.ecr.cn-north-1.amazonaws.com.cn' },
      /different AWS partitions/,
    ],
    [
      'an environment without an ExternalId (the source role cannot trust without one)',
      { name: 'x', from: DEV, to: STAGING, externalId: null },
      /environments\[0\]\.source\.externalId: is required to deploy/,
    ],
  ];
  for (const [what, env, message] of rejected) {
    it(`rejects ${what} with a ConfigError naming the key`, () => {
      const config = parseConfig(configText([env]));
      assert.throws(
        () => planDeployment(config, 'image-promoter.yaml'),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError);
          assert.match(e.message, /^image-promoter\.yaml: /);
          assert.match(e.message, message);
          return true;
        },
      );
    });
  }
});

describe('planDeployment: one destination account per source role', () => {
  it("refuses a roleArn named for two destination accounts (each would read the other's allowlist)", () => {
    const config = parseConfig(
      configText([
        {
          name: 'qa',
          from: DEV,
          to: STAGING,
          roleArn: 'arn:aws:iam::111111111111:role/ci/promoter-read',
          repositories: ['qa/**'],
        },
        {
          name: 'prod',
          from: DEV,
          to: PROD,
          roleArn: 'arn:aws:iam::111111111111:role/ci/promoter-read',
          repositories: ['shop/**'],
        },
      ]),
    );

    assert.throws(
      () => planDeployment(config, 'image-promoter.yaml'),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message ===
          'image-promoter.yaml: environments[1].source.roleArn: arn:aws:iam::111111111111:role/ci/promoter-read ' +
            'is also the source role of "qa", which promotes into account 222222222222, not 333333333333: each ' +
            'destination account needs its own source role (leave roleArn out to get ' +
            'image-promoter-source-<destination account>)',
    );
  });
});

describe('configForDestination', () => {
  it('gives each destination only its environments, with the created source role and the dashboard', () => {
    const config = parseConfig(
      configText([
        { name: 'staging', from: DEV, to: STAGING },
        { name: 'prod', from: STAGING, to: PROD, roleArn: 'arn:aws:iam::222222222222:role/custom' },
      ]),
    );
    const [staging, prod] = planDeployment(config).destinations;

    const forStaging = parseConfig(configForDestination(config, staging!));
    const forProd = parseConfig(configForDestination(config, prod!));

    assert.deepEqual(
      forStaging.environments.map((e) => [e.name, e.source.roleArn]),
      [['staging', 'arn:aws:iam::111111111111:role/image-promoter-source-222222222222']],
    );
    assert.deepEqual(
      forProd.environments.map((e) => [e.name, e.source.roleArn]),
      [['prod', 'arn:aws:iam::222222222222:role/custom']],
    );
    assert.equal(
      forStaging.worker.dashboardUrl,
      'https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/ImagePromoter-222222222222-us-east-1',
    );
    assert.equal(forStaging.worker.maxReceiveCount, config.worker.maxReceiveCount);
    assert.deepEqual(forStaging.github, config.github);
  });

  it('keeps a dashboardUrl the config sets', () => {
    const config = parseConfig(
      configText(
        [{ name: 'staging', from: DEV, to: STAGING }],
        'worker:\n  dashboardUrl: https://grafana.example/d/1\n',
      ),
    );

    const scoped = parseConfig(configForDestination(config, planDeployment(config).destinations[0]!));

    assert.equal(scoped.worker.dashboardUrl, 'https://grafana.example/d/1');
  });

  it("refuses a config too big for Lambda's environment", () => {
    const repositories = Array.from({ length: 200 }, (_, i) => `team-${i}/service-${i}/**`);
    const config = parseConfig(configText([{ name: 'staging', from: DEV, to: STAGING, repositories }]));

    assert.throws(
      () => configForDestination(config, planDeployment(config).destinations[0]!),
      (e: unknown) =>
        e instanceof ConfigError && new RegExp(`over the ${MAX_LAMBDA_CONFIG_BYTES}`).test(e.message),
    );
  });
});

describe('partitionOf / dashboardUrlOf', () => {
  const cases: readonly [string, string, string][] = [
    ['us-east-1', 'aws', 'https://us-east-1.console.aws.amazon.com/'],
    ['cn-north-1', 'aws-cn', 'https://cn-north-1.console.amazonaws.cn/'],
    ['us-gov-west-1', 'aws-us-gov', 'https://us-gov-west-1.console.amazonaws-us-gov.com/'],
  ];
  for (const [region, partition, console] of cases) {
    it(`${region} -> ${partition}`, () => {
      const suffix = partition === 'aws-cn' ? '.amazonaws.com.cn' : '.amazonaws.com';
      const config = parseConfig(
        configText([
          {
            name: 'e',
            from: `111111111111.dkr.ecr.${region}${suffix}`,
            to: `222222222222.dkr.ecr.${region}${suffix}`,
          },
        ]),
      );

      const [destination] = planDeployment(config).destinations;

      assert.equal(partitionOf(region), partition);
      assert.equal(
        destination!.workerRoleArn,
        `arn:${partition}:iam::222222222222:role/image-promoter-worker-${region}`,
      );
      assert.ok(dashboardUrlOf(destination!).startsWith(console));
    });
  }
});
