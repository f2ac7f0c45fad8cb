// Composes the whole CDK app from the typed config: a destination stack per destination registry, a
// source-access stack per source account, every stack pinned to an explicit account and region taken
// from the ECR host names (so synth needs no credentials and makes no lookups), and the AWS
// Solutions checks (cdk-nag) over all of it. Never reads files or the environment: app.ts does.
import { Duration, Tags, Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Config } from '../lambdas/core/config';
import { ConfigError } from '../lambdas/core/errors';
import { configForDestination, configForPrune, planDeployment, type AccountRegion } from './deployment-plan';
import { DestinationStack } from './stacks/destination-stack';
import { SourceAccessStack } from './stacks/source-access-stack';

export interface PromoterAppOptions {
  /** Names the config in errors. */
  readonly file: string;
  /** SNS topic ARNs for alarms; each destination stack uses the one in its account and region. */
  readonly alarmTopicArns?: readonly string[];
  /** Bundle the AWS SDK into the functions instead of using the runtime's (`-c bundleAwsSdk=true`). */
  readonly bundleAwsSdk?: boolean;
  /** Run cdk-nag's AwsSolutions checks as a policy-validation plugin (violations fail synth). */
  readonly nag?: boolean;
}

export interface PromoterStacks {
  readonly destinations: readonly DestinationStack[];
  readonly sources: readonly SourceAccessStack[];
}

export function addPromoterStacks(app: App, config: Config, options: PromoterAppOptions): PromoterStacks {
  const plan = planDeployment(config, options.file);
  const topics = (options.alarmTopicArns ?? []).map((arn) => parseTopicArn(arn, options.file));

  const destinations = plan.destinations.map((destination) => {
    const topic = topics.find((t) => sameAccountRegion(t, destination.env));
    return new DestinationStack(app, destination.stackName, {
      env: destination.env,
      description:
        `image-promoter: promotes images into ${destination.env.account} ${destination.env.region} ` +
        `(${destination.environments.map((e) => e.name).join(', ')})`,
      destination,
      configJson: configForDestination(config, destination, options.file),
      maxReceiveCount: config.worker.maxReceiveCount,
      webhookReservedConcurrency: config.webhook.reservedConcurrency,
      webhookChecksRegistries: config.webhook.checkRegistries,
      alarmTopicArn: topic?.arn,
      bundleAwsSdk: options.bundleAwsSdk,
      ...(config.reconcile.enabled
        ? { reconcile: { rate: Duration.minutes(config.reconcile.rateMinutes) } }
        : {}),
      ...(config.prune.scheduled
        ? {
            prune: {
              rate: Duration.hours(config.prune.rateHours),
              configJson: configForPrune(config, options.file),
            },
          }
        : {}),
    });
  });
  const sources = plan.sources.map(
    (source) =>
      new SourceAccessStack(app, source.stackName, {
        env: source.env,
        description: `image-promoter: read-only access to ECR in ${source.env.account} for the promotion workers`,
        source,
      }),
  );

  // cfn-lint's schema (and some regions) reject Tags on AWS::CloudWatch::Dashboard.
  Tags.of(app).add('app', 'image-promoter', { excludeResourceTypes: ['AWS::CloudWatch::Dashboard'] });
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { destinations, sources };
}

interface TopicRef extends AccountRegion {
  readonly arn: string;
}

function parseTopicArn(arn: string, file: string): TopicRef {
  const match = /^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):[\w-]{1,256}$/.exec(arn);
  if (!match) throw new ConfigError('alarmTopicArn', `"${arn}" is not an SNS topic ARN`, file);
  return { arn, region: match[1]!, account: match[2]! };
}

function sameAccountRegion(a: AccountRegion, b: AccountRegion): boolean {
  return a.account === b.account && a.region === b.region;
}
