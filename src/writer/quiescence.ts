/**
 * Coalesces bursts of triggers into one run: fires `minWaitMs` after the last
 * trigger, but never later than `maxWaitMs` after the first one, so a steady
 * stream of changes cannot postpone a sync forever. With `minWaitMs = 0` it
 * fires on the next turn of the event loop, draining everything already queued.
 */
export class Quiescence {
  private timer: NodeJS.Timeout | undefined;
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
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.firstAt = undefined;
      this.fire();
    }, wait);
  }

  get pending(): boolean {
    return this.timer !== undefined;
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.firstAt = undefined;
  }
}
