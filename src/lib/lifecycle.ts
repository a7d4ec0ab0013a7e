import { errorMessage } from './errors.js';
import type { Logger } from './logger.js';

export interface Daemon {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs a daemon in the foreground until SIGTERM/SIGINT, then stops it
 * cleanly and exits 0. A second signal exits at once, for the impatient
 * operator whose stop is stuck. A start that fails (a metrics port taken)
 * stops what it had started and exits 1.
 */
export async function runUntilSignalled(daemon: Daemon, logger: Logger, stopDeadlineMs = 15_000): Promise<void> {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    const deadline = setTimeout(() => {
      logger.error('clean stop took too long: exiting');
      process.exit(1);
    }, stopDeadlineMs);
    deadline.unref();
    daemon.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('uncaughtException', (error) => logger.fatal({ err: error }, 'uncaught exception (the daemon keeps running)'));
  process.on('unhandledRejection', (error) => logger.error({ err: error }, 'unhandled promise rejection (the daemon keeps running)'));
  try {
    await daemon.start();
  } catch (error) {
    // Without this the error reached the uncaughtException handler above
    // ("the daemon keeps running"), and the process, with nothing left to
    // do, exited 0: a supervisor restarting on failure saw a clean stop.
    logger.fatal({ err: error }, `could not start: ${errorMessage(error)}; exiting`);
    const deadline = setTimeout(() => process.exit(1), stopDeadlineMs);
    deadline.unref();
    await daemon.stop().catch((stopError: unknown) => logger.error({ err: stopError }, 'stop after the failed start failed'));
    process.exit(1);
  }
}
