// Powertools Logger and Metrics for CLI commands that run the worker's code in-process (`verify
// --fix`): the same JSON log lines (audit lines included) and EMF documents the worker writes, sent
// to a stream of the command's choosing (stderr) so its own output (a table, --json) stays clean.
// Uses only the libraries' extension points (Logger.printLog/createLogger, Metrics.serializeMetrics).
import { Logger, type LogItem } from '@aws-lambda-powertools/logger';
import type { ConstructorOptions } from '@aws-lambda-powertools/logger/types';
import { Metrics } from '@aws-lambda-powertools/metrics';

export class StreamLogger extends Logger {
  constructor(
    private readonly stream: NodeJS.WritableStream,
    options: ConstructorOptions = {},
  ) {
    super(options);
  }

  protected override printLog(_logLevel: number, log: LogItem): void {
    this.stream.write(`${JSON.stringify(log.getAttributes())}\n`);
  }

  protected override createLogger(options?: ConstructorOptions): Logger {
    return new StreamLogger(this.stream, options);
  }
}

export class StreamMetrics extends Metrics {
  constructor(
    private readonly stream: NodeJS.WritableStream,
    options: { readonly namespace: string; readonly serviceName?: string },
  ) {
    super({
      namespace: options.namespace,
      ...(options.serviceName === undefined ? {} : { serviceName: options.serviceName }),
    });
  }

  override publishStoredMetrics(): this {
    if (this.hasStoredMetrics()) this.stream.write(`${JSON.stringify(this.serializeMetrics())}\n`);
    this.clearMetrics();
    this.clearDimensions();
    this.clearMetadata();
    return this;
  }
}
