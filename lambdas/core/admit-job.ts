// Whether the worker may act on a promotion job at all, decided against the worker's own config
// before any registry call. The queue is not a promise: anyone who can send to it (or a webhook bug)
// could ask for a repository outside the allowlist, a source copied over another destination path or
// tag, another account's registry, or a status on someone else's repository. Pure: no I/O, no clock.
// Never admits a job because an earlier check passed: every promotion is checked.
import { findEnvironment, isRepositoryAllowed, type Config, type EnvironmentConfig } from './config';
import { formatImageRef, parseImageRef, type ImageRef } from './image-ref';
import type { PromotionJob } from './job';

/** Why a job was refused: a stable code for logs and alarms, and one line for people. */
export const REJECTION_REASONS = {
  unknownEnvironment: 'unknown-environment',
  foreignGitHubRepository: 'foreign-github-repository',
  sourceRegistry: 'source-registry',
  destinationRegistry: 'destination-registry',
  repositoryNotAllowed: 'repository-not-allowed',
  repositoryRenamed: 'repository-renamed',
  tagRenamed: 'tag-renamed',
  digestChanged: 'digest-changed',
} as const;

export type RejectionReason = (typeof REJECTION_REASONS)[keyof typeof REJECTION_REASONS];

export interface JobRejection {
  readonly reason: RejectionReason;
  /** One line naming what was refused and what the config allows. */
  readonly message: string;
  /** The promotion's source reference, when one promotion is at fault. */
  readonly image?: string;
}

export type JobAdmission =
  | { readonly admitted: true; readonly environment: EnvironmentConfig }
  | {
      readonly admitted: false;
      readonly rejection: JobRejection;
      /** Whether job.repository is the configured GitHub repository: the only one a status may
       * be reported on. */
      readonly reportable: boolean;
    };

/** Checks every promotion of `job` against `config`; the first violation refuses the whole job
 * (a job is one commit's promise for one environment: half of it would be a lie too). */
export function admitPromotionJob(config: Config, job: PromotionJob): JobAdmission {
  // GitHub owner and repository names are case-insensitive.
  const reportable = job.repository.toLowerCase() === config.github.repository.toLowerCase();
  const refuse = (reason: RejectionReason, message: string, image?: string): JobAdmission => ({
    admitted: false,
    reportable,
    rejection: { reason, message, ...(image === undefined ? {} : { image }) },
  });

  if (!reportable) {
    return refuse(
      REJECTION_REASONS.foreignGitHubRepository,
      `job for GitHub repository ${job.repository}, but this worker serves ${config.github.repository}`,
    );
  }
  const environment = findEnvironment(config, job.environment);
  if (environment === undefined) {
    return refuse(
      REJECTION_REASONS.unknownEnvironment,
      `environment "${job.environment}" is not in this worker's configuration (${config.environments
        .map((e) => e.name)
        .join(', ')})`,
    );
  }
  for (const promotion of job.promotions) {
    // The job schema parsed both references already; parsing again yields the same values.
    const source = parseImageRef(promotion.source);
    const destination = parseImageRef(promotion.destination);
    const violation = checkPromotion(environment, source, destination);
    if (violation !== undefined) return refuse(violation.reason, violation.message, promotion.source);
  }
  return { admitted: true, environment };
}

function checkPromotion(
  environment: EnvironmentConfig,
  source: ImageRef,
  destination: ImageRef,
): Omit<JobRejection, 'image'> | undefined {
  const name = environment.name;
  // Registry hosts are case-insensitive (DNS); parseImageRef keeps what was written.
  if (source.registry.toLowerCase() !== environment.source.registry.toLowerCase()) {
    return {
      reason: REJECTION_REASONS.sourceRegistry,
      message: `${formatImageRef(source)} is not in ${name}'s source registry ${environment.source.registry}`,
    };
  }
  if (destination.registry.toLowerCase() !== environment.destination.registry.toLowerCase()) {
    return {
      reason: REJECTION_REASONS.destinationRegistry,
      message:
        `${formatImageRef(destination)} is not in ${name}'s destination registry ` +
        environment.destination.registry,
    };
  }
  if (destination.repository !== source.repository) {
    return {
      reason: REJECTION_REASONS.repositoryRenamed,
      message: `${formatImageRef(source)} would be copied to another repository path (${destination.repository}); a promotion keeps the path`,
    };
  }
  if (!isRepositoryAllowed(environment, source.repository)) {
    return {
      reason: REJECTION_REASONS.repositoryNotAllowed,
      message: `repository ${source.repository} is not in ${name}'s allowlist (${(environment.repositories ?? []).join(', ')})`,
    };
  }
  // A digest-pinned source (`repo:tag@digest`) keeps its tag: the destination names the same one.
  if (destination.tag !== source.tag) {
    return {
      reason: REJECTION_REASONS.tagRenamed,
      message: `${formatImageRef(source)} would be tagged ${destination.tag ?? '(no tag)'} at the destination; a promotion keeps the tag`,
    };
  }
  if (destination.digest !== undefined && destination.digest !== source.digest) {
    return {
      reason: REJECTION_REASONS.digestChanged,
      message: `${formatImageRef(destination)} names another digest than its source ${formatImageRef(source)}`,
    };
  }
  return undefined;
}
