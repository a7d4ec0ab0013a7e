/**
 * Holds the writer's first sync until every watched cluster has reported its
 * members once, so HAProxy starts with complete backends: a backend missing
 * at start gets its servers as runtime commands afterwards (1,000 clusters of
 * 10: ~10,000 commands, seconds of them).
 *
 * It gives up when no cluster has reported for `stallMs` (a discovery that is
 * down, a cluster that never answers), or at the latest `maxMs` after
 * `begin()`. The stall window is counted from `watching()` (watches set up)
 * and restarts with every cluster that reports: reading a big config
 * directory, or a loaded machine reading 1,000 clusters one after another,
 * is progress, not a discovery that is down. A fixed 2 s from the process
 * start gave up half-way through a 10,000-server start on a loaded machine.
 */
export class StartupGate {
  private timer: NodeJS.Timeout | undefined;
  private deadline = 0;
  private reported = -1;
  private opened = false;
  private stalling = false;

  constructor(
    private readonly stallMs: number,
    private readonly maxMs: number,
    /** the gate gave up waiting (not every cluster reported) */
    private readonly onGiveUp: () => void,
  ) {}

  get open(): boolean {
    return this.opened;
  }

  /** Starts the overall deadline (the writer starts). */
  begin(): void {
    this.deadline = Date.now() + this.maxMs;
    this.arm(this.maxMs);
  }

  /** The watches are set up: from now on the stall window applies. */
  watching(): void {
    this.stalling = true;
    if (!this.opened) this.arm(this.stallMs);
  }

  /** `reported` clusters have reported at least once; a new one restarts the stall window. */
  progress(reported: number): void {
    if (this.opened || reported <= this.reported) return;
    this.reported = reported;
    if (this.stalling && this.timer) this.arm(this.stallMs);
  }

  /** Every cluster reported: no more waiting. */
  complete(): void {
    this.opened = true;
    this.cancel();
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        if (this.opened) return;
        this.opened = true;
        this.onGiveUp();
      },
      Math.max(0, Math.min(ms, this.deadline - Date.now())),
    );
  }
}
