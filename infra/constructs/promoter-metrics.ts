// The custom metrics the dashboard and the alarms read, built from the contract
// (lambdas/core/contract.ts METRICS): namespace, name and dimensions exactly as the code publishes
// them, so a query can never name a metric or a dimension set the code does not emit.
import { Duration } from 'aws-cdk-lib';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import {
  METRIC_DIMENSIONS,
  METRICS,
  METRICS_NAMESPACE,
  SERVICE_NAME,
  type MetricKey,
} from '../../lambdas/core/contract';

/** The metrics published per environment (dimensions service + Environment). */
export type PromoterMetricKey = {
  [K in MetricKey]: (typeof METRICS)[K]['dimensions'] extends readonly ['service', 'Environment'] ? K : never;
}[MetricKey];

/** The metric of `environment`. */
export function createPromoterMetric(
  metric: PromoterMetricKey,
  environment: string,
  statistic: string,
  period: Duration = Duration.minutes(5),
): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: METRICS[metric].name,
    dimensionsMap: {
      [METRIC_DIMENSIONS.service]: SERVICE_NAME,
      [METRIC_DIMENSIONS.environment]: environment,
    },
    statistic,
    period,
    label: `${environment} ${statistic}`,
  });
}

/** Jobs the worker refused before any registry call: dimension service only (the job's
 * environment name is not trusted enough to become a dimension). */
export function createRejectedJobsMetric(period: Duration = Duration.minutes(5)): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: METRICS.rejectedJobs.name,
    dimensionsMap: { [METRIC_DIMENSIONS.service]: SERVICE_NAME },
    statistic: 'Sum',
    period,
    label: 'rejected jobs',
  });
}
