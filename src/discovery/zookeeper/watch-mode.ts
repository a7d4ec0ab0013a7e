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
 *
 * Connections lost with an addWatch unanswered (the safety net below) are
 * only a guess that the server is old: a flaky network does the same. A
 * fallback for that reason lasts until the next new session, which tries
 * persistent watches again (its cluster watches list and watch everything
 * afresh anyway), so a 3.6+ ensemble does not keep a writer on the dearer
 * one-shot path for the rest of its life.
 */
export class WatchMode {
  private unsupportedBy: string | undefined;
  /** the fallback came from lost connections, not from a server's answer */
  private guessed = false;
  /** connections (ids) lost while an addWatch was unanswered, since the last addWatch that succeeded */
  private readonly lostWith = new Set<number>();

  get persistent(): boolean {
    return this.unsupportedBy === undefined;
  }

  /** An addWatch succeeded: the losses so far were the network's, not a refusal. */
  confirmed(): void {
    this.lostWith.clear();
  }

  /** The connection `connectionId` to `server` was lost with an addWatch unanswered (counted once per connection). */
  lostDuringAddWatch(connectionId: number, server: string, logger: Logger): void {
    if (this.unsupportedBy !== undefined) return;
    this.lostWith.add(connectionId);
    if (this.lostWith.size >= MAX_LOSSES_WITH_ADD_WATCH) {
      this.markUnsupported(`${server} (${this.lostWith.size} connections lost with an addWatch unanswered)`, logger);
      this.guessed = true;
    }
  }

  /** A new session is starting its watches: a fallback that was only guessed is tried again (each cluster watch calls this; once is enough). */
  newSession(logger: Logger): void {
    if (!this.guessed) return;
    logger.info({ server: this.unsupportedBy }, `new ZooKeeper session: trying persistent watches again (the one-shot fallback came from connections lost with an addWatch unanswered, not from a server's refusal)`);
    this.guessed = false;
    this.unsupportedBy = undefined;
    this.lostWith.clear();
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

/**
 * Connections lost in a row with an addWatch unanswered before the session
 * stops sending it. An old server answers UNIMPLEMENTED and then closes the
 * connection; should the close win over the answer, all the client would
 * see is the loss, again on every reconnect. After this many, the one-shot
 * path is taken: it works on every server, only costs more reads.
 */
export const MAX_LOSSES_WITH_ADD_WATCH = 3;

const modes = new WeakMap<ZkSession, WatchMode>();

export function watchModeOf(session: ZkSession): WatchMode {
  let mode = modes.get(session);
  if (!mode) {
    mode = new WatchMode();
    modes.set(session, mode);
  }
  return mode;
}
