import type { Logger } from '../../lib/logger.js';
import type { ZkSession } from './session.js';

/**
 * Whether a session's cluster watches use persistent recursive watches
 * (ZooKeeper 3.6+ `addWatch`) or the one-shot path, decided by the ensemble.
 *
 * Persistent is assumed until a server answers addWatch with UNIMPLEMENTED
 * (it is older than 3.6; it also closes the connection and the client
 * reconnects). From then on every cluster watch of the session uses one-shot
 * watches, for good: kept per session, not per client, so a new client after
 * an expiry does not probe again, and a mixed ensemble (an old server among
 * new ones) cannot make the session bounce between servers re-trying
 * addWatch. Logged once.
 */
export class WatchMode {
  private unsupportedBy: string | undefined;

  get persistent(): boolean {
    return this.unsupportedBy === undefined;
  }

  /** `server`: the `host:port` that refused addWatch. */
  markUnsupported(server: string, logger: Logger): void {
    if (this.unsupportedBy !== undefined) return;
    this.unsupportedBy = server;
    logger.info(
      { server },
      `ZooKeeper server ${server} does not support persistent watches (addWatch needs 3.6+): this discovery's cluster watches use one-shot watches from now on`,
    );
  }
}

const modes = new WeakMap<ZkSession, WatchMode>();

export function watchModeOf(session: ZkSession): WatchMode {
  let mode = modes.get(session);
  if (!mode) {
    mode = new WatchMode();
    modes.set(session, mode);
  }
  return mode;
}
