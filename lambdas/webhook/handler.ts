// The webhook Lambda (Function URL, payload format 2.0): wiring only. Turns the event into a
// WebhookRequest and hands it to processDelivery with the real adapters: GitHub (Octokit), SQS,
// DynamoDB (or memory without DELIVERIES_TABLE), Secrets Manager. Clients and secrets live at module
// scope, created once per container. Holds no logic of its own and never logs a secret.
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyStructuredResultV2, Context, LambdaFunctionURLEvent } from 'aws-lambda';
import { loadConfigFromEnvironment } from '../adapters/config-source';
import { createDynamoDeliveryStore, createMemoryDeliveryStore } from '../adapters/delivery-store';
import {
  createGitHubReporter,
  createTokenRotatingGitHubClient,
  GitHubFileSource,
  type GitHubClient,
} from '../adapters/github';
import { createSecretReader, createWebhookSecrets, type SecretReader } from '../adapters/secrets';
import { createSqsJobQueue, lazySqsClient } from '../adapters/sqs-queue';
import type { Config } from '../core/config';
import { ENV, SERVICE_NAME } from '../core/contract';
import { createEnvironmentReader } from '../core/environment';
import { describeError } from '../core/errors';
import { selectTargetUrl } from '../core/promotion-summary';
import type { DeliveryStore, JobQueue } from '../core/webhook-ports';
import { startDeliveryDeadline } from './delivery-deadline';
import { createDestinationLookups, type DestinationLookups } from './destination-lookup';
import { processDelivery } from './process-delivery';
import type { DeliveryLog, WebhookRequest } from './webhook-io';

export interface WebhookHandlerOptions {
  /** The configuration; read from IMAGE_PROMOTER_CONFIG(_FILE) when absent. */
  readonly config?: Config;
  readonly env?: NodeJS.ProcessEnv;
  readonly log?: DeliveryLog;
  /** Replaces config `webhook.deadlineSeconds` (milliseconds, unbounded): for tests that measure
   * the planning budgets, not the deadline. */
  readonly planningDeadlineMs?: number;
}

/** What the handler reads of the Lambda context: the time left (the deadline never outlives it). */
export type InvocationContext = Pick<Context, 'getRemainingTimeInMillis'>;

export type WebhookHandler = (
  event: LambdaFunctionURLEvent,
  context?: InvocationContext,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** A handler with its own clients and caches (one per container, or per local server). */
export function createWebhookHandler(options: WebhookHandlerOptions = {}): WebhookHandler {
  const env = options.env ?? process.env;
  const read = createEnvironmentReader(env);
  const log: DeliveryLog =
    options.log ?? powertoolsLog(new Logger({ serviceName: read.optional(ENV.serviceName) ?? SERVICE_NAME }));
  let config: Promise<Config> | undefined;
  let reader: SecretReader | undefined;
  let queue: JobQueue | undefined;
  let octokit: (() => Promise<GitHubClient>) | undefined;
  // Registry clients (ECR token, connections) for the life of the container.
  let destinationLookups: DestinationLookups | undefined;
  const deliveriesTable = read.optional(ENV.deliveriesTable);
  const deliveries: DeliveryStore =
    deliveriesTable === undefined
      ? createMemoryDeliveryStore()
      : createDynamoDeliveryStore(new DynamoDBClient({}), deliveriesTable);
  const secrets = createWebhookSecrets(
    env,
    () => (reader ??= createSecretReader(new SecretsManagerClient({}))),
    async () => {
      const cfg = await loadConfig();
      return {
        repository: cfg.github.repository,
        apiUrl: read.optional(ENV.githubApiUrl) ?? cfg.github.apiUrl,
      };
    },
  );

  const loadConfig = (): Promise<Config> => {
    config ??= options.config ? Promise.resolve(options.config) : loadConfigFromEnvironment(env);
    config.catch(() => (config = undefined));
    return config;
  };
  // Built once the config names the API; the token is asked on every call (rotation).
  const github = (cfg: Config): Promise<GitHubClient> =>
    (octokit ??= createTokenRotatingGitHubClient(() => secrets.githubToken(), {
      apiUrl: read.optional(ENV.githubApiUrl) ?? cfg.github.apiUrl,
    }))();

  return async (
    event: LambdaFunctionURLEvent,
    context?: InvocationContext,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    // Read first: the deadline counts from the request's arrival, not from the config's loading.
    const remainingMs = context?.getRemainingTimeInMillis();
    const arrived = Date.now();
    let cfg: Config;
    try {
      cfg = await loadConfig();
    } catch (e: unknown) {
      log.error('cannot load the configuration', { error: describeError(e) });
      return {
        statusCode: 500,
        headers: { 'content-type': 'application/json' },
        body: '{"message":"webhook is not configured"}',
      };
    }
    const deadline = startDeliveryDeadline(
      (options.planningDeadlineMs ?? cfg.webhook.deadlineSeconds * 1000) - (Date.now() - arrived),
      remainingMs === undefined ? undefined : remainingMs - (Date.now() - arrived),
    );
    try {
      return await answer(event, cfg, deadline.signal);
    } finally {
      deadline.clear();
    }
  };

  async function answer(
    event: LambdaFunctionURLEvent,
    cfg: Config,
    deadline: AbortSignal,
  ): Promise<APIGatewayProxyStructuredResultV2> {
    const response = await processDelivery(toWebhookRequest(event), {
      config: cfg,
      webhookSecrets: () => secrets.webhookSecrets(),
      openFileSource: async (signal) =>
        new GitHubFileSource(await github(cfg), {
          repository: cfg.github.repository,
          maxFileBytes: cfg.planning.maxFileBytes,
          maxCalls: cfg.planning.maxGitHubCalls,
          ...(signal === undefined ? {} : { signal }),
        }),
      queue: async () =>
        (queue ??= createSqsJobQueue(
          lazySqsClient(),
          read.required(ENV.queueUrl, 'the promotion jobs queue'),
        )),
      // An App reports check runs; a token, commit statuses (same name, same required check).
      statusReporter: async () => createGitHubReporter(await github(cfg), secrets.githubAuthKind()),
      deliveries,
      clock: () => new Date(),
      log,
      deadline,
      ...(cfg.webhook.checkRegistries
        ? { destinationLookups: (destinationLookups ??= createDestinationLookups(cfg)) }
        : {}),
      targetUrl: selectTargetUrl({
        dashboardUrl: cfg.worker.dashboardUrl,
        region: read.optional(ENV.awsRegion),
        logGroup: read.optional(ENV.logGroupName),
        logStream: read.optional(ENV.logStreamName),
      }),
    });
    return { statusCode: response.statusCode, headers: { ...response.headers }, body: response.body };
  }
}

function powertoolsLog(logger: Logger): DeliveryLog {
  return {
    info: (message, attributes = {}) => logger.info(message, { ...attributes }),
    warn: (message, attributes = {}) => logger.warn(message, { ...attributes }),
    error: (message, attributes = {}) => logger.error(message, { ...attributes }),
  };
}

/** The request as the Function URL passed it: body decoded from base64 when it was binary. */
export function toWebhookRequest(event: LambdaFunctionURLEvent): WebhookRequest {
  const raw = event.body ?? '';
  return {
    method: event.requestContext.http.method.toUpperCase(),
    headers: Object.fromEntries(Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    body: event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8'),
  };
}

let lambdaHandler: WebhookHandler | undefined;

export const handler = (
  event: LambdaFunctionURLEvent,
  context: Context,
): Promise<APIGatewayProxyStructuredResultV2> => (lambdaHandler ??= createWebhookHandler())(event, context);
