import type { ServiceRunner } from './service-runner.js';

/**
 * A service moving to a new runner (a new discovery session, or another
 * discovery): `from` keeps running and keeps its registrations until `to`
 * holds every port `from` holds, however long that takes. A deadline that
 * retired the old runner anyway dropped live registrations when the new
 * discovery was unreachable (#19.4); now the deadline only marks the handover
 * stalled, for the log and `status`.
 */
export class Handover {
  readonly since = Date.now();
  stalled = false;
  /** true once `to` holds all of `from`'s registrations, false when cancelled */
  readonly done: Promise<boolean>;
  private finish: (completed: boolean) => void = () => undefined;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly stallTimer: ReturnType<typeof setTimeout>;
  private settled = false;

  constructor(
    readonly from: ServiceRunner,
    readonly to: ServiceRunner,
    stallAfterMs: number,
    onStall: (handover: Handover) => void,
  ) {
    this.done = new Promise((resolve) => (this.finish = resolve));
    this.stallTimer = setTimeout(() => {
      if (this.settled) return;
      this.stalled = true;
      onStall(this);
    }, stallAfterMs);
    // Registration events fire before the runner's own state shows the write: look on the next turn.
    const look = (): void => void setImmediate(() => this.check());
    this.unsubscribe.push(to.onRegistration(look), from.onRegistration(look));
    this.check();
  }

  /** Ports `from` holds that `to` does not hold yet. */
  pending(): number[] {
    const held = new Set(registeredPorts(this.to));
    return this.from.claimedPorts().filter((port) => !held.has(port));
  }

  /** The handover is abandoned (`to` was replaced or the daemon stops): `done` resolves false. */
  cancel(): void {
    this.settle(false);
  }

  private check(): void {
    if (!this.settled && this.pending().length === 0) this.settle(true);
  }

  private settle(completed: boolean): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.stallTimer);
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    this.finish(completed);
  }
}

/** Ports of `runner` that are registered now. */
export function registeredPorts(runner: ServiceRunner): number[] {
  return runner
    .status()
    .ports.filter((port) => port.registered)
    .map((port) => port.port);
}

/** Long enough for a new runner to pass `rise` checks on every port, with slack for a slow backend: after it the handover counts as stalled. */
export function handoverDeadline(runner: ServiceRunner, intervalMs: number): number {
  const rise = Math.max(1, ...runner.status().ports.flatMap((port) => port.checks.map((check) => check.rise)));
  return (rise + 1) * intervalMs + 5_000;
}
