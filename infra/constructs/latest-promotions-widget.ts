// The dashboard's "what runs where" table: the latest promotions, read by Logs Insights from the
// worker's audit lines (one per promoted image: environment, destination, digest, commit, pusher,
// delivery, bytes), so an operator sees who promoted what without writing a query. Reads logs only.
import { LogQueryVisualizationType, LogQueryWidget } from 'aws-cdk-lib/aws-cloudwatch';
import type { ILogGroup } from 'aws-cdk-lib/aws-logs';

/** The query behind the widget (also documented in docs/verify.md for ad-hoc use). */
export const LATEST_PROMOTIONS_QUERY: readonly string[] = [
  'fields @timestamp, environment, destination, digest, commit, pusher, deliveryId, bytes',
  'filter audit = 1 and message = "image promoted"',
  'sort @timestamp desc',
  'limit 50',
];

export function createLatestPromotionsWidget(workerLogGroup: ILogGroup): LogQueryWidget {
  return new LogQueryWidget({
    title: 'Latest promotions (worker audit lines)',
    logGroupNames: [workerLogGroup.logGroupName],
    queryLines: [...LATEST_PROMOTIONS_QUERY],
    view: LogQueryVisualizationType.TABLE,
    width: 24,
    height: 8,
  });
}
