import type { CheckSpec } from '../config/model.js';
import type { Check, CheckOutcome } from '../checks/types.js';
import type { RiseFallState } from '../checks/rise-fall.js';
import type { CheckResult } from './runner-status.js';
import { RunStop } from '../checks/run-stop.js';
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
  /** stops the current run of a check that takes one (`runStoppable`); one for all of the loop's runs */
  private readonly stop = new RunStop();
  /** stops the current run of any other check: a plugin may hand its signal on (to fetch, say) */
  private controller: AbortController | undefined;
  /** the current run's timeout: one timer for the loop's life, re-armed at each start (see armDeadline) */
  private deadline: ReturnType<typeof setTimeout> | undefined;
  private deadlineMs = 0;
  /** ends the current wait for a run: the run's own outcome, the timeout's or retire's, whichever comes first */
  private finish: ((outcome: CheckOutcome) => void) | undefined;
  private timedOut = false;
  /** the timeout's outcome, waiting one turn for the stopped run's own account (see onDeadline) */
  private timeoutOutcome: CheckOutcome | undefined;
  /** a run that has not settled, even after its abort: the next run waits for it */
  private inFlight: Promise<unknown> | undefined;
  private lastStart = Number.NEGATIVE_INFINITY;
  private retired = false;
  /** run() is awaiting this loop's current run */
  private busy = false;
  /** the interval ticked while busy: run again as soon as the current run ends */
  private overdue = false;

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
    if (this.deadline !== undefined) clearTimeout(this.deadline);
    this.deadline = undefined;
    const reason = new Error(why);
    if (this.controller) this.controller.abort(reason);
    else this.stop.abort(reason);
    this.end({ passed: false, detail: why });
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
      // An interval tick in between may have started the run that was due: then that one is it
      // (a second one beside it found the first in flight and failed as "previous run still has
      // not finished" although the check had honoured its timeout).
      setImmediate(() => {
        if (!this.busy) void this.run();
      });
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
      let run: Promise<unknown>;
      try {
        if (this.check.runStoppable) {
          this.stop.reset();
          run = Promise.resolve(this.check.runStoppable(this.stop));
        } else {
          this.controller = new AbortController();
          run = Promise.resolve(this.check.run(this.controller.signal));
        }
      } catch (error) {
        run = Promise.reject(error);
      }
      this.inFlight = run;
      this.timedOut = false;
      // The run's outcome, or the timeout's (or retire's) as soon as it
      // comes: the deadline and retire() end the wait themselves, so a run
      // costs no abort listener of the loop's own. The handlers are the
      // loop's, not closures of this run: a run can settle only while it is
      // `inFlight` (no run starts before the previous one settled).
      outcome = await new Promise<CheckOutcome>((resolve) => {
        this.finish = resolve;
        this.armDeadline(this.spec.timeoutMs);
        run.then(this.onValue, this.onError);
      });
      timedOut = this.timedOut;
      // Ended by the run's own outcome: the timeout's, still waiting for its turn, must not end the next run's wait.
      this.timeoutOutcome = undefined;
      this.controller = undefined;
    }
    if (this.retired || !this.hooks.active()) return;
    const durationMs = performance.now() - started;
    const result: CheckResult = { passed: outcome.passed, detail: outcome.detail ?? '', durationMs: Math.round(durationMs * 10) / 10, at: this.hooks.now() };
    if (!outcome.passed && timedOut) result.timedOut = true;
    this.hooks.onResult(result);
  }

  /**
   * Starts the timeout of the run that starts now. The timer is the loop's
   * and is re-armed (`refresh`) rather than created per run: a timer per run
   * (its object, and its timer list emptied and re-made around each burst of
   * runs) showed in the reporter's profile. It may fire after its run ended:
   * then there is no wait to end and it does nothing.
   */
  private armDeadline(timeoutMs: number): void {
    if (this.deadline !== undefined && this.deadlineMs === timeoutMs) {
      this.deadline.refresh();
      return;
    }
    if (this.deadline !== undefined) clearTimeout(this.deadline);
    this.deadlineMs = timeoutMs;
    this.deadline = setTimeout(this.onDeadline, timeoutMs);
  }

  /**
   * Stops the run. A plugin's run fails as `timed out after N ms`
   * (docs/plugins.md). A built-in check's run (`runStoppable`) settles as
   * soon as it is stopped with what it had read, and the wait ends only on
   * the next turn so that this is the result: `HTTP 200 body "warming up"
   * (timed out after 800 ms), expected a body containing "ready"`
   * (docs/configuration.md) says more than `timed out after 800 ms`.
   */
  private readonly onDeadline = (): void => {
    if (this.finish === undefined) return;
    this.timedOut = true;
    const reason = new CheckTimeoutError(this.deadlineMs);
    if (this.controller) {
      this.controller.abort(reason);
      this.end({ passed: false, detail: reason.message });
      return;
    }
    this.timeoutOutcome = { passed: false, detail: reason.message };
    this.stop.abort(reason);
    setImmediate(this.endTimedOut);
  };

  private readonly endTimedOut = (): void => {
    const outcome = this.timeoutOutcome;
    this.timeoutOutcome = undefined;
    if (outcome) this.end(outcome);
  };

  /** Also when the wait ended earlier: the run no longer holds up the next one. */
  private readonly onValue = (value: unknown): void => {
    this.inFlight = undefined;
    const outcome = validOutcome(this.spec.kind, value);
    // A run stopped at its timeout has not passed, whatever it says; a thrown stop reason says no more than the timeout.
    this.end(this.timeoutOutcome !== undefined && outcome.passed ? this.timeoutOutcome : outcome);
  };

  private readonly onError = (error: unknown): void => {
    this.inFlight = undefined;
    this.end(this.timeoutOutcome ?? thrownOutcome(this.spec.kind, error));
  };

  private end(outcome: CheckOutcome): void {
    const finish = this.finish;
    if (finish === undefined) return;
    this.finish = undefined;
    finish(outcome);
  }
}
