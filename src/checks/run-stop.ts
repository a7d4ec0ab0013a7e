/**
 * What the exchanges need of a run's stop signal. An AbortSignal is one; so
 * is RunStop, which the check loop reuses for every run of the built-in
 * checks instead of an AbortController per run.
 */
export interface StopSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/**
 * A reusable abort signal for runs that never overlap (one check loop's).
 * At 1,000 checks a second an AbortController per run, with its
 * EventTarget listener records, was ~5 % of the reporter's busy CPU and a
 * leading source of objects that outlived a scavenge (docs/benchmarks.md).
 * Listeners are called once, on the first `abort`, like `{ once: true }`.
 */
export class RunStop implements StopSignal {
  aborted = false;
  reason: unknown = undefined;
  private readonly listeners: (() => void)[] = [];

  addEventListener(_type: 'abort', listener: () => void): void {
    this.listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const index = this.listeners.indexOf(listener);
    if (index !== -1) this.listeners.splice(index, 1);
  }

  abort(reason: Error): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners.splice(0);
    for (const listener of listeners) listener();
  }

  /** Ready for the next run: only once the previous run has settled (it can no longer listen). */
  reset(): void {
    this.aborted = false;
    this.reason = undefined;
    this.listeners.length = 0;
  }
}
