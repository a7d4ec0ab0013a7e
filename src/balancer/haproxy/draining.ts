import type { DrainingServer } from '../types.js';
import { StatSnapshot } from './stat-snapshot.js';

/**
 * Servers of HAProxy in maintenance or drain that still have sessions, from
 * a `show stat` over its own connection (never queued behind the writer's
 * runtime changes), read fresh each time: a writer acknowledging a removal
 * must not report the sessions of a moment before it.
 */
export class DrainingSessions {
  private readonly stats: StatSnapshot;

  constructor(adminSocket: string) {
    this.stats = new StatSnapshot({ path: adminSocket, maxAgeMs: 0, timeoutMs: 2_000 });
  }

  async read(): Promise<DrainingServer[]> {
    const rows = await this.stats.read();
    return rows
      .filter((row) => row.server !== 'BACKEND' && row.server !== 'FRONTEND' && row.currentSessions > 0 && /^(MAINT|DRAIN)/.test(row.status))
      .map((row) => ({ cluster: row.proxy, server: row.server, sessions: row.currentSessions }));
  }
}
