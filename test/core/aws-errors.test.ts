// The one AWS SDK error classifier (core/errors.ts classifyAwsError / toAwsServiceError) on the
// SDK's own exception classes, as each service's client throws them, plus what a network failure
// and our own errors look like. Each adapter's test checks the same rules against moto.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ProvisionedThroughputExceededException,
  ConditionalCheckFailedException,
  InternalServerError,
} from '@aws-sdk/client-dynamodb';
import { RepositoryNotFoundException, ServerException } from '@aws-sdk/client-ecr';
import {
  DecryptionFailure,
  InternalServiceError,
  ResourceNotFoundException,
} from '@aws-sdk/client-secrets-manager';
import { OverLimit, QueueDoesNotExist, RequestThrottled } from '@aws-sdk/client-sqs';
import { ExpiredTokenException, IDPCommunicationErrorException } from '@aws-sdk/client-sts';
import {
  AwsServiceError,
  classifyAwsError,
  toAwsServiceError,
  type AwsErrorKind,
} from '../../lambdas/core/errors';

const metadata = (httpStatusCode: number): { $metadata: { httpStatusCode: number } } => ({
  $metadata: { httpStatusCode },
});

/** An error as the SDK's default error parser builds it for a code the model does not know. */
function unmodeled(name: string, fault: 'client' | 'server', status: number): Error {
  return Object.assign(new Error(`${name} message`), { name, $fault: fault, ...metadata(status) });
}

const cases: readonly { name: string; error: unknown; kind: AwsErrorKind; code: string }[] = [
  {
    name: 'DynamoDB throughput exceeded',
    error: new ProvisionedThroughputExceededException({ message: 'slow down', ...metadata(400) }),
    kind: 'throttled',
    code: 'ProvisionedThroughputExceededException',
  },
  {
    name: 'SQS RequestThrottled',
    error: new RequestThrottled({ message: 'throttled', ...metadata(400) }),
    kind: 'throttled',
    code: 'RequestThrottled',
  },
  {
    name: 'SQS OverLimit',
    error: new OverLimit({ message: 'too many in flight', ...metadata(403) }),
    kind: 'throttled',
    code: 'OverLimit',
  },
  {
    name: 'STS Throttling (unmodeled)',
    error: unmodeled('Throttling', 'client', 400),
    kind: 'throttled',
    code: 'Throttling',
  },
  {
    name: 'any 429',
    error: unmodeled('SomethingElse', 'client', 429),
    kind: 'throttled',
    code: 'SomethingElse',
  },
  {
    name: 'ECR ServerException',
    error: new ServerException({ message: 'oops', ...metadata(500) }),
    kind: 'retryable',
    code: 'ServerException',
  },
  {
    name: 'DynamoDB InternalServerError',
    error: new InternalServerError({ message: 'oops', ...metadata(500) }),
    kind: 'retryable',
    code: 'InternalServerError',
  },
  {
    name: 'Secrets Manager InternalServiceError',
    error: new InternalServiceError({ message: 'oops', ...metadata(500) }),
    kind: 'retryable',
    code: 'InternalServiceError',
  },
  {
    name: 'STS IDPCommunicationError (a client fault that passes)',
    error: new IDPCommunicationErrorException({ message: 'idp down', ...metadata(400) }),
    kind: 'retryable',
    code: 'IDPCommunicationErrorException',
  },
  {
    name: 'a network error (no HTTP status)',
    error: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), {
      name: 'Error',
      code: 'ECONNREFUSED',
    }),
    kind: 'retryable',
    code: 'Error',
  },
  { name: 'something thrown that is not an Error', error: 'boom', kind: 'retryable', code: 'Error' },
  {
    name: 'AccessDenied',
    error: unmodeled('AccessDeniedException', 'client', 400),
    kind: 'permanent',
    code: 'AccessDeniedException',
  },
  {
    name: 'ECR RepositoryNotFound',
    error: new RepositoryNotFoundException({ message: 'no such repository', ...metadata(400) }),
    kind: 'permanent',
    code: 'RepositoryNotFoundException',
  },
  {
    name: 'SQS QueueDoesNotExist',
    error: new QueueDoesNotExist({ message: 'no queue', ...metadata(400) }),
    kind: 'permanent',
    code: 'QueueDoesNotExist',
  },
  {
    name: 'Secrets Manager ResourceNotFound',
    error: new ResourceNotFoundException({ message: 'no secret', ...metadata(400) }),
    kind: 'permanent',
    code: 'ResourceNotFoundException',
  },
  {
    name: 'Secrets Manager DecryptionFailure',
    error: new DecryptionFailure({ message: 'kms', ...metadata(400) }),
    kind: 'permanent',
    code: 'DecryptionFailure',
  },
  {
    name: 'STS ExpiredToken',
    error: new ExpiredTokenException({ message: 'expired', ...metadata(400) }),
    kind: 'permanent',
    code: 'ExpiredTokenException',
  },
  {
    name: 'DynamoDB ConditionalCheckFailed',
    error: new ConditionalCheckFailedException({ message: 'condition', ...metadata(400) }),
    kind: 'permanent',
    code: 'ConditionalCheckFailedException',
  },
];

describe('AWS SDK error classifier', () => {
  for (const c of cases) {
    it(`${c.name} -> ${c.kind}`, () => {
      // Act
      const failure = classifyAwsError(c.error);
      const error = toAwsServiceError(c.error, 'svc', 'Svc DoThing on x', 'check the thing');
      // Assess
      assert.equal(failure.kind, c.kind);
      assert.equal(failure.code, c.code);
      assert.equal(error.kind, c.kind);
      assert.equal(error.retryable, c.kind !== 'permanent');
      assert.equal(error.code, `AWS_${c.code.toUpperCase()}`);
      assert.ok(error.message.startsWith(`Svc DoThing on x failed (${c.code}: `), error.message);
      assert.ok(
        error.message.endsWith(
          c.kind === 'permanent'
            ? '; check the thing'
            : c.kind === 'throttled'
              ? '; throttled, try again later'
              : '; try again later',
        ),
        error.message,
      );
      assert.ok(!error.message.includes('\n'));
    });
  }

  it('passes an AwsServiceError through unchanged', () => {
    const original = new AwsServiceError('STS AssumeRole returned no credentials', 'sts', true);
    assert.equal(toAwsServiceError(original, 'sts', 'STS AssumeRole'), original);
  });
});
