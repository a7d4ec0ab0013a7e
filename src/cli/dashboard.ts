import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { BalancerServerStat, BalancerStats } from '../balancer/types.js';
import { nodeKey, nodeKeyCached } from '../discovery/node.js';
import { errorMessage } from '../lib/errors.js';
import type { DashboardBalancer, DashboardCluster, DashboardFrontend, DashboardHistory, DashboardMember, DashboardState, MemberHealth } from '../writer/dashboard-state.js';
import type { Writer } from '../writer/writer.js';
import { ChangeLog, memberHealth, type HealthMove } from './dashboard-changes.js';
import { ClusterHistories } from './dashboard-history.js';
import { FleetPanel } from './dashboard-fleet.js';
import { DASHBOARD_HTML } from './dashboard-page.js';
import type { Route } from './http-endpoint.js';
import { memberZone } from './member-zone.js';

/**
 * How old an `/api/state` answer may be. Building it walks every member and
 * serializes them on the writer's event loop (1,000 servers: ~100 KB of
 * JSON); a burst of readers shares one build instead of each delaying the
 * writer's next change. HAProxy's part is cached separately (StatSnapshot).
 */
const STATE_MAX_AGE_MS = 500;
/** The chart shows the last hour... */
const HISTORY_SPAN_MS = 3_600_000;
/** ...in at most this many samples per cluster (20 kB each): a shorter interval covers less than the hour. */
const MAX_SAMPLES = 720;
/** points per cluster in `/api/history`: enough for a chart a few hundred pixels wide */
const HISTORY_POINTS = 120;

/** What the dashboard reads of the writer. */
export type DashboardWriter = Pick<Writer, 'ready' | 'clusters' | 'onSynced' | 'onMemberChange' | 'balancer' | 'balancerNames' | 'discoveries'>;

export interface DashboardOptions {
  /** how often each cluster's members and sessions are sampled for its history (`--history-interval`) */
  historyIntervalMs?: number;
}

interface ServerView {
  stats: Map<string, BalancerServerStat>;
  balancers: DashboardBalancer[];
  frontends: Map<string, DashboardFrontend>;
}

/**
 * The writer's live page: `/` (HTML, polls `/api/state`, `/api/history`
 * and `/api/fleet`), and those three. The fleet panel is the writers'
 * acknowledgement records (dashboard-fleet.ts). Changes are recorded
 * from what each sync applied (dashboard-changes.ts); the history is sampled
 * every `historyIntervalMs` while the page is served (dashboard-history.ts).
 */
