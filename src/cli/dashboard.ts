import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { BalancerServerStat, BalancerStats } from '../balancer/types.js';
import { nodeKey } from '../discovery/node.js';
import { errorMessage } from '../lib/errors.js';
import type { Writer } from '../writer/writer.js';
import type { Route } from './http-endpoint.js';
import { memberZone } from './member-zone.js';
import type { DashboardChange, DashboardCluster, DashboardMember, DashboardState } from '../writer/dashboard-state.js';

const MAX_CHANGES = 50;
/**
 * How old an `/api/state` answer may be. Building it walks every member and
 * serializes them on the writer's event loop (1,000 servers: ~100 KB of
 * JSON); a burst of readers shares one build instead of each delaying the
 * writer's next change. HAProxy's part is cached separately (StatSnapshot).
 */
const STATE_MAX_AGE_MS = 500;

/**
 * The writer's live page: `/` (HTML, polls `/api/state`) and `/api/state`.
 * Changes are recorded from what each sync applied, so the list shows what
 * HAProxy was actually told, not every intermediate discovery event.
 */
export class Dashboard {
  private readonly changes: DashboardChange[] = [];
  private known = new Map<string, { members: readonly unknown[]; keys: Set<string> }>();
  private readonly unsubscribe: () => void;
  private body: { at: number; json: Buffer } | undefined;
  private building: Promise<Buffer> | undefined;

