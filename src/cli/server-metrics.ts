import { Gauge, type Registry } from 'prom-client';
import type { Writer } from '../writer/writer.js';

/** The states a server of a cluster backend can be in, from the balancer's own word for it (HAProxy's `show stat`). */
export const SERVER_STATES = ['up', 'down', 'unchecked', 'maint', 'drain'] as const;
export type ServerState = (typeof SERVER_STATES)[number];

/**
 * HAProxy's status word, in a few states. `no check` is not `up`: HAProxy
 * sends traffic there without knowing whether anything answers, so it is
 * `unchecked` (see docs/operations.md: "Unreachable members").
 */
export function serverState(status: string): ServerState | undefined {
  if (status.startsWith('MAINT')) return 'maint';
  if (status.startsWith('DRAIN') || status.startsWith('NOLB')) return 'drain';
  if (status.startsWith('UP')) return 'up';
  if (status.startsWith('DOWN')) return 'down';
  if (status === 'no check') return 'unchecked';
  return undefined;
}

/**
 * `lighthouse_server_state{cluster,server,state}`: one series per state of
 * each server of each cluster backend, 1 for the state it is in (a state
 * set, so `== 1` alerts never see a series vanish and come back with another
 * label as the state changes). Read from each balancer's stats at scrape
 * time (HAProxy: through the `show stat` snapshot the dashboard shares); a
 * balancer that does not answer leaves the metric empty rather than stale.
 */
export function registerServerMetrics(registry: Registry, writer: Writer): void {
  new Gauge({
    name: 'lighthouse_server_state',
    help: 'state of each server of a cluster backend as HAProxy has it (1 for its current state): up, down, unchecked (no health check: routed, health unknown), maint, drain',
    labelNames: ['cluster', 'server', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      const clusters = new Set(writer.clusters().map(({ item }) => item.name));
      for (const name of writer.balancerNames()) {
        const stats = writer.balancer(name)?.stats?.();
        if (!stats) continue;
        const rows = await stats.servers().catch(() => []);
        for (const row of rows) {
          if (!clusters.has(row.proxy) || row.server === 'BACKEND' || row.server === 'FRONTEND') continue;
          const state = serverState(row.status);
          if (!state) continue;
          for (const each of SERVER_STATES) this.set({ cluster: row.proxy, server: row.server, state: each }, each === state ? 1 : 0);
        }
      }
    },
  });
}
