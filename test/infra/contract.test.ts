// The contract between the CDK app and the Lambdas (lambdas/core/contract.ts) as synthesized: each
// function is given exactly the variables the contract says its code reads (which the handlers'
// own tests check against what the code really reads: test/core/environment-contract.test.ts), and
// every metric the dashboard and the alarms query is one the contract says the code publishes,
// with the same dimensions (the worker's and the reconcile's tests check the EMF they publish
// against the same contract).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Template } from 'aws-cdk-lib/assertions';
import {
  FUNCTION_ENVIRONMENTS,
  METRICS,
  METRICS_NAMESPACE,
  SERVICE_NAME,
  type FunctionName,
} from '../../lambdas/core/contract';
import { synthesizeApp, type SynthesizedApp } from './synth-app';
import { dashboardWidgets, render } from './template-queries';

const CONFIG = `
github:
  repository: acme/overlays
environments:
  - name: staging
    overlay: overlays/staging
    source: { registry: 111111111111.dkr.ecr.us-east-1.amazonaws.com, externalId: ext-a-0123456789abcdef }
    destination: { registry: 222222222222.dkr.ecr.us-east-1.amazonaws.com }
    repositories: ['shop/**']
  - name: prod
    overlay: overlays/prod
    source: { registry: 111111111111.dkr.ecr.us-east-1.amazonaws.com, externalId: ext-b-0123456789abcdef }
    destination: { registry: 222222222222.dkr.ecr.us-east-1.amazonaws.com }
    repositories: ['shop/**']
prune: { scheduled: true }
`;
const STACK = 'ImagePromoter-222222222222-us-east-1';
const FUNCTIONS: Readonly<Record<FunctionName, string>> = {
  webhook: 'WebhookFunction',
  worker: 'WorkerFunction',
  reconcile: 'ReconcileFunction',
  prune: 'PruneFunction',
};

/** A metric as a query names it: namespace, name and the set of dimension names. */
interface MetricQuery {
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: readonly string[];
  readonly service: string | undefined;
}

function queryKey(q: MetricQuery): string {
  return `${q.namespace} ${q.name} [${[...q.dimensions].sort().join(',')}]`;
}

/** Dashboard metric arrays: [namespace, name, dim1, value1, ..., {options}?]. */
function dashboardQueries(template: Template): MetricQuery[] {
  return dashboardWidgets(template).flatMap((w) =>
    (w.properties.metrics ?? []).map((row) => {
      const fields = row.filter((f): f is string => typeof f === 'string');
      const [namespace = '', name = '', ...pairs] = fields;
      const dims = new Map<string, string>();
      for (let i = 0; i + 1 < pairs.length; i += 2) dims.set(pairs[i]!, pairs[i + 1]!);
      return { namespace, name, dimensions: [...dims.keys()], service: dims.get('service') };
    }),
  );
}

interface AlarmMetric {
  readonly Namespace?: string;
  readonly MetricName?: string;
  readonly Dimensions?: readonly { readonly Name: string; readonly Value: unknown }[];
}

/** Alarm metrics, plain or inside metric math (Metrics[].MetricStat.Metric). */
function alarmQueries(template: Template): MetricQuery[] {
  const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as {
    Properties: AlarmMetric & { Metrics?: { MetricStat?: { Metric: AlarmMetric } }[] };
  }[];
  return alarms.flatMap(({ Properties: p }) =>
    [p, ...(p.Metrics ?? []).flatMap((m) => (m.MetricStat === undefined ? [] : [m.MetricStat.Metric]))]
      .filter((m) => m.MetricName !== undefined)
      .map((m) => ({
        namespace: render(m.Namespace),
        name: m.MetricName!,
        dimensions: (m.Dimensions ?? []).map((d) => d.Name),
        service: (m.Dimensions ?? []).find((d) => d.Name === 'service')?.Value as string | undefined,
      })),
  );
}

describe('contract between the CDK app and the Lambdas', () => {
  let synth: SynthesizedApp;
  let template: Template;
  before(() => {
    synth = synthesizeApp(CONFIG);
    template = synth.templates.get(STACK)!;
  });
  after(() => synth?.cleanup());

  const variablesOf = (prefix: string): string[] => {
    const fns = Object.entries(template.findResources('AWS::Lambda::Function')).filter(([id]) =>
      id.startsWith(prefix),
    );
    assert.equal(fns.length, 1, `one ${prefix}`);
    const props = fns[0]![1]['Properties'] as { Environment: { Variables: Record<string, unknown> } };
    return Object.keys(props.Environment.Variables).sort();
  };

  for (const [fn, prefix] of Object.entries(FUNCTIONS) as [FunctionName, string][]) {
    it(`gives the ${fn} function exactly the variables its code reads from the CDK app`, () => {
      const spec = FUNCTION_ENVIRONMENTS[fn];
      const expected = [...spec.deployed, ...spec.conditional].sort();
      assert.deepEqual(variablesOf(prefix), expected);
    });
  }

  it('queries only metrics the code publishes, with their dimensions, in every widget and alarm', () => {
    const published = new Map(
      Object.values(METRICS).map((m) => {
        const q = {
          namespace: METRICS_NAMESPACE,
          name: m.name,
          dimensions: m.dimensions,
          service: SERVICE_NAME,
        };
        return [queryKey(q), q];
      }),
    );
    const custom = [...dashboardQueries(template), ...alarmQueries(template)].filter(
      (q) => q.namespace === METRICS_NAMESPACE,
    );
    // Every custom metric of the contract is on the dashboard or behind an alarm.
    assert.deepEqual(
      [...new Set(custom.map((q) => q.name))].sort(),
      Object.values(METRICS)
        .map((m) => m.name)
        .sort(),
    );
    for (const q of custom) {
      assert.ok(published.has(queryKey(q)), `${queryKey(q)} is not published by the code`);
      assert.equal(q.service, SERVICE_NAME, `${q.name}: service dimension`);
    }
    // Nothing else in the custom namespace hides under another spelling.
    assert.ok(
      [...dashboardQueries(template), ...alarmQueries(template)].every(
        (q) => q.namespace === METRICS_NAMESPACE || q.namespace.startsWith('AWS/'),
      ),
    );
  });
});
