import type { ZkSession } from './session.js';

/** Data re-reads of one session in flight at once, across all its cluster watches. */
export const REWATCH_IN_FLIGHT = 8;
/** The jitter window before a new session's re-reads start is a quarter of the session timeout, at most this. */
export const REWATCH_MAX_JITTER_MS = 2_000;

/**
 * Re-arms lost data watches after a new session, spread and bounded.
 *
 * Why: a new session (after an expiry wave, or a fleet restarting at once)
 * has no watches, and every writer used to re-read the data of every member
 * of every cluster the moment it connected: 1,000 writers x 200 members hit
 * a recovering ensemble as one burst. The cluster watch now lists the folder
 * first (one getChildren per cluster re-arms the children watch and gives the
 * membership at once) and keeps the data it had for members still listed;
 * only those members' data watches wait here. They start after a random
 * delay within the jitter window and run at most REWATCH_IN_FLIGHT at a
 * time, so the fleet's re-reads are spread over the window instead of
 * landing in the same second.
 */
export class RewatchQueue {
  private readonly waiting = new Map<string, () => Promise<void>>();
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  /** the delays drawn so far, newest last (a few, for tests and the bench) */
  readonly delays: number[] = [];

  constructor(
    /** the session's negotiated timeout, read when a delay is drawn */
    private readonly sessionTimeoutMs: () => number,
    private readonly random: () => number = Math.random,
    readonly limit = REWATCH_IN_FLIGHT,
  ) {}

  /** Re-reads waiting or running (for stats and tests). */
  get pending(): number {
    return this.waiting.size + this.inFlight;
  }

  /**
   * Queues `task` under `key` (one entry per key: a member queued twice is
   * read once). The first task queued while idle starts the jitter delay.
   */
  add(key: string, task: () => Promise<void>): void {
    if (this.waiting.has(key)) return;
    this.waiting.set(key, task);
    if (this.timer || this.inFlight > 0) return;
    const jitterMs = Math.min(REWATCH_MAX_JITTER_MS, Math.floor(this.sessionTimeoutMs() / 4));
    const delay = Math.floor(this.random() * jitterMs);
    if (this.delays.push(delay) > 16) this.delays.shift();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, delay);
    this.timer.unref();
  }

  private pump(): void {
    while (this.inFlight < this.limit && this.waiting.size > 0) {
      const [key, task] = this.waiting.entries().next().value as [string, () => Promise<void>];
      this.waiting.delete(key);
      this.inFlight += 1;
      void task()
        .catch(() => undefined)
        .finally(() => {
          this.inFlight -= 1;
          this.pump();
        });
    }
  }
}

const queues = new WeakMap<ZkSession, RewatchQueue>();

/** The queue of a session, shared by all its cluster watches; built on first use. */
export function rewatchQueueOf(session: ZkSession): RewatchQueue {
  let queue = queues.get(session);
  if (!queue) {
    queue = new RewatchQueue(() => {
      try {
        return session.current().negotiatedTimeoutMs();
      } catch {
        return 0; // closed: nothing will run anyway
      }
    });
    queues.set(session, queue);
  }
  return queue;
}
