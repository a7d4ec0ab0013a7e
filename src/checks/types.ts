import type { StopSignal } from './run-stop.js';

/** Where a check connects: the service's `host` and one of its ports. */
export interface CheckTarget {
  host: string;
  port: number;
}

export interface CheckOutcome {
  passed: boolean;
  /** why it failed (or what it saw), for logs and `status` */
  detail?: string;
}

/**
 * One health check against one port. `run` must honour `signal`: the runner
 * aborts it at the check's timeout, so a hung service never stalls others.
 */
export interface Check {
  run(signal: AbortSignal): Promise<CheckOutcome>;
  /**
   * The same run, stopped through a StopSignal the runner reuses for every
   * run of the check (no AbortController per run). For checks whose run uses
   * nothing of the signal but `aborted`, `reason` and its abort listener, and
   * uses it no more once settled.
   */
  runStoppable?(stop: StopSignal): Promise<CheckOutcome>;
  /** releases sockets or clients the check keeps between runs */
  close?(): void;
}
