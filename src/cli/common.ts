import { stat } from 'node:fs/promises';
import type { Logger } from '../lib/logger.js';
import { LighthouseError } from '../lib/errors.js';
import type { PluginRegistries } from '../plugins/registry.js';
import { loadPluginRegistries } from '../plugins/loader.js';

/** Exits with a one-line message (exit 2: usage) when the config directory is missing. */
export async function assertConfigDir(path: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isDirectory()) {
    process.stderr.write(`lighthouse: ${path}: not a config directory (expected a folder with discovery/, clusters/, ...)\n`);
    process.exit(2);
  }
}

/**
 * Built-in plugins plus the third-party packages of `plugins.yaml` and
 * `--plugin` (see src/plugins/loader.ts). A plugin that cannot be loaded
 * stops the daemon at start with one line naming the package (exit 1):
 * running without it would leave every file that uses it rejected.
 */
export async function loadRegistries(configDir: string, extraPlugins: readonly string[], logger: Logger): Promise<PluginRegistries> {
  try {
    return (await loadPluginRegistries({ configDir, extra: extraPlugins, logger })).registries;
  } catch (error) {
    if (!(error instanceof LighthouseError)) throw error;
    logger.fatal({ code: error.code, err: error }, error.message);
    process.stderr.write(`lighthouse: ${error.code}: ${error.message}\n`);
    process.exit(1);
  }
}