  constructor(private readonly writer: Writer) {
    this.unsubscribe = writer.onSynced(() => this.recordChanges());
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
    };
  }

  close(): void {
    this.unsubscribe();
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

  /** Runs after every sync, so only clusters with a new member list are compared: a sync changes one or a few of thousands. */
  private recordChanges(): void {
    const next = new Map<string, { members: readonly unknown[]; keys: Set<string> }>();
    const at = Date.now();
    for (const { item, state } of this.writer.clusters()) {
      const before = this.known.get(item.name);
      if (before && before.members === state.members) {
        next.set(item.name, before);
        continue;
      }
      const keys = new Set(state.members.map(nodeKey));
      next.set(item.name, { members: state.members, keys });
      const previous = before?.keys ?? new Set<string>();
      for (const key of keys) if (!previous.has(key)) this.push({ at, cluster: item.name, change: 'added', node: key });
      for (const key of previous) if (!keys.has(key)) this.push({ at, cluster: item.name, change: 'removed', node: key });
    }
    this.known = next;
  }

  private push(change: DashboardChange): void {
    this.changes.unshift(change);
    this.changes.length = Math.min(this.changes.length, MAX_CHANGES);
  }

  async state(): Promise<DashboardState> {
    const balancers: DashboardState['balancers'] = [];
    const stats = new Map<string, BalancerServerStat>();
    for (const [name, balancer] of balancerStats(this.writer)) {
      let error: string | null = null;
      try {
        for (const stat of await balancer.servers()) stats.set(`${stat.proxy}/${stat.server}`, stat);
      } catch (cause) {
        // HAProxy not started yet, or restarting: the page still shows discovery's view.
        error = errorMessage(cause);
      }
      // Copied after the read, so the page counts the read it caused.
      balancers.push({ name, counters: { ...balancer.counters }, error });
    }
    const clusters = this.writer
      .clusters()
      .map(({ item, state }): DashboardCluster => ({
        name: item.name,
        metaCluster: item.metaCluster ?? null,
        revision: state.revision,
        updatedAt: state.updatedAt ?? null,
        rejected: state.rejected.length,
        hold: state.hold ? { listed: state.hold.listed, reference: state.hold.reference, floor: state.hold.floor, since: state.hold.since } : null,
        members: state.members
          .map((node) => {
            const key = nodeKey(node);
            const stat = stats.get(`${item.name}/${key}`);
            const held = state.held.includes(node);
            const role: DashboardMember['role'] = stat?.backup === undefined ? null : stat.backup ? 'backup' : 'active';
            return {
              node: key,
              ip: node.ip,
              port: node.port,
              status: stat?.status ?? null,
              currentSessions: stat?.currentSessions ?? null,
              totalSessions: stat?.totalSessions ?? null,
              held,
              zone: memberZone(item, node),
              weight: stat?.weight ?? null,
              role,
            };
          })
          .sort((a, b) => a.node.localeCompare(b.node)),
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
    return { at: Date.now(), ready: this.writer.ready, clusters, changes: [...this.changes], balancers };
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
function* balancerStats(writer: Writer): Generator<[string, BalancerStats]> {
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

/** No build step: one page, inline CSS and JS, polling `/api/state`. Values are inserted as text, never as HTML. */
const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lighthouse writer</title>
<style>
  :root { --bg:#f5f6f8; --card:#fff; --ink:#1d2330; --muted:#6b7385; --line:#e3e6ec; --up:#1f9d55; --down:#d64545; --maint:#8a63d2; --drain:#d98b1f; --none:#9aa1ae; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:var(--bg); }
  header { background:#14213d; color:#fff; padding:14px 24px; display:flex; align-items:baseline; gap:16px; }
  header h1 { margin:0; font-size:18px; font-weight:600; letter-spacing:.3px; }
  header .sub { color:#b8c1d9; font-size:13px; }
  header .pill { margin-left:auto; font-size:12px; padding:3px 10px; border-radius:999px; background:#2b3a5e; }
  header .pill.ok { background:var(--up); }
  main { display:grid; grid-template-columns: minmax(0,1fr) 340px; gap:20px; padding:20px 24px; }
  @media (max-width: 900px) { main { grid-template-columns: 1fr; } }
  .clusters { display:grid; grid-template-columns: repeat(auto-fill, minmax(390px, 1fr)); gap:16px; align-content:start; }
  .card { overflow-x:auto; background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px 16px; box-shadow:0 1px 2px rgba(20,33,61,.05); }
  .card h2 { margin:0 0 2px; font-size:15px; display:flex; gap:8px; align-items:center; }
  .card .meta { color:var(--muted); font-size:12px; margin-bottom:8px; }
  .tag { font-size:11px; font-weight:500; color:#34406b; background:#e8ecf7; padding:1px 7px; border-radius:999px; }
  table { width:100%; border-collapse:collapse; }
  th { text-align:left; font-weight:500; color:var(--muted); font-size:12px; padding:4px 0; border-bottom:1px solid var(--line); }
  td { font-size:13px; padding:5px 0; border-bottom:1px solid var(--line); font-variant-numeric: tabular-nums; }
  tr:last-child td { border-bottom:0; }
  td, th { padding-right:8px; white-space:nowrap; } td:last-child, th:last-child { padding-right:0; }
  td.num, th.num { text-align:right; padding-left:6px; }
  .badge { white-space:nowrap; display:inline-block; min-width:54px; text-align:center; font-size:11px; font-weight:600; color:#fff; padding:2px 6px; border-radius:4px; background:var(--none); }
  .badge.UP, .badge.nocheck { background:var(--up); } .badge.DOWN { background:var(--down); } .badge.MAINT { background:var(--maint); } .badge.DRAIN { background:var(--drain); }
  .empty { color:var(--muted); font-style:italic; padding:6px 0; }
  aside h2 { font-size:15px; margin:0 0 10px; }
  ul.changes { list-style:none; margin:0; padding:0; }
  ul.changes li { display:grid; grid-template-columns: 64px 1fr; gap:4px 10px; padding:7px 0; border-bottom:1px solid var(--line); font-size:13px; }
  ul.changes .time { color:var(--muted); font-variant-numeric: tabular-nums; }
  ul.changes .added { color:var(--up); font-weight:600; } ul.changes .removed { color:var(--down); font-weight:600; }
  .counters { margin-top:16px; color:var(--muted); font-size:12px; }
  .error { color:var(--down); font-size:12px; }
</style>
</head>
<body>
<header><h1>Lighthouse</h1><span class="sub">writer: clusters as discovery lists them and HAProxy serves them</span><span id="ready" class="pill">loading</span></header>
<main>
  <section id="clusters" class="clusters" aria-label="clusters"></section>
  <aside class="card"><h2>Last changes</h2><ul id="changes" class="changes"></ul><div id="counters" class="counters"></div></aside>
</main>
<script>
"use strict";
function el(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children || []) node.append(child);
  return node;
}
function time(ms) { return new Date(ms).toLocaleTimeString([], { hour12: false }); }
function render(state) {
  const ready = document.getElementById("ready");
  ready.textContent = state.ready ? "in sync" : "initial sync pending";
  ready.className = state.ready ? "pill ok" : "pill";
  const clusters = state.clusters.map(function (cluster) {
    const rows = cluster.members.map(function (member) {
      const status = member.status || "pending";
      return el("tr", { "data-node": member.node }, [
        el("td", {}, member.held ? [member.node + " ", el("span", { class: "tag", title: "discovery no longer lists it; the removal guard keeps it routed" }, ["held"])] : [member.node]),
        el("td", {}, [member.ip + ":" + member.port]),
        el("td", {}, [el("span", { class: "badge " + (status === "no check" ? "nocheck" : status.split(" ")[0]), title: status === "no check" ? "serving; health checks are the reporters' job" : status }, [status])]),
        el("td", { class: "num" }, [member.currentSessions === null ? "-" : String(member.currentSessions)]),
        el("td", { class: "num" }, [member.totalSessions === null ? "-" : String(member.totalSessions)]),
      ]);
    });
    const title = el("h2", {}, [cluster.name]);
    if (cluster.metaCluster) title.append(el("span", { class: "tag" }, ["meta: " + cluster.metaCluster]));
    const meta = cluster.members.length + " member" + (cluster.members.length === 1 ? "" : "s") + " \\u00b7 revision " + cluster.revision +
      (cluster.updatedAt ? " \\u00b7 changed " + time(cluster.updatedAt) : "") + (cluster.rejected ? " \\u00b7 " + cluster.rejected + " rejected" : "") +
      (cluster.hold ? " \\u00b7 HELD: discovery lists " + cluster.hold.listed + " of " + cluster.hold.reference + " recently listed" : "");
    const body = rows.length
      ? el("table", {}, [el("thead", {}, [el("tr", {}, [el("th", {}, ["node"]), el("th", {}, ["address"]), el("th", {}, ["HAProxy"]), el("th", { class: "num" }, ["now"]), el("th", { class: "num" }, ["total"])])]), el("tbody", {}, rows)])
      : el("div", { class: "empty" }, ["no members"]);
    return el("article", { class: "card", "data-cluster": cluster.name }, [title, el("div", { class: "meta" }, [meta]), body]);
  });
  document.getElementById("clusters").replaceChildren(...(clusters.length ? clusters : [el("div", { class: "card empty" }, ["no clusters configured"])]));
  const changes = state.changes.slice(0, 20).map(function (change) {
    return el("li", {}, [el("span", { class: "time" }, [time(change.at)]), el("span", {}, [el("span", { class: change.change }, [change.change === "added" ? "+ " : "\\u2212 "]), change.node + " ", el("span", { class: "tag" }, [change.cluster])])]);
  });
  document.getElementById("changes").replaceChildren(...(changes.length ? changes : [el("li", { class: "empty" }, ["none yet"])]));
  const counters = state.balancers.map(function (balancer) {
    const c = balancer.counters;
    const line = el("div", {}, ["HAProxy " + balancer.name + ": " + c.runtimeChanges + " runtime changes, " + c.reloads + " reloads (" + c.reloadFailures + " failed), " + c.runtimeCommands + " API commands"]);
    if (balancer.error) line.append(el("div", { class: "error" }, [balancer.error]));
    return line;
  });
  document.getElementById("counters").replaceChildren(...counters);
}
async function poll() {
  try {
    const response = await fetch("/api/state", { cache: "no-store" });
    if (response.ok) render(await response.json());
  } catch (error) {
    document.getElementById("ready").textContent = "writer unreachable";
  }
  setTimeout(poll, 1000);
}
poll();
</script>
</body>
</html>
`;
