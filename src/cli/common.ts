import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireDirLock, type DirLock } from '../lib/dir-lock.js';
import type { Logger } from '../lib/logger.js';
import { LighthouseError } from '../lib/errors.js';
import type { PluginRegistries } from '../plugins/registry.js';
import { loadPluginRegistries } from '../plugins/loader.js';
import { buildInfo } from '../lib/version.js';
import { CliExit, fail } from './output.js';

/**
 * The first line a daemon logs, before anything can fail: which version
 * (and Node.js) runs is the first question about any log an operator is sent.
 */
export function logStartup(logger: Logger, daemon: 'writer' | 'reporter', configDir: string): void {
  const { name, version } = buildInfo();
  logger.info({ package: name, version, node: process.version, pid: process.pid, configDir }, `${name} ${version} ${daemon} (Node.js ${process.version}, PID ${process.pid}) on ${configDir}`);
}

/** Ends the command with a one-line message (exit 2: usage) when the config directory is missing. */
export async function assertConfigDir(path: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isDirectory()) fail(`${path}: not a config directory (expected a folder with discovery/, clusters/, ...)`, 2);
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
    // The message already ends with the cause's message, and pino's error serializer appends the causes' messages
    // again ("boom at import: boom at import"): log the cause (the plugin's own error and stack) under the full message.
    logger.fatal({ code: error.code, err: error.cause instanceof Error ? error.cause : error }, error.message);
    throw new CliExit(1, `lighthouse: ${error.code}: ${error.message}\n`);
  }
}

/** Where a daemon keeps what outlives it (the writer's member cache, both daemons' lock): `--state-dir`, else CONFIG_DIR/.state. */
export function stateDirOf(configDir: string, stateDir: string | undefined): string {
  return stateDir ?? join(configDir, '.state');
}

const CONFLICT: Record<'writer' | 'reporter', string> = {
  writer: 'two writers would fight over the same HAProxy files and ports',
  reporter: 'two reporters would register the same nodes and remove each other\'s registrations',
};

/**
 * One writer and one reporter per config directory: a second one refuses to
 * start (exit 1), naming the PID of the first. The lock of a process that
 * died is taken over; a clean exit (any process.exit) removes it.
 */
export async function lockDaemon(role: 'writer' | 'reporter', configDir: string, stateDir: string, logger: Logger): Promise<DirLock> {
  let lock: DirLock;
  try {
    lock = await acquireDirLock(join(stateDir, `${role}.lock`), { role, logger });
  } catch (error) {
    if (!(error instanceof LighthouseError)) throw error;
    const message = error.cause === undefined ? `${error.message}: another ${role} runs on ${configDir} (${CONFLICT[role]}); stop it first` : `${error.message}; or give --state-dir a writable folder`;
    logger.fatal({ code: error.code, err: error.cause instanceof Error ? error.cause : error }, message);
    throw new CliExit(1, `lighthouse: ${error.code}: ${message}\n`);
  }
  process.once('exit', () => lock.releaseSync());
  return lock;
}
