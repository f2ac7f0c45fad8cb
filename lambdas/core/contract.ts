// The contract where the CDK app (infra/) and the Lambdas (lambdas/) meet: environment variable
// names and which function reads which, the Powertools service name and metrics namespace, and the
// custom metrics (name, unit, dimensions) the code emits and the dashboard and alarms read. Both
// sides import these names; neither writes them out again. Pure constants and types: no I/O, no
// AWS SDK, no Powertools import (units are Powertools' MetricUnit strings), so infra/ can import it
// without pulling in runtime code. Never put a secret value here (secrets travel as ARNs).

/** Powertools `service` (log field and metric dimension): one service for every function. */
export const SERVICE_NAME = 'image-promoter';
/** CloudWatch namespace of every custom metric. */
export const METRICS_NAMESPACE = 'ImagePromoter';

/** Every environment variable a function or a local runner reads, by purpose. */
export const ENV = {
  /** The configuration, as YAML/JSON text. */
  config: 'IMAGE_PROMOTER_CONFIG',
  /** The configuration's path (local use), when IMAGE_PROMOTER_CONFIG is unset. */
  configFile: 'IMAGE_PROMOTER_CONFIG_FILE',
  /** The promotion jobs queue. */
  queueUrl: 'QUEUE_URL',
  /** The deliveries table: webhook deduplication, and the worker's promotion records. */
  deliveriesTable: 'DELIVERIES_TABLE',
  webhookSecret: 'WEBHOOK_SECRET',
  webhookSecretArn: 'WEBHOOK_SECRET_ARN',
  githubToken: 'GITHUB_TOKEN',
  githubTokenSecretArn: 'GITHUB_TOKEN_SECRET_ARN',
  /** Secrets Manager: JSON `{"appId", "privateKey", "installationId"?}`. */
  githubAppSecretArn: 'GITHUB_APP_SECRET_ARN',
  githubAppId: 'GITHUB_APP_ID',
  githubAppPrivateKey: 'GITHUB_APP_PRIVATE_KEY',
  githubAppPrivateKeyFile: 'GITHUB_APP_PRIVATE_KEY_FILE',
  githubAppInstallationId: 'GITHUB_APP_INSTALLATION_ID',
  /** GitHub's REST API root, over the configuration's github.apiUrl (tests, local servers). */
  githubApiUrl: 'GITHUB_API_URL',
  /** The environments the scheduled prune prunes (comma-separated names): the stack's own. */
  pruneEnvironments: 'PRUNE_ENVIRONMENTS',
  serviceName: 'POWERTOOLS_SERVICE_NAME',
  metricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
  /** Read by node itself: source-mapped stack traces. */
  nodeOptions: 'NODE_OPTIONS',
  /** Set by the Lambda runtime, never by the CDK app. */
  awsRegion: 'AWS_REGION',
  logGroupName: 'AWS_LAMBDA_LOG_GROUP_NAME',
  logStreamName: 'AWS_LAMBDA_LOG_STREAM_NAME',
} as const;

export type EnvironmentVariable = (typeof ENV)[keyof typeof ENV];

/** What one function's code reads: `deployed` the CDK app sets (all of them, except `conditional`
 * ones it sets only when the feature is deployed), `local` the code also reads for local use or
 * from the Lambda runtime, never set by the CDK app. */
export interface FunctionEnvironment {
  readonly deployed: readonly EnvironmentVariable[];
  readonly conditional: readonly EnvironmentVariable[];
  readonly local: readonly EnvironmentVariable[];
}

const GITHUB_LOCAL = [
  ENV.githubToken,
  ENV.githubAppSecretArn,
  ENV.githubAppId,
  ENV.githubAppPrivateKey,
  ENV.githubAppPrivateKeyFile,
  ENV.githubAppInstallationId,
  ENV.githubApiUrl,
] as const;
const RUNTIME = [ENV.awsRegion, ENV.logGroupName, ENV.logStreamName] as const;

