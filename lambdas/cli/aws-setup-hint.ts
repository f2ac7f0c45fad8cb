// What to set when the AWS SDK finds no credentials or no region: the SDK's own errors
// ("Could not load credentials from any providers", "Region is missing") name no variable. The CLI
// prints this line instead (main.ts); looked up along the `cause` chain, since adapters wrap SDK
// errors in AwsServiceError. Text only: no SDK import (--help must not load the SDK).

/** docs.aws.amazon.com/sdkref/latest/guide/feature-static-credentials.html, .../feature-region.html */
const CREDENTIALS_HINT =
  'no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for ' +
  'temporary ones), or AWS_PROFILE to a profile in ~/.aws/config (aws configure, aws sso login), or run ' +
  'with an instance or task role';
const REGION_HINT =
  'no AWS region: set AWS_REGION (e.g. us-east-1), or AWS_PROFILE to a profile with a region';

/** The hint for an AWS set-up problem anywhere in `error`'s cause chain, else undefined. */
export function describeAwsSetupProblem(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  for (let e: unknown = error; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    if (/Could not load credentials from any providers/.test(e.message)) return CREDENTIALS_HINT;
    // A named profile missing or broken: the SDK's message says which.
    if (e.name === 'CredentialsProviderError') return `${CREDENTIALS_HINT} (${e.message.split('\n')[0]})`;
    // Unset, or set to the empty string.
    if (/^Region is missing|^Region not accepted: region="" /.test(e.message)) return REGION_HINT;
  }
  return undefined;
}
