// The environment each function gets, built from the contract (lambdas/core/contract.ts): the
// variables FUNCTION_ENVIRONMENTS says the function's code reads, no more and no fewer (the type
// of `values` demands the function's own, the shared ones are filled in here). Never put secrets
// here (secrets travel as Secrets Manager ARNs).
import {
  ENV,
  FUNCTION_ENVIRONMENTS,
  METRICS_NAMESPACE,
  SERVICE_NAME,
  type EnvironmentVariable,
  type FunctionName,
} from '../../lambdas/core/contract';
import { NODE_OPTIONS } from './lambda-bundling';

/** Variables whose value is the same for every function that reads them. */
type SharedVariable =
  typeof ENV.config | typeof ENV.serviceName | typeof ENV.metricsNamespace | typeof ENV.nodeOptions;
type Deployed<F extends FunctionName> = (typeof FUNCTION_ENVIRONMENTS)[F]['deployed'][number];
type Conditional<F extends FunctionName> = (typeof FUNCTION_ENVIRONMENTS)[F]['conditional'][number];

/** The function's own values: every deployed variable that is not shared, and any conditional one. */
export type FunctionEnvironmentValues<F extends FunctionName> = Readonly<
  Record<Exclude<Deployed<F>, SharedVariable>, string> & Partial<Record<Conditional<F>, string>>
>;

export function createFunctionEnvironment<F extends FunctionName>(
  fn: F,
  configJson: string,
  values: FunctionEnvironmentValues<F>,
): Record<string, string> {
  const shared: Readonly<Record<SharedVariable, string>> = {
    [ENV.config]: configJson,
    [ENV.serviceName]: SERVICE_NAME,
    [ENV.metricsNamespace]: METRICS_NAMESPACE,
    [ENV.nodeOptions]: NODE_OPTIONS,
  };
  const deployed: readonly EnvironmentVariable[] = FUNCTION_ENVIRONMENTS[fn].deployed;
  const environment: Record<string, string> = {};
  for (const [name, value] of Object.entries(shared)) {
    if (deployed.includes(name as EnvironmentVariable)) environment[name] = value;
  }
  for (const [name, value] of Object.entries(values)) {
    if (typeof value === 'string') environment[name] = value;
  }
  return environment;
}
