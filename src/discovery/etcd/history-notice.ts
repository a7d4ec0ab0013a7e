import type { Logger } from '../../lib/logger.js';

/**
 * Logs "etcd lost the history" once, although every cluster's watch notices
 * it on its own (one etcd restarted without its data is one event, not one
 * per cluster). A notice within `quietMs` of the previous one is logged at
 * debug level; each one extends the quiet time, so a storm logs one warning.
 */
export class HistoryNotice {
  private last = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly logger: Logger,
    private readonly quietMs = 30_000,
  ) {}

  report(fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    const first = now - this.last >= this.quietMs;
    this.last = now;
    if (first) this.logger.warn({ code: 'LH_ETCD_HISTORY_LOST', ...fields }, `${message}; re-reading every cluster`);
    else this.logger.debug({ code: 'LH_ETCD_HISTORY_LOST', ...fields }, message);
  }
}
