/** The widest window a reconnect waits in, however long the ensemble has been away. */
export const RECONNECT_MAX_WINDOW_MS = 2_000;

/**
 * When the next connection attempt may start, while no server answers.
 *
 * Why: a client tries each server of the list once, then waits. The
 * library waits a random 0..spinDelay after every round, forever, so
 * during a whole-ensemble outage every writer of a fleet knocks on each
 * server three times per quarter second: servers that are starting (up, but
 * not yet in a quorum) accept each of those connections and close it again,
 * and when the quorum forms the whole fleet lands on it within half a
 * second. Here the window doubles with every round that failed (starting
 * at `baseMs`, the first round behaves as before) up to
 * RECONNECT_MAX_WINDOW_MS, or a third of the session timeout when that is
 * shorter, so a session outlives the wait. After a long outage the fleet's
 * reconnects are spread over the whole window instead, and a recovering
 * ensemble sees a quarter of the connection attempts. The first attempt after
 * a connection is lost, and the rest of a round, go at once: a single server
 * going away is not an outage.
 */
export class ReconnectPacing {
  private attempts = 0;

  constructor(
    private readonly baseMs: number,
    /** read when a window is computed: the negotiated timeout can change */
    private readonly sessionTimeoutMs: () => number,
    private readonly random: () => number = Math.random,
    private readonly maxWindowMs = RECONNECT_MAX_WINDOW_MS,
  ) {}

  /** The delay before the next attempt, given how many servers the list holds; counts the attempt. */
  nextDelay(servers: number): number {
    const attempt = this.attempts;
    this.attempts += 1;
    if (servers <= 0 || attempt === 0 || attempt % servers !== 0) return 0;
    return Math.floor(this.random() * this.window(attempt / servers));
  }

  /** A connection was established: the next loss starts from the first round again. */
  connected(): void {
    this.attempts = 0;
  }

  /** The window of failed round `round` (1: the first round over every server failed); never below `baseMs`. */
  window(round: number): number {
    const cap = Math.min(this.maxWindowMs, Math.max(this.baseMs, Math.floor(this.sessionTimeoutMs() / 3)));
    return Math.min(cap, this.baseMs * 2 ** Math.min(round - 1, 30));
  }
}
