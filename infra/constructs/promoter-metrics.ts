// The custom metrics the worker publishes (Powertools EMF, namespace ImagePromoter, dimensions
// service + Environment), named once for the dashboard and the alarms. Names must match what
// lambdas/worker emits; never add a metric here the worker does not publish.
import { Duration } from 'aws-cdk-lib';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
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
} as const;

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