export class Dashboard {
  private readonly changes = new ChangeLog();
  private readonly fleet: FleetPanel;
  private readonly histories: ClusterHistories;
  private readonly intervalMs: number;
  /** each member's health at the last sample, to record what the balancer's own checks changed */
  private lastHealth = new Map<string, Map<string, { status: string; health: MemberHealth }>>();
  private readonly unsubscribe: (() => void)[];
  private body: { at: number; json: Buffer } | undefined;
  private building: Promise<Buffer> | undefined;
  private historyBody: { samples: number; json: Buffer } | undefined;
  private samples = 0;
  private sampling = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly writer: DashboardWriter,
    options: DashboardOptions = {},
  ) {
    this.intervalMs = options.historyIntervalMs ?? 10_000;
    this.fleet = new FleetPanel({ discoveries: () => writer.discoveries() });
    this.histories = new ClusterHistories(Math.max(1, Math.min(MAX_SAMPLES, Math.ceil(HISTORY_SPAN_MS / this.intervalMs))));
    this.unsubscribe = [
      writer.onMemberChange((change, cause) => this.changes.noteCause(change, cause)),
      writer.onSynced(() =>
        this.changes.recordSync(
          writer.clusters().map(({ item, state }) => ({ name: item.name, members: state.members, held: state.held, hold: state.hold, revision: state.revision })),
          Date.now(),
        ),
      ),
    ];
  }

  /** Starts sampling the history; only a served page needs it (one `show stat` per interval). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
  }

  routes(): Record<string, Route> {
    return {
      '/': (_request: IncomingMessage, response: ServerResponse) => {
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        response.end(DASHBOARD_HTML);
      },
      '/api/state': async (_request: IncomingMessage, response: ServerResponse) => {
        const json = await this.stateJson();
        response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        response.end(json);
      },
      '/api/fleet': async (_request: IncomingMessage, response: ServerResponse) => {
        const report = await this.fleet.report();
        response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        response.end(JSON.stringify(report));
      },
      '/api/history': (_request: IncomingMessage, response: ServerResponse) => {
        response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        response.end(this.historyJson());
      },
    };
  }

  close(): void {
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The serialized state, shared by every reader within STATE_MAX_AGE_MS and by concurrent readers. */
  private stateJson(): Promise<Buffer> {
    if (this.body && Date.now() - this.body.at < STATE_MAX_AGE_MS) return Promise.resolve(this.body.json);
    this.building ??= this.state()
      .then((state) => {
        // Encoded once: a burst of readers gets the same bytes.
        const json = Buffer.from(JSON.stringify(state));
        this.body = { at: Date.now(), json };
        return json;
      })
      .finally(() => {
        this.building = undefined;
      });
    return this.building;
  }

  /** Built once per sample, whatever the number of readers. */
  private historyJson(): Buffer {
    if (this.historyBody?.samples === this.samples) return this.historyBody.json;
    const json = Buffer.from(JSON.stringify(this.history()));
    this.historyBody = { samples: this.samples, json };
    return json;
  }

  history(now = Date.now()): DashboardHistory {
    const since = now - HISTORY_SPAN_MS;
    // fromEntries defines own keys: a cluster may be called "__proto__" (an assignment would set the prototype instead).
    const clusters: DashboardHistory['clusters'] = Object.fromEntries(
      this.histories
        .clusters()
        .sort()
        .map((cluster) => [cluster, this.histories.points(cluster, since, HISTORY_POINTS)]),
    );
    return { at: new Date(now).toISOString(), intervalSeconds: this.intervalMs / 1000, spanSeconds: Math.min(HISTORY_SPAN_MS, this.histories.capacity * this.intervalMs) / 1000, clusters };
  }

  /** One look at every cluster: counts and sessions into its ring, and the balancer's health changes into the change list. */
  async sample(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const at = Date.now();
      const { stats } = await this.readServers();
      const health = new Map<string, Map<string, { status: string; health: MemberHealth }>>();
      for (const { item, state } of this.writer.clusters()) {
        const totals = new Map<string, number>();
        const now = new Map<string, { status: string; health: MemberHealth }>();
        const before = this.lastHealth.get(item.name);
        const moved: HealthMove[] = [];
        let up = 0;
        for (const node of state.members) {
          // Every 10 s for every member (10,000 at fleet scale): the node's kept key, and last sample's entry while its status stays.
          const key = nodeKeyCached(node);
          const stat = stats.get(`${item.name}/${key}`);
          if (!stat) continue;
          totals.set(key, stat.totalSessions);
          const was = before?.get(key);
          const seen = was?.status === stat.status ? was : { status: stat.status, health: memberHealth(stat.status) };
          if (seen.health === 'up') up += 1;
          now.set(key, seen);
          if (was && was.health !== seen.health) moved.push({ node: key, from: was, to: { ...seen, check: stat.check ?? null } });
        }
        this.changes.recordHealth(at, item.name, moved);
        health.set(item.name, now);
        this.histories.record(item.name, at, { members: state.members.length, held: state.held.length, up, totals });
      }
      this.lastHealth = health;
      this.histories.retain(new Set(health.keys()));
      this.samples += 1;
    } finally {
      this.sampling = false;
    }
  }

  /** Every balancer's servers, counters, frontends and status page; a balancer that cannot answer leaves discovery's view. */
  private async readServers(): Promise<ServerView> {
    const view: ServerView = { stats: new Map(), balancers: [], frontends: new Map() };
    for (const [name, balancer] of balancerStats(this.writer)) {
      let error: string | null = null;
      try {
        for (const stat of await balancer.servers()) view.stats.set(`${stat.proxy}/${stat.server}`, stat);
      } catch (cause) {
        // HAProxy not started yet, or restarting: the page still shows discovery's view.
        error = errorMessage(cause);
      }
      for (const [cluster, frontend] of balancer.frontends?.() ?? []) if (!view.frontends.has(cluster)) view.frontends.set(cluster, { balancer: name, ...frontend });
      // Copied after the read, so the page counts the read it caused.
      view.balancers.push({ name, counters: { ...balancer.counters }, error, reportsFrontends: balancer.frontends !== undefined, statusPage: balancer.statusPage ? { ...balancer.statusPage } : null });
    }
    return view;
  }

  async state(): Promise<DashboardState> {
    const { stats, balancers, frontends } = await this.readServers();
    const clusters = this.writer
      .clusters()
      .map(({ item, state }): DashboardCluster => {
        const held = new Set(state.held);
        return {
          name: item.name,
          metaCluster: item.metaCluster ?? null,
          revision: state.revision,
          updatedAt: state.updatedAt === undefined ? null : new Date(state.updatedAt).toISOString(),
          frontend: frontends.get(item.name) ?? null,
          rejected: state.rejected.length,
          hold: state.hold ? { listed: state.hold.listed, reference: state.hold.reference, floor: state.hold.floor, since: new Date(state.hold.since).toISOString() } : null,
          members: state.members
            .map((node): DashboardMember => {
              const key = nodeKey(node);
              const stat = stats.get(`${item.name}/${key}`);
              const status = stat?.status ?? null;
              return {
                node: key,
                ip: node.ip,
                port: node.port,
                status,
                health: memberHealth(status),
                check: stat?.check ?? null,
                currentSessions: stat?.currentSessions ?? null,
                totalSessions: stat?.totalSessions ?? null,
                held: held.has(node),
                zone: memberZone(item, node),
                weight: stat?.weight ?? null,
                role: stat?.backup === undefined ? null : stat.backup ? 'backup' : 'active',
              };
            })
            .sort((a, b) => a.node.localeCompare(b.node)),
        };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
    return { at: new Date().toISOString(), ready: this.writer.ready, clusters, changes: this.changes.list(), balancers };
  }
}

/** Partial: a counter the balancer adds later is simply not exported until it is named here. */
const COUNTER_HELP: Partial<Record<string, string>> = {
  runtimeCommands: 'runtime API commands sent to HAProxy',
  statReads: 'show stat commands sent for the dashboard and status (at most one per second, over their own connection)',
  runtimeChanges: 'membership changes applied through the runtime API, without a reload',
  reloads: 'successful HAProxy reloads',
  reloadFailures: 'HAProxy reloads that failed (the running HAProxy kept serving)',
  starts: 'HAProxy starts (first start, or after it died)',
  startFailures: 'HAProxy starts that failed',
  forcedRemovals: 'server removals that had to cut connections after the drain deadline',
  rejectedConfigs: 'generated configs rejected by haproxy -c',
  backgroundWrites: 'config writes done in the background after a runtime-only change',
  membershipWrites: 'background config writes without haproxy -c: the skeleton was validated and the worker accepted every server line',
  weightChanges: 'server weights changed at run time (set server weight), without a reload',
  roleChanges: 'servers removed and added back at run time to change their backup role (zone-aware spillover and return)',
  zoneSpillovers: 'times a zone-aware cluster started spilling over to other zones',
};

const COUNTER_NAME: Record<string, string> = {
  runtimeCommands: 'lighthouse_haproxy_runtime_commands_total',
  statReads: 'lighthouse_haproxy_stat_reads_total',
  runtimeChanges: 'lighthouse_haproxy_runtime_changes_total',
  reloads: 'lighthouse_haproxy_reloads_total',
  reloadFailures: 'lighthouse_haproxy_reload_failures_total',
  starts: 'lighthouse_haproxy_starts_total',
  startFailures: 'lighthouse_haproxy_start_failures_total',
  forcedRemovals: 'lighthouse_haproxy_forced_removals_total',
  rejectedConfigs: 'lighthouse_haproxy_rejected_configs_total',
  backgroundWrites: 'lighthouse_haproxy_background_writes_total',
  membershipWrites: 'lighthouse_haproxy_membership_writes_total',
  weightChanges: 'lighthouse_haproxy_weight_changes_total',
  roleChanges: 'lighthouse_haproxy_role_changes_total',
  zoneSpillovers: 'lighthouse_haproxy_zone_spillovers_total',
};

/**
 * Exposes the HAProxy balancers' own counters as Prometheus counters, and
 * whether each HAProxy serves (`lighthouse_haproxy_up`). They
 * are read at scrape time (the balancer owns the numbers; copying them on
 * every change would couple it to prom-client).
 */
function* balancerStats(writer: Pick<Writer, 'balancer' | 'balancerNames'>): Generator<[string, BalancerStats]> {
  for (const name of writer.balancerNames()) {
    const stats = writer.balancer(name)?.stats?.();
    if (stats) yield [name, stats];
  }
}

export function registerHaproxyCounters(registry: Registry, writer: Writer): void {
  for (const [key, name] of Object.entries(COUNTER_NAME)) {
    new Counter({
      name,
      help: COUNTER_HELP[key] ?? key,
      labelNames: ['balancer'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [name, stats] of balancerStats(writer)) {
          const value = stats.counters[key];
          if (value !== undefined) this.inc({ balancer: name }, value);
        }
      },
    });
  }
  new Gauge({
    name: 'lighthouse_haproxy_up',
    help: '1 while HAProxy serves (started, reloaded or adopted), 0 from the moment it is found gone or a start fails until one succeeds',
    labelNames: ['balancer'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, stats] of balancerStats(writer)) this.set({ balancer: name }, stats.up ? 1 : 0);
    },
  });
}

