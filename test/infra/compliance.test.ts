// What CI must prove about the CDK app beyond its properties: `cdk synth` runs offline with no AWS
// credentials on a fresh clone (the example config), AWS Solutions checks (cdk-nag) leave no finding
// unexplained and really fail synth on a new one, cfn-lint accepts every template, and both Lambda
// bundles are ESM files that load in node.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { PROJECT_ROOT } from '../../infra/constructs/lambda-bundling';
import {
  assetDirOf,
  lambdaEnvironmentOf,
  offlineEnvironment,
  synthesizeApp,
  type SynthesizedApp,
  scratchDirectory,
} from './synth-app';

// Every shape that changes IAM: allowlists with ** and literal names, repository creation, a named
// role with a path, ExternalIds, one source account serving two destination accounts (a role
// each), an alarm topic, the default webhook reserved concurrency, and the scheduled prune (its
// function, rule and delete grant; it needs an allowlist on every environment, so each has one).
const CONFIG = `
github:
  repository: acme/overlays
environments:
  - name: staging
    overlay: overlays/staging
    source: { registry: 111111111111.dkr.ecr.us-east-1.amazonaws.com, externalId: ext-a-0123456789abcdef }
    destination: { registry: 222222222222.dkr.ecr.us-east-1.amazonaws.com, createRepositories: true }
    repositories: ['shop/**', 'base/node']
  - name: prod
    overlay: overlays/prod
    source:
      registry: 222222222222.dkr.ecr.us-east-1.amazonaws.com
      roleArn: arn:aws:iam::222222222222:role/ci/promoter-read
      externalId: ext-b-0123456789abcdef
    destination: { registry: 333333333333.dkr.ecr.eu-west-1.amazonaws.com }
    repositories: ['payments/**']
  - name: qa
    overlay: overlays/qa
    source: { registry: 111111111111.dkr.ecr.us-east-1.amazonaws.com, externalId: ext-c-0123456789abcdef }
    destination: { registry: 444444444444.dkr.ecr.us-east-1.amazonaws.com }
    repositories: ['shop/cart']
prune: { scheduled: true }
`;

/** cfn-lint findings we accept, each with its reason. */
const ACCEPTED_CFN_LINT: Readonly<Record<string, string>> = {
  W3005:
    'CDK makes each function DependsOn its execution role and policy, so the function never runs ' +
    'before its permissions exist; the GetAtt already orders the role, the policy part is not redundant.',
};

interface ProcessResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function templatesIn(outdir: string): string[] {
  return readdirSync(outdir)
    .filter((f) => f.endsWith('.template.json'))
    .map((f) => join(outdir, f))
    .sort();
}

interface CfnLintFinding {
  readonly Rule: { readonly Id: string };
  readonly Message: string;
  readonly Filename: string;
}

async function lintTemplates(files: readonly string[]): Promise<CfnLintFinding[]> {
  const result = await run('cfn-lint', ['--format', 'json', '--', ...files], process.env);
  assert.ok(result.code !== null && result.code !== 1, `cfn-lint failed to run: ${result.stderr}`);
  return JSON.parse(result.stdout || '[]') as CfnLintFinding[];
}

let cliOutdir: string;
let cli: ProcessResult;
let synth: SynthesizedApp;

before(async () => {
  cliOutdir = scratchDirectory('cdk-cli-');
  // A fresh clone: no -c config (the example config), no credentials, bundling with local esbuild.
  // The CLI runs in a child process while this one synthesizes the richer config.
  const cliRun = run(
    join(PROJECT_ROOT, 'node_modules', '.bin', 'cdk'),
    ['synth', '--quiet', '-o', cliOutdir],
    {
      ...offlineEnvironment(),
    },
  );
  synth = synthesizeApp(CONFIG, {
    bundle: false,
    alarmTopicArns: ['arn:aws:sns:us-east-1:222222222222:ops'],
  });
  cli = await cliRun;
});
after(() => {
  rmSync(cliOutdir, { recursive: true, force: true });
  synth.cleanup();
});

describe('cdk synth (CLI, offline)', () => {
  it('synthesizes every stack of the example config without AWS credentials', () => {
    assert.equal(cli.code, 0, `cdk synth failed:\n${cli.stderr}`);
    assert.deepEqual(
      templatesIn(cliOutdir).map((f) => f.slice(cliOutdir.length + 1)),
      [
        'ImagePromoter-222222222222-us-east-1.template.json',
        'ImagePromoter-333333333333-us-east-1.template.json',
        'ImagePromoterSourceAccess-111111111111.template.json',
      ],
    );
    const manifest = JSON.parse(readFileSync(join(cliOutdir, 'manifest.json'), 'utf8')) as {
      artifacts: Record<string, { type: string; environment?: string }>;
    };
    const environments = Object.values(manifest.artifacts)
      .filter((a) => a.type === 'aws:cloudformation:stack')
      .map((a) => a.environment)
      .sort();
    assert.deepEqual(environments, [
      'aws://111111111111/us-east-1',
      'aws://222222222222/us-east-1',
      'aws://333333333333/us-east-1',
    ]);
  });

  it('caps the webhook at the default reserved concurrency when the config says nothing', () => {
    synth.templates
      .get('ImagePromoter-222222222222-us-east-1')!
      .hasResourceProperties('AWS::Lambda::Function', {
        Handler: 'index.handler',
        Description: Match.stringLikeRegexp('^image-promoter webhook'),
        ReservedConcurrentExecutions: 10,
      });
  });

  it('has the scheduled prune in every destination stack, so cdk-nag and cfn-lint check it too', () => {
    for (const stack of synth.stacks.destinations) {
      const template = synth.templates.get(stack.stackName)!;
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.stringLikeRegexp('^image-promoter prune'),
      });
      template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 day)' });
    }
    assert.equal(synth.stacks.destinations.length, 3);
  });

  it('ran the AwsSolutions checks with nothing to report', () => {
    const report = JSON.parse(readFileSync(join(cliOutdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: unknown[];
    };
    assert.deepEqual(report.pluginReports, []);
  });
});

