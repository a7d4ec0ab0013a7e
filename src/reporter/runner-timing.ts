import type { ServiceItem } from '../config/model.js';

/** How a service runner paces its discovery operations. */
export interface RunnerTiming {
  /**
   * How often registrations are verified with `isPublished` (one read per
   * registered port). A safety net only: a registration deleted or taken over
   * by someone else is reported at once by the backend (`onLost`) and a lost
   * session by `onSession`. Default: ten check intervals, at least 30 s —
   * reading every port every interval cost 1,000 ZooKeeper requests/s and
   * most of the reporter's CPU at 1,000 ports.
   */
  reconcileMs: number;
  /** Least time between two writes for one port: a flapping port cannot flood the backend; changes in between coalesce. */
  minWriteGapMs: number;
  /** Deadline on every discovery operation, so a hung backend cannot stall a port for good. */
  discoveryTimeoutMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  /** Default deadline of `stop({ deregister: true })`. */
  stopDeadlineMs: number;
}

export function resolveTiming(item: ServiceItem, overrides: Partial<RunnerTiming>): RunnerTiming {
  return {
    reconcileMs: Math.max(item.intervalMs * 10, 30_000),
    minWriteGapMs: 1000,
    discoveryTimeoutMs: 10_000,
    retryInitialMs: 200,
    retryMaxMs: 10_000,
    stopDeadlineMs: 5000,
    ...overrides,
  };
}
