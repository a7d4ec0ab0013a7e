import type { CheckSpec } from '../config/model.js';
import type { Check, CheckOutcome } from '../checks/types.js';
import type { RiseFallState } from '../checks/rise-fall.js';
import type { CheckResult } from './runner-status.js';
import { thrownOutcome, validOutcome } from './check-outcome.js';

export interface CheckLoopHooks {
  /** the service's current check interval */
  intervalMs(): number;
  /** results count only while the service runs */
  active(): boolean;
  /** wall clock for result timestamps */
  now(): number;
  /** one finished run (not called for a run that ended after retire()) */
  onResult(result: CheckResult): void;
}

class CheckTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms`);
    this.name = 'CheckTimeoutError';
  }
}

/**
 * One check on one port, run on its own timer, aborted at its timeout, so a
 * hung port or check never delays another; a run never overlaps the previous
 * run of the same check. Port health (port-health.ts) keeps what the results mean (rise/fall
 * state, `last`) on the loop and decides what a port is.
 */
export class CheckLoop {
  state: RiseFallState;
  last: CheckResult | null;
  /** the failure episode the runner has logged (see PortHealth.logResult); null while passing */
  failureLog: { detail: string; loggedAt: number; suppressed: number } | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private controller: AbortController | undefined;
  /** a run that has not settled, even after its abort: the next run waits for it */
  private inFlight: Promise<unknown> | undefined;
  private lastStart = Number.NEGATIVE_INFINITY;
  private retired = false;
  /** run() is awaiting this loop's current run */
  private busy = false;
  /** the interval ticked while busy: run again as soon as the current run ends */
  private overdue = false;
  /** ends the current run at once (timeout or retire), with this outcome */
  private cut: ((outcome: CheckOutcome) => void) | undefined;

  constructor(
    public spec: CheckSpec,
    /** what makes a new Check instance necessary when it changes (rise/fall do not) */
    readonly identity: string,
    readonly check: Check,
    state: RiseFallState,
    last: CheckResult | null,
    private readonly hooks: CheckLoopHooks,
  ) {
    this.state = state;
    this.last = last;
  }

  /** a run has not settled yet */
  get running(): boolean {
    return this.inFlight !== undefined;
  }

  /** First run now. */
  start(): void {
    this.schedule(0);
  }

  /** The interval changed: the next run comes one new interval after the last start. */
  intervalChanged(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.schedule(Math.max(0, this.lastStart + this.hooks.intervalMs() - performance.now()));
  }

  /** Stops for good: no more runs, the current one is aborted with `why`, the check's resources are released. */
  retire(why: string): void {
    this.retired = true;
    // clearInterval clears either kind: the first run's timeout or the interval after it.
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.controller?.abort(new Error(why));
    this.cut?.({ passed: false, detail: why });
    this.check.close?.();
  }

  /**
   * First run after `delayMs`, then one every interval from each start, on
   * one interval timer for the loop's life. A timer per run lived an interval,
   * long enough to be promoted out of V8's young generation: at 1,000
   * checks/s old space filled with ~100 MB of dead timers between
   * collections (reporter RSS ~200 MB for a live heap of ~20 MB). A tick
   * during a run that outlasts the interval starts the next run as soon as
   * that one ends, as a timer set after each run did.
   */
  private schedule(delayMs: number): void {
    const tick = (): void => {
      if (this.busy) this.overdue = true;
      else void this.run();
    };
    this.timer = setTimeout(() => {
      this.timer = setInterval(tick, this.hooks.intervalMs());
      tick();
    }, delayMs);
  }

  private async run(): Promise<void> {
    if (this.retired || !this.hooks.active()) return;
    this.busy = true;
    try {
      await this.runOnce();
    } finally {
      this.busy = false;
    }
    if (this.overdue) {
      this.overdue = false;
      // On the next turn: an aborted run's own promise settles in the microtasks after this one.
      setImmediate(() => void this.run());
    }
  }

  private async runOnce(): Promise<void> {
    const started = performance.now();
    this.lastStart = started;
    // Details say what happened, not where: the log lines and `status` that show them name the service, port and check.
    let outcome: CheckOutcome;
    let timedOut = false;
    if (this.inFlight) {
      // The previous run ignored its abort: starting another would pile up
      // sockets on a service that is already in trouble, so this run fails.
      outcome = { passed: false, detail: 'previous run still has not finished (the check ignores its timeout)' };
    } else {
      const controller = new AbortController();
      this.controller = controller;
      const timeoutMs = this.spec.timeoutMs;
      let run: Promise<unknown>;
      try {
        run = Promise.resolve(this.check.run(controller.signal));
      } catch (error) {
        run = Promise.reject(error);
      }
      this.inFlight = run;
      const kind = this.spec.kind;
      // The run's outcome, or the timeout's (or retire's) as soon as it
      // comes: the timer and retire() end the wait themselves, so a run
      // costs no abort listener of the loop's own.
      outcome = await new Promise<CheckOutcome>((resolve) => {
        const timer = setTimeout(() => {
          timedOut = true;
          const reason = new CheckTimeoutError(timeoutMs);
          controller.abort(reason);
          resolve({ passed: false, detail: reason.message });
        }, timeoutMs);
        this.cut = (cutOutcome) => {
          clearTimeout(timer);
          resolve(cutOutcome);
        };
        // Also when the wait ended earlier: the run no longer holds up the next one.
        const settled = (runOutcome: CheckOutcome): void => {
          if (this.inFlight === run) this.inFlight = undefined;
          clearTimeout(timer);
          resolve(runOutcome);
        };
        run.then(
          (value: unknown) => settled(validOutcome(kind, value)),
          (error: unknown) => settled(thrownOutcome(kind, error)),
        );
      });
      this.cut = undefined;
      if (this.controller === controller) this.controller = undefined;
    }
    if (this.retired || !this.hooks.active()) return;
    const durationMs = performance.now() - started;
    const result: CheckResult = { passed: outcome.passed, detail: outcome.detail ?? '', durationMs: Math.round(durationMs * 10) / 10, at: this.hooks.now() };
    if (!outcome.passed && timedOut) result.timedOut = true;
    this.hooks.onResult(result);
  }
}