/** Per function: the variables the handler (and the local runner of the same code) reads. */
export const FUNCTION_ENVIRONMENTS = {
  webhook: {
    deployed: [
      ENV.config,
      ENV.serviceName,
      ENV.nodeOptions,
      ENV.queueUrl,
      ENV.deliveriesTable,
      ENV.webhookSecretArn,
      ENV.githubTokenSecretArn,
    ],
    conditional: [],
    local: [ENV.configFile, ENV.webhookSecret, ...GITHUB_LOCAL, ...RUNTIME],
  },
  worker: {
    deployed: [ENV.config, ENV.serviceName, ENV.metricsNamespace, ENV.nodeOptions, ENV.githubTokenSecretArn],
    /** Promotion records only when the deliveries table is deployed with the worker. */
    conditional: [ENV.deliveriesTable],
    local: [ENV.configFile, ...GITHUB_LOCAL, ...RUNTIME],
  },
  reconcile: {
    deployed: [
      ENV.config,
      ENV.serviceName,
      ENV.metricsNamespace,
      ENV.nodeOptions,
      ENV.githubTokenSecretArn,
      ENV.queueUrl,
    ],
    conditional: [],
    // It builds the worker's dependencies, which read DELIVERIES_TABLE; the CDK app leaves it unset.
    local: [ENV.configFile, ENV.deliveriesTable, ...GITHUB_LOCAL, ...RUNTIME],
  },
  prune: {
    deployed: [ENV.config, ENV.serviceName, ENV.nodeOptions, ENV.githubTokenSecretArn, ENV.pruneEnvironments],
    conditional: [],
    local: [ENV.configFile, ...GITHUB_LOCAL, ...RUNTIME],
  },
} as const satisfies Record<string, FunctionEnvironment>;

export type FunctionName = keyof typeof FUNCTION_ENVIRONMENTS;

/** Metric dimension names. `service` is Powertools' own (its serviceName). */
export const METRIC_DIMENSIONS = {
  service: 'service',
  environment: 'Environment',
} as const;

export type MetricDimension = (typeof METRIC_DIMENSIONS)[keyof typeof METRIC_DIMENSIONS];

/** A custom metric: its name, its unit (a Powertools MetricUnit value) and the dimensions it is
 * published with, hence the ones a CloudWatch query must name to find it. */
export interface MetricSpec {
  readonly name: string;
  readonly unit: 'Count' | 'Bytes' | 'Milliseconds';
  readonly dimensions: readonly MetricDimension[];
  /** The function that publishes it. */
  readonly emittedBy: FunctionName;
}

const PER_ENVIRONMENT = [METRIC_DIMENSIONS.service, METRIC_DIMENSIONS.environment] as const;

/** Every custom metric the code publishes (Powertools EMF, namespace METRICS_NAMESPACE). */
export const METRICS = {
  imagesPromoted: { name: 'ImagesPromoted', unit: 'Count', dimensions: PER_ENVIRONMENT, emittedBy: 'worker' },
  imagesAlreadyPresent: {
    name: 'ImagesAlreadyPresent',
    unit: 'Count',
    dimensions: PER_ENVIRONMENT,
    emittedBy: 'worker',
  },
  promotionFailures: {
    name: 'PromotionFailures',
    unit: 'Count',
    dimensions: PER_ENVIRONMENT,
    emittedBy: 'worker',
  },
  bytesCopied: { name: 'BytesCopied', unit: 'Bytes', dimensions: PER_ENVIRONMENT, emittedBy: 'worker' },
  blobsCopied: { name: 'BlobsCopied', unit: 'Count', dimensions: PER_ENVIRONMENT, emittedBy: 'worker' },
  blobsSkipped: { name: 'BlobsSkipped', unit: 'Count', dimensions: PER_ENVIRONMENT, emittedBy: 'worker' },
  promotionDuration: {
    name: 'PromotionDuration',
    unit: 'Milliseconds',
    dimensions: PER_ENVIRONMENT,
    emittedBy: 'worker',
  },
  /** From the push (job.pushedAt) to the image present in the destination; successes only. */
  pushToPromotedLatency: {
    name: 'PushToPromotedLatency',
    unit: 'Milliseconds',
    dimensions: PER_ENVIRONMENT,
    emittedBy: 'worker',
  },
  /** Jobs the worker refused before any registry call (core/admit-job.ts), and queue messages that
   * are not valid jobs (lambdas/worker/worker.ts): security events. Dimension service only:
   * the job's environment name is not trusted enough to become a dimension. */
  rejectedJobs: {
    name: 'RejectedJobs',
    unit: 'Count',
    dimensions: [METRIC_DIMENSIONS.service],
    emittedBy: 'worker',
  },
  /** Managed images not in place, per reconcile run and environment. */
  driftImages: { name: 'DriftImages', unit: 'Count', dimensions: PER_ENVIRONMENT, emittedBy: 'reconcile' },
} as const satisfies Record<string, MetricSpec>;

export type MetricKey = keyof typeof METRICS;

/** What addMetric needs of Powertools' Metrics (structural, so this module imports no Powertools). */
export interface MetricSink {
  addMetric(name: string, unit: MetricSpec['unit'], value: number): void;
}

/** Adds one metric of the contract, with the contract's name and unit. */
export function addMetric(metrics: MetricSink, metric: MetricSpec, value: number): void {
  metrics.addMetric(metric.name, metric.unit, value);
}
