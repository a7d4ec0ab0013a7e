import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireDirLock, type DirLock } from '../lib/dir-lock.js';
import type { Logger } from '../lib/logger.js';
import { LighthouseError } from '../lib/errors.js';
import type { PluginRegistries } from '../plugins/registry.js';
import { loadPluginRegistries } from '../daemon/plugin-loader.js';
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
 * `--plugin` (see src/daemon/plugin-loader.ts). A plugin that cannot be loaded
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

/** The lock file of a daemon in its state folder (also read by `lighthouse status`, to tell whether the daemon runs). */
export function daemonLockPath(stateDir: string, role: 'writer' | 'reporter'): string {
  return join(stateDir, `${role}.lock`);
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
  return (await lockOrExit(daemonLockPath(stateDir, role), role, logger, `another ${role} runs on ${configDir} (${CONFLICT[role]}); stop it first`, 'or give --state-dir a writable folder'))!;
}

/**
 * Two writers with different `--state-dir`s (or config dirs) on one HAProxy
 * pass each other's state-folder locks, and would still fight over its files
 * and ports: the writer also locks each HAProxy `config_file` it drives, as
 * the config dir names them at start (`<config_file>.lock`, in a folder the
 * writer must be able to write anyway).
 */
export async function lockHaproxyFiles(configFiles: readonly string[], logger: Logger): Promise<void> {
  for (const file of configFiles) {
    // A full or read-only folder must not keep the writer from driving HAProxy through its runtime API, as it would without this lock.
    await lockOrExit(`${file}.lock`, 'writer', logger, `another writer drives the HAProxy of ${file} (two writers would fight over its files and ports); stop it first`, undefined);
  }
}

/** `unwritableHint` undefined: a lock file that cannot be written is a warning, not a reason to stop. */
async function lockOrExit(path: string, role: string, logger: Logger, heldHint: string, unwritableHint: string | undefined): Promise<DirLock | undefined> {
  let lock: DirLock;
  try {
    lock = await acquireDirLock(path, { role, logger });
  } catch (error) {
    if (!(error instanceof LighthouseError)) throw error;
    if (error.cause !== undefined && unwritableHint === undefined) {
      logger.warn({ code: error.code, err: error.cause instanceof Error ? error.cause : error }, `${error.message}; running without it (a second writer on this HAProxy would not be detected)`);
      return undefined;
    }
    const message = error.cause === undefined ? `${error.message}: ${heldHint}` : `${error.message}; ${unwritableHint}`;
    logger.fatal({ code: error.code, err: error.cause instanceof Error ? error.cause : error }, message);
    throw new CliExit(1, `lighthouse: ${error.code}: ${message}\n`);
  }
  process.once('exit', () => lock.releaseSync());
  return lock;
}
