// Placeholder: the webhook Lambda handler (issue 4) replaces this file.
import type { APIGatewayProxyResultV2, LambdaFunctionURLEvent } from 'aws-lambda';

export const handler = async (_event: LambdaFunctionURLEvent): Promise<APIGatewayProxyResultV2> => ({
  statusCode: 501,
  body: 'not implemented',
});
