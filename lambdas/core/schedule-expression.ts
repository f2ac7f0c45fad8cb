// The EventBridge schedule expression of a rate, written as the CDK app's rules synthesize it
// (aws-cdk-lib Schedule.rate: the largest whole unit), so the local stack's rule in moto carries the
// very expression a deployed rule has. Pure: no clock, no I/O.

/**
 * `rate(value unit)` for a period of whole minutes. EventBridge "Rate expressions reference"
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html): the value is
 * a positive number; the unit is minute | minutes | hour | hours | day | days, singular when the
 * value is 1 and plural otherwise ("rate(1 hours) and rate(5 hour) aren't valid").
 */
export function rateExpression(minutes: number): string {
  if (!Number.isInteger(minutes) || minutes < 1)
    throw new RangeError(`a schedule rate is a whole number of minutes, at least 1 (got ${minutes})`);
  const [value, unit] =
    minutes % 1440 === 0
      ? [minutes / 1440, 'day']
      : minutes % 60 === 0
        ? [minutes / 60, 'hour']
        : [minutes, 'minute'];
  return `rate(${value} ${unit}${value === 1 ? '' : 's'})`;
}