describe('cfn-lint', () => {
  let files: string[];
  let broken: string;
  let findings: CfnLintFinding[];

  // One cfn-lint run (it starts slowly) over every template, plus one broken on purpose.
  before(async () => {
    files = [...templatesIn(cliOutdir), ...templatesIn(synth.outdir)];
    broken = join(synth.outdir, 'broken.template.json');
    const template = JSON.parse(readFileSync(templatesIn(synth.outdir)[0]!, 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    const queue = Object.values(template.Resources).find((r) => r.Type === 'AWS::SQS::Queue')!;
    queue.Properties.VisibilityTimeout = 'forever';
    writeFileSync(broken, JSON.stringify(template));
    findings = await lintTemplates([...files, broken]);
  });

  it('accepts every synthesized template (CLI and in-process configs)', () => {
    assert.equal(files.length, 3 + synth.templates.size);

    const unexplained = findings.filter(
      (f) => f.Filename !== broken && ACCEPTED_CFN_LINT[f.Rule.Id] === undefined,
    );

    assert.deepEqual(
      unexplained.map((f) => `${f.Rule.Id} ${f.Filename}: ${f.Message}`),
      [],
    );
  });

  it('really fails on a broken template (the linter is wired, not silent)', () => {
    const errors = findings.filter((f) => f.Filename === broken && f.Rule.Id.startsWith('E'));

    assert.ok(errors.length > 0, JSON.stringify(findings));
  });
});

describe('cdk-nag AwsSolutions', () => {
  /** Every acknowledged rule id on the construct tree, with its reason. */
  function acknowledgments(scope: IConstruct): Map<string, string> {
    const found = new Map<string, string>();
    for (const node of scope.node.findAll()) {
      for (const entry of node.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
          found.set(`${node.node.path} ${id.replace(/^annotation::/i, '')}`, reason);
        }
      }
    }
    return found;
  }

  /** What AwsSolutions would report if nothing were acknowledged. */
  function rawFindings(scope: IConstruct): string[] {
    const pack = new AwsSolutionsChecks();
    (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
    return pack
      .validateScope(scope)
      .violations.flatMap((v) => v.violatingResources.map((r) => `${r.constructPath} ${v.ruleName}`));
  }

  it('leaves no violation', () => {
    const report = new AwsSolutionsChecks().validateScope(synth.app);

    assert.deepEqual(
      report.violations.map((v) => v.ruleName),
      [],
    );
  });

  it('explains every finding with a reason in code, and acknowledges nothing that is not a finding', () => {
    const acknowledged = acknowledgments(synth.app);
    const findings = rawFindings(synth.app);

    // Each finding sits on a resource at or below the construct that acknowledged it.
    const covering = (finding: string): string | undefined => {
      const [path, rule] = finding.split(' ') as [string, string];
      return [...acknowledged.keys()].find((key) => {
        const [ackPath, ackRule] = key.split(' ') as [string, string];
        return ackRule === rule && (path === ackPath || path.startsWith(`${ackPath}/`));
      });
    };
    assert.deepEqual(
      findings.filter((f) => covering(f) === undefined),
      [],
    );
    const used = new Set(findings.map(covering));
    assert.deepEqual(
      [...acknowledged.keys()].filter((key) => !used.has(key)),
      [],
    );
    for (const [key, reason] of acknowledged) assert.ok(reason.length >= 40, `${key}: reason too short`);
    assert.ok(findings.length > 0);
  });

  it('fails synth on a new, unexplained finding', () => {
    const extra = synthesizeApp(CONFIG, { bundle: false, nag: true });
    try {
      const stack = extra.stacks.destinations[0]!;
      new Queue(stack, 'UnencryptedQueueWithoutDlq', { enforceSSL: false });

      assert.throws(() => extra.app.synth({ force: true }), /Validation failed/);
    } finally {
      extra.cleanup();
    }
  });
});

describe('Lambda bundles (from the CLI synth)', () => {
  const destination = 'ImagePromoter-222222222222-us-east-1';

  for (const name of ['Webhook', 'Worker'] as const) {
    it(`${name.toLowerCase()}: one minified ESM file with a source map that loads in node and exports handler`, async () => {
      const template = Template.fromJSON(
        JSON.parse(readFileSync(join(cliOutdir, `${destination}.template.json`), 'utf8')) as Record<
          string,
          unknown
        >,
      );
      const dir = assetDirOf(cliOutdir, template, `${name}Function`);
      assert.deepEqual(readdirSync(dir).sort(), ['index.mjs', 'index.mjs.map']);
      const bundle = join(dir, 'index.mjs');
      assert.ok(statSync(bundle).size > 0);
      assert.ok(readFileSync(bundle, 'utf8').trimEnd().endsWith('//# sourceMappingURL=index.mjs.map'));

      const probe =
        `const m = await import(${JSON.stringify(bundle)});` +
        `process.stdout.write(JSON.stringify({ handler: typeof m.handler }));`;

      // Loaded as Lambda would, with its environment; any stray AWS call would go to a closed
      // loopback port, never to AWS.
      const result = await run(
        process.execPath,
        ['--input-type=module', '-e', probe],
        lambdaEnvironmentOf(template, `${name}Function`),
      );

      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), { handler: 'function' });
    });
  }
});
