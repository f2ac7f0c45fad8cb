// The one CloudWatch dashboard an operator opens for a destination registry: alarm states, then
// promotions, failures, bytes and blobs per environment, promotion duration and push-to-promoted
// latency (p50/p90/max), the queue and its DLQ, and both Lambdas (errors, throttles, duration,
// webhook 4xx/5xx). Reads metrics only; never creates alarms itself.
import { Duration } from 'aws-cdk-lib';
import {
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  TextWidget,
  type IAlarm,
  type IMetric,
  type Metric,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { createPromoterMetric, createRejectedJobsMetric, type PromoterMetricKey } from './promoter-metrics';

export interface PromoterDashboardProps {
  readonly dashboardName: string;
  /** A line of markdown on top: what this dashboard covers. */
  readonly title: string;
  readonly environments: readonly string[];
  readonly webhook: IFunction;
  readonly worker: IFunction;
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  readonly alarms: readonly IAlarm[];
}

const PERIOD = Duration.minutes(5);
const PERCENTILES = ['p50', 'p90', 'Maximum'] as const;

export class PromoterDashboard extends Construct {
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: PromoterDashboardProps) {
    super(scope, id);
    const envs = props.environments;
    const perEnvironment = (name: PromoterMetricKey, statistic: string): Metric[] =>
      envs.map((env) => createPromoterMetric(name, env, statistic, PERIOD));
    const percentiles = (name: PromoterMetricKey): IMetric[] =>
      envs.flatMap((env) => PERCENTILES.map((stat) => createPromoterMetric(name, env, stat, PERIOD)));
    const functions = [
      { label: 'webhook', fn: props.webhook },
      { label: 'worker', fn: props.worker },
    ];

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.days(1),
      widgets: [
        [
          new TextWidget({ markdown: props.title, width: 12, height: 3 }),
          new AlarmStatusWidget({ title: 'Alarms', alarms: [...props.alarms], width: 12, height: 3 }),
        ],
        [
          graph('Images promoted (Sum)', [
            ...perEnvironment('imagesPromoted', 'Sum'),
            ...envs.map((env) =>
              createPromoterMetric('imagesAlreadyPresent', env, 'Sum', PERIOD).with({
                label: `${env} already present`,
              }),
            ),
          ]),
          graph('Promotion failures / rejected jobs (Sum)', [
            ...perEnvironment('promotionFailures', 'Sum'),
            createRejectedJobsMetric(PERIOD),
          ]),
          graph('Bytes copied (Sum)', perEnvironment('bytesCopied', 'Sum')),
          graph('Blobs copied / skipped (Sum)', [
            ...perEnvironment('blobsCopied', 'Sum').map((m, i) => m.with({ label: `${envs[i]} copied` })),
            ...perEnvironment('blobsSkipped', 'Sum').map((m, i) => m.with({ label: `${envs[i]} skipped` })),
          ]),
        ],
        [
          graph('Promotion duration, ms (p50 / p90 / max)', percentiles('promotionDuration'), 12),
          graph('Push to promoted latency, ms (p50 / p90 / max)', percentiles('pushToPromotedLatency'), 12),
        ],
        [
          graph(
            'Queue depth',
            [
              props.queue.metricApproximateNumberOfMessagesVisible({
                label: 'queued',
                period: PERIOD,
                statistic: 'Maximum',
              }),
              props.queue.metricApproximateNumberOfMessagesNotVisible({
                label: 'in flight',
                period: PERIOD,
                statistic: 'Maximum',
              }),
            ],
            8,
          ),
          graph(
            'Dead-letter queue depth',
            [
              props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
                label: 'DLQ',
                period: PERIOD,
                statistic: 'Maximum',
              }),
            ],
            8,
          ),
          graph(
            'Age of oldest message, s',
            [
              props.queue.metricApproximateAgeOfOldestMessage({
                label: 'queue',
                period: PERIOD,
                statistic: 'Maximum',
              }),
              props.deadLetterQueue.metricApproximateAgeOfOldestMessage({
                label: 'DLQ',
                period: PERIOD,
                statistic: 'Maximum',
              }),
            ],
            8,
          ),
        ],
        [
          graph(
            'Lambda errors / throttles (Sum)',
            functions.flatMap(({ label, fn }) => [
              fn.metricErrors({ label: `${label} errors`, period: PERIOD, statistic: 'Sum' }),
              fn.metricThrottles({ label: `${label} throttles`, period: PERIOD, statistic: 'Sum' }),
            ]),
            8,
          ),
          graph(
            'Lambda duration, ms (p50 / p90 / max)',
            functions.flatMap(({ label, fn }) =>
              PERCENTILES.map((stat) =>
                fn.metricDuration({ label: `${label} ${stat}`, period: PERIOD, statistic: stat }),
              ),
            ),
            8,
          ),
          graph(
            'Webhook Function URL (Sum)',
            ['UrlRequestCount', 'Url4xxCount', 'Url5xxCount'].map((name) =>
              props.webhook.metric(name, { label: name, period: PERIOD, statistic: 'Sum' }),
            ),
            8,
          ),
        ],
      ],
    });
  }
}

function graph(title: string, left: IMetric[], width = 6): GraphWidget {
  return new GraphWidget({ title, left, width, height: 6, period: PERIOD });
}
