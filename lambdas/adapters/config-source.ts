// Where the running code finds its configuration: a file (CLI `--config FILE`) or the
// IMAGE_PROMOTER_CONFIG environment variable holding the YAML/JSON text (how the CDK app hands the
// same `image-promoter.yaml` to both Lambdas). Reads only; validation is core/config.ts.
import { readFile } from 'node:fs/promises';
import { parseConfig, type Config } from '../core/config';
import { ConfigError } from '../core/errors';

export const CONFIG_ENV = 'IMAGE_PROMOTER_CONFIG';
export const CONFIG_FILE_ENV = 'IMAGE_PROMOTER_CONFIG_FILE';

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
export async function loadConfigFromEnvironment(env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  const text = env[CONFIG_ENV];
  if (text !== undefined && text.trim() !== '') return parseConfig(text, `$${CONFIG_ENV}`);
  const file = env[CONFIG_FILE_ENV];
  if (file !== undefined && file !== '') return loadConfigFile(file);
  throw new ConfigError('', `set ${CONFIG_ENV} (config text) or ${CONFIG_FILE_ENV} (path)`, 'environment');
}
