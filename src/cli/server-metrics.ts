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

const HELP = 'state of each server of a cluster backend as HAProxy has it (1 for its current state): up, down, unchecked (no health check: routed, health unknown), maint, drain';

/**
 * `lighthouse_server_state{cluster,server,state}`: one series per state of
 * each server of each cluster backend, 1 for the state it is in (a state
 * set, so `== 1` alerts never see a series vanish and come back with another
 * label as the state changes). Read from each balancer's stats at scrape
 * time (HAProxy: through the `show stat` snapshot the dashboard shares); a
 * balancer that does not answer leaves the metric empty rather than stale.
 *
 * Written as exposition text here, not through a prom-client Gauge: at
 * 10,000 servers that is 50,000 series per scrape, and the Gauge's per-series
 * label hashing, objects and formatting cost the writer ~0.45-0.8 s of CPU
 * per scrape (a CPU profile of the scale bench), 3-5 % of a core for a
 * Prometheus scraping every 15 s. The text is the same as prom-client's.
 */
export async function serverStateMetricText(writer: Writer): Promise<string> {
  const lines = ['# HELP lighthouse_server_state ' + escapeHelp(HELP), '# TYPE lighthouse_server_state gauge'];
  const clusters = new Set(writer.clusters().map(({ item }) => item.name));
  for (const name of writer.balancerNames()) {
    const stats = writer.balancer(name)?.stats?.();
    if (!stats) continue;
    const rows = await stats.servers().catch(() => []);
    for (const row of rows) {
      if (!clusters.has(row.proxy) || row.server === 'BACKEND' || row.server === 'FRONTEND') continue;
      const state = serverState(row.status);
      if (!state) continue;
      const prefix = `lighthouse_server_state{cluster="${escapeLabel(row.proxy)}",server="${escapeLabel(row.server)}",state="`;
      for (const each of SERVER_STATES) lines.push(`${prefix}${each}"} ${each === state ? 1 : 0}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** As prom-client escapes label values. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** As prom-client escapes help text. */
function escapeHelp(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
