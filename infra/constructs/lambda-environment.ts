// The environment-variable contract between the CDK app and the two Lambdas: names and the values
// every function shares. Adding a variable here means a handler reads it; never put secrets here
// (secrets travel as Secrets Manager ARNs).
import { NODE_OPTIONS } from './lambda-bundling';

/** Powertools `service` dimension and log field: one service for both functions, so the metrics
 * the dashboard reads have the dimensions {service: SERVICE_NAME, Environment: <env>}. */
export const SERVICE_NAME = 'image-promoter';
export const METRICS_NAMESPACE = 'ImagePromoter';

export const ENV = {
  config: 'IMAGE_PROMOTER_CONFIG',
  queueUrl: 'QUEUE_URL',
  deliveriesTable: 'DELIVERIES_TABLE',
  webhookSecretArn: 'WEBHOOK_SECRET_ARN',
  githubTokenSecretArn: 'GITHUB_TOKEN_SECRET_ARN',
  serviceName: 'POWERTOOLS_SERVICE_NAME',
  metricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
  nodeOptions: 'NODE_OPTIONS',
} as const;

/** Variables both functions get, besides their own. */
export function createCommonEnvironment(configJson: string): Record<string, string> {
  return {
    [ENV.config]: configJson,
    [ENV.serviceName]: SERVICE_NAME,
    [ENV.metricsNamespace]: METRICS_NAMESPACE,
    [ENV.nodeOptions]: NODE_OPTIONS,
  };
}
