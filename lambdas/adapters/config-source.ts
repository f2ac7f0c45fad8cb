// Where the running code finds its configuration: a file (CLI `--config FILE`) or the
// IMAGE_PROMOTER_CONFIG environment variable holding the YAML/JSON text (how the CDK app hands the
// same `image-promoter.yaml` to both Lambdas). Reads only; validation is core/config.ts.
import { readFile } from 'node:fs/promises';
import { parseConfig, type Config } from '../core/config';
import { ENV } from '../core/contract';
import {
  createEnvironmentReader,
  missingEnvironmentError,
  type EnvironmentRecord,
} from '../core/environment';
import { ConfigError } from '../core/errors';

export async function loadConfigFile(path: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e: unknown) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(
      '',
      code === 'ENOENT' ? 'file not found' : `cannot read (${code ?? 'error'})`,
      path,
    );
  }
  return parseConfig(text, path);
}

/** The config from IMAGE_PROMOTER_CONFIG (text) or IMAGE_PROMOTER_CONFIG_FILE (path). */
export async function loadConfigFromEnvironment(env: EnvironmentRecord = process.env): Promise<Config> {
  const read = createEnvironmentReader(env);
  const text = read.optional(ENV.config);
  if (text !== undefined && text.trim() !== '') return parseConfig(text, `$${ENV.config}`);
  const file = read.optional(ENV.configFile);
  if (file !== undefined) return loadConfigFile(file);
  throw missingEnvironmentError([ENV.config, ENV.configFile], 'config text, or its path');
}
