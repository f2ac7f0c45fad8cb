// The custom metrics the worker publishes (Powertools EMF, namespace ImagePromoter, dimensions
// service + Environment), named once for the dashboard and the alarms. Names must match what
// lambdas/worker emits; never add a metric here the worker does not publish.
import { Duration } from 'aws-cdk-lib';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { DRIFT_METRIC } from '../../lambdas/core/drift';
import { METRICS_NAMESPACE, SERVICE_NAME } from './lambda-environment';

export const PROMOTER_METRICS = {
  imagesPromoted: 'ImagesPromoted',
  imagesAlreadyPresent: 'ImagesAlreadyPresent',
  promotionFailures: 'PromotionFailures',
  bytesCopied: 'BytesCopied',
  blobsCopied: 'BlobsCopied',
  blobsSkipped: 'BlobsSkipped',
  /** Milliseconds. */
  promotionDuration: 'PromotionDuration',
  /** Milliseconds from the push (job.pushedAt) to the image present in the destination. */
  pushToPromotedLatency: 'PushToPromotedLatency',
  /** Published by the scheduled reconcile: managed images not in place, per run. */
  driftImages: DRIFT_METRIC,
} as const;

/** Jobs the worker refused before any registry call (lambdas/core/admit-job.ts; emitted as
 * REJECTED_JOBS_METRIC in lambdas/worker/process-job.ts). Dimension service only: the job's
 * environment name is not trusted enough to become a dimension. */
export const REJECTED_JOBS_METRIC = 'RejectedJobs';

export function createRejectedJobsMetric(period: Duration = Duration.minutes(5)): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: REJECTED_JOBS_METRIC,
    dimensionsMap: { service: SERVICE_NAME },
    statistic: 'Sum',
    period,
    label: 'rejected jobs',
  });
}

export type PromoterMetricName = (typeof PROMOTER_METRICS)[keyof typeof PROMOTER_METRICS];

export function createPromoterMetric(
  metricName: PromoterMetricName,
  environment: string,
  statistic: string,
  period: Duration = Duration.minutes(5),
): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: SERVICE_NAME, Environment: environment },
    statistic,
    period,
    label: `${environment} ${statistic}`,
  });
}
