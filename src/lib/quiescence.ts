/**
 * Coalesces bursts of triggers into one run: fires `minWaitMs` after the last
 * trigger, but never later than `maxWaitMs` after the first one, so a steady
 * stream of changes cannot postpone a sync forever. With `minWaitMs = 0` it
 * fires on the next turn of the event loop (setImmediate: after the I/O
 * already queued, so a burst still coalesces, and without setTimeout's 1 ms
 * minimum, which is on the path of every membership change).
 * One type for every "wait until changes pause" in the daemons: the writer's
 * syncs and the background writes of HAProxy's config file.
 */
export class Quiescence {
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private firstAt: number | undefined;

  constructor(
    private readonly fire: () => void,
    private readonly minWaitMs = 0,
    private readonly maxWaitMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  trigger(): void {
    const now = this.now();
    this.firstAt ??= now;
    const wait = Math.max(0, Math.min(this.minWaitMs, this.firstAt + this.maxWaitMs - now));
    if (wait === 0) {
      // Already due: one run on the next turn, however many triggers arrive before it.
      if (this.immediate) return;
      clearTimeout(this.timer);
      this.timer = undefined;
      this.immediate = setImmediate(() => this.run());
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), wait);
  }

  get pending(): boolean {
    return this.timer !== undefined || this.immediate !== undefined;
  }

  /** Fires now if a run is pending (someone needs its result without the coalescing delay). */
  flush(): void {
    if (this.pending) this.run();
  }

  cancel(): void {
    clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    this.firstAt = undefined;
  }

  private run(): void {
    clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    this.firstAt = undefined;
    this.fire();
  }
}
