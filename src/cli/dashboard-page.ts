import { PAGE_CSS, PAGE_SCRIPT } from './page-kit.js';

/**
 * The writer's page. No build step: one page, inline CSS and JS, polling
 * `/api/state` every second and `/api/history` every sample. Values are
 * inserted as text, never as HTML. The filter (cluster name substring) is
 * kept in the address (`#filter=web`), so a filtered view can be shared.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lighthouse writer</title>
<style>${PAGE_CSS}
  main { display:grid; grid-template-columns: minmax(0,1fr) 380px; gap:20px; padding:20px 24px; }
  @media (max-width: 900px) { main { grid-template-columns: 1fr; } }
  .toolbar { grid-column: 1 / -1; display:flex; gap:12px; align-items:center; color:var(--muted); font-size:13px; }
  .toolbar input { font:inherit; padding:5px 9px; border:1px solid var(--line); border-radius:6px; min-width:260px; }
  .clusters { display:grid; grid-template-columns: repeat(auto-fill, minmax(400px, 1fr)); gap:16px; align-content:start; }
  .card .links a { font-size:12px; font-weight:400; }
  svg.history { display:block; width:100%; height:56px; margin:4px 0 2px; background:#fafbfc; border:1px solid var(--line); border-radius:6px; }
  svg.history .requests { fill:#c9d6f2; } svg.history .members { fill:none; stroke:#14213d; stroke-width:1.5; } svg.history .up { fill:none; stroke:var(--up); stroke-width:1; stroke-dasharray:3 2; }
  svg.history .held { fill:rgba(217,139,31,.25); }
  .legend { color:var(--muted); font-size:11px; margin-bottom:8px; }
  aside h2 { font-size:15px; margin:0 0 10px; }
  ul.changes { list-style:none; margin:0; padding:0; }
  ul.changes li { display:grid; grid-template-columns: 1fr; gap:2px; padding:7px 0; border-bottom:1px solid var(--line); font-size:13px; }
  ul.changes time { color:var(--muted); font-size:12px; }
  ul.changes .reason { color:var(--muted); font-size:12px; }
  ul.changes .added, ul.changes .listed { color:var(--up); font-weight:600; } ul.changes .removed { color:var(--down); font-weight:600; } ul.changes .held { color:var(--drain); font-weight:600; } ul.changes .health { color:var(--maint); font-weight:600; }
  .counters { margin-top:16px; color:var(--muted); font-size:12px; }
  .fleet { grid-column: 1 / -1; }
  .fleet td.current { color:var(--up); } .fleet td.behind { color:var(--down); font-weight:600; } .fleet td.none { color:var(--muted); }
  .fleet td small, .fleet th small { display:block; color:var(--muted); font-weight:400; font-size:11px; }
</style>
</head>
<body>
<header><h1>Lighthouse</h1><span class="sub">writer: clusters as discovery lists them and HAProxy serves them</span><span id="statslinks"></span><span id="ready" class="pill">loading</span></header>
<main>
  <div class="toolbar"><label for="filter">Filter clusters</label><input id="filter" type="search" placeholder="name contains..." autocomplete="off"><span id="shown"></span></div>
  <section id="clusters" class="clusters" aria-label="clusters"></section>
  <aside class="card"><h2>Last changes</h2><ul id="changes" class="changes"></ul><div id="counters" class="counters"></div></aside>
  <section id="fleet" class="card fleet" aria-label="fleet"><h2>Fleet</h2><div class="empty">reading the writers' acknowledgements...</div></section>
</main>
<script>${PAGE_SCRIPT}
const SVG = "http://www.w3.org/2000/svg";
const SIGN = { added: "+ added", removed: "− removed", held: "⏸ held", listed: "+ listed again", health: "~ health" };
const HEALTH_TITLE = {
  up: "HAProxy's health check passes",
  down: "HAProxy's health check fails: no traffic",
  maintenance: "in maintenance in HAProxy: no traffic",
  draining: "draining in HAProxy: no new traffic",
  unknown: "unknown: HAProxy routes to it without checking it (no check), so nobody on this machine knows whether it answers",
};
let lastState = null;
let lastHistory = null;
const filterInput = document.getElementById("filter");
try { filterInput.value = decodeURIComponent((location.hash.match(/filter=([^&]*)/) || [])[1] || ""); } catch (error) { /* a mangled address: no filter */ }
filterInput.addEventListener("input", function () {
  history.replaceState(null, "", filterInput.value ? "#filter=" + encodeURIComponent(filterInput.value) : location.pathname);
  if (lastState) render(lastState);
  if (lastFleet) renderFleet(lastFleet);
});
function matches(name) { const wanted = filterInput.value.trim().toLowerCase(); return wanted === "" || name.toLowerCase().includes(wanted); }
function statsUrl(page) {
  const wildcard = page.address === null || page.address === "" || page.address === "*" || page.address === "0.0.0.0" || page.address === "::";
  const host = wildcard ? location.hostname : page.address;
  return location.protocol + "//" + (host.includes(":") ? "[" + host + "]" : host) + ":" + page.port + page.path;
}
function frontendText(frontend, known) {
  if (!frontend) return known ? "no frontend (backend only)" : "frontend not reported by its balancer";
  return "frontend " + (frontend.address === null ? "*" : frontend.address) + ":" + frontend.port + (frontend.via ? " via " + frontend.via : "");
}
function chart(name) {
  const points = (lastHistory && own(lastHistory.clusters, name)) || [];
  const width = 400, height = 56;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "history");
  svg.setAttribute("viewBox", "0 0 " + width + " " + height);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("data-points", String(points.length));
  svg.setAttribute("role", "img");
  const span = (lastHistory ? lastHistory.spanSeconds : 3600) * 1000;
  const end = lastHistory ? Date.parse(lastHistory.at) : Date.now();
  const x = function (at) { return Math.max(0, Math.min(width, width - ((end - Date.parse(at)) / span) * width)); };
  const maxMembers = Math.max(1, ...points.map(function (p) { return p.members; }));
  const maxRequests = Math.max(1, ...points.map(function (p) { return p.requests; }));
  const y = function (members) { return height - 4 - (members / maxMembers) * (height - 10); };
  // A bar covers its point's share of the time axis (downsampled points cover several samples).
  const perPoint = points.length > 1 ? (Date.parse(points.at(-1).at) - Date.parse(points[0].at)) / (points.length - 1) : (lastHistory ? lastHistory.intervalSeconds * 1000 : 10000);
  const barWidth = Math.max(1, (perPoint / span) * width - 0.5);
  for (const point of points) {
    const bar = document.createElementNS(SVG, "rect");
    const h = (point.requests / maxRequests) * (height - 6);
    bar.setAttribute("class", "requests"); bar.setAttribute("x", String(x(point.at) - barWidth)); bar.setAttribute("width", String(barWidth));
    bar.setAttribute("y", String(height - h)); bar.setAttribute("height", String(h));
    svg.append(bar);
    if (point.held > 0) {
      const held = document.createElementNS(SVG, "rect");
      held.setAttribute("class", "held"); held.setAttribute("x", String(x(point.at) - barWidth)); held.setAttribute("width", String(barWidth)); held.setAttribute("y", "0"); held.setAttribute("height", String(height));
      svg.append(held);
    }
  }
  for (const [cls, field] of [["members", "members"], ["up", "up"]]) {
    if (points.length === 0 || (field === "up" && points.every(function (p) { return p.up === 0; }))) continue;
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("class", cls);
    line.setAttribute("points", points.map(function (p) { return x(p.at).toFixed(1) + "," + y(p[field]).toFixed(1); }).join(" "));
    svg.append(line);
  }
  const minMembers = points.length ? Math.min(...points.map(function (p) { return p.members; })) : 0;
  const requests = points.reduce(function (sum, p) { return sum + p.requests; }, 0);
  const minutes = Math.round(span / 60000);
  const summary = points.length === 0
    ? "no samples yet (one every " + (lastHistory ? lastHistory.intervalSeconds : "?") + " s)"
    : "last " + minutes + " min: members " + (minMembers === maxMembers || maxMembers === 1 && minMembers === 0 ? String(points.at(-1).members) : minMembers + "–" + Math.max(...points.map(function (p) { return p.members; }))) +
      " (line; dashed: up in HAProxy), " + requests + " requests (bars)" + (points.some(function (p) { return p.held > 0; }) ? ", held (shaded)" : "");
  const title = document.createElementNS(SVG, "title");
  title.textContent = summary;
  svg.append(title);
  svg.setAttribute("aria-label", summary);
  return [svg, el("div", { class: "legend" }, [summary])];
}
function render(state) {
  lastState = state;
  const ready = document.getElementById("ready");
  ready.textContent = state.ready ? "in sync" : "initial sync pending";
  ready.className = state.ready ? "pill ok" : "pill";
  const pages = new Map();
  for (const balancer of state.balancers) if (balancer.statusPage) pages.set(balancer.name, balancer.statusPage);
  document.getElementById("statslinks").replaceChildren(...[...pages].map(function ([name, page]) {
    return el("a", { href: statsUrl(page), target: "_blank", rel: "noopener", class: "stats-link", title: page.authenticated ? "asks for the stats password" : "" }, ["HAProxy stats" + (pages.size > 1 ? " (" + name + ")" : "")]);
  }));
  const shown = state.clusters.filter(function (cluster) { return matches(cluster.name); });
  const total = state.clusters.length + " cluster" + (state.clusters.length === 1 ? "" : "s");
  document.getElementById("shown").textContent = shown.length === state.clusters.length ? total : shown.length + " of " + total;
  const clusters = shown.map(function (cluster) {
    const rows = cluster.members.map(function (member) {
      const label = member.status === null ? "not in HAProxy yet" : member.status;
      const title = own(HEALTH_TITLE, member.health) + (member.check ? " — last check: " + member.check : "");
      return el("tr", { "data-node": member.node, "data-health": member.health }, [
        el("td", {}, [member.node].concat(
          member.held ? [" ", el("span", { class: "tag warn", title: "discovery no longer lists it; the removal guard keeps it routed" }, ["held"])] : [],
          member.zone !== null && member.zone !== undefined ? [" ", el("span", { class: "tag zone", title: "zone (from its metadata)" }, [member.zone])] : [],
          member.role === "backup" ? [" ", el("span", { class: "tag backup", title: "backup: used only when no active server is usable" }, ["backup"])] : [],
          member.weight !== null && member.weight !== undefined ? [" ", el("span", { class: "tag weight", title: "weight HAProxy applies now (ramps up during slow start)" }, ["w" + member.weight])] : [],
        )),
        el("td", {}, [member.ip + ":" + member.port]),
        el("td", {}, [el("span", { class: "badge " + member.health, title: label + ": " + title }, [member.health === "unknown" ? "unknown" : label])]),
        el("td", { class: "num" }, [num(member.currentSessions)]),
        el("td", { class: "num" }, [num(member.totalSessions)]),
      ]);
    });
    const title = el("h2", {}, [cluster.name]);
    if (cluster.metaCluster) title.append(el("span", { class: "tag" }, ["meta: " + cluster.metaCluster]));
    if (cluster.hold) title.append(el("span", { class: "tag warn" }, ["held"]));
    const page = cluster.frontend && pages.get(cluster.frontend.balancer);
    if (page) title.append(el("span", { class: "links" }, [el("a", { href: statsUrl(page) + "#" + encodeURIComponent(cluster.name), target: "_blank", rel: "noopener", class: "stats-link" }, ["HAProxy stats"])]));
    const meta = el("div", { class: "meta" }, [
      el("span", { class: "frontend" }, [frontendText(cluster.frontend, state.balancers.some(function (balancer) { return balancer.reportsFrontends; }))]),
      " · " + cluster.members.length + " member" + (cluster.members.length === 1 ? "" : "s") + " · revision " + cluster.revision,
    ]);
    if (cluster.updatedAt) meta.append(" · changed ", timeEl(cluster.updatedAt));
    if (cluster.rejected) meta.append(" · " + cluster.rejected + " rejected");
    if (cluster.hold) meta.append(" · HELD since ", timeEl(cluster.hold.since), ": discovery lists " + cluster.hold.listed + " of " + cluster.hold.reference + " recently listed");
    const body = rows.length
      ? el("table", {}, [el("thead", {}, [el("tr", {}, [el("th", {}, ["node"]), el("th", {}, ["address"]), el("th", {}, ["HAProxy"]), el("th", { class: "num" }, ["now"]), el("th", { class: "num" }, ["total"])])]), el("tbody", {}, rows)])
      : el("div", { class: "empty" }, ["no members"]);
    return el("article", { class: "card", "data-cluster": cluster.name }, [title, meta, ...chart(cluster.name), body]);
  });
  const none = state.clusters.length ? "no cluster name contains “" + filterInput.value + "”" : "no clusters configured";
  document.getElementById("clusters").replaceChildren(...(clusters.length ? clusters : [el("div", { class: "card empty" }, [none])]));
  const changes = state.changes.filter(function (change) { return matches(change.cluster); }).slice(0, 20).map(function (change) {
    return el("li", { "data-change": change.change }, [
      timeEl(change.at),
      el("span", {}, [el("span", { class: change.change }, [own(SIGN, change.change) || change.change]), " " + change.node + " ", el("span", { class: "tag" }, [change.cluster])]),
      el("span", { class: "reason" }, [change.reason]),
    ]);
  });
  document.getElementById("changes").replaceChildren(...(changes.length ? changes : [el("li", { class: "empty" }, ["none yet"])]));
  const counters = state.balancers.map(function (balancer) {
    const c = balancer.counters;
    const line = el("div", {}, ["HAProxy " + balancer.name + ": " + c.runtimeChanges + " runtime changes, " + c.reloads + " reloads (" + c.reloadFailures + " failed), " + c.runtimeCommands + " API commands"]);
    if (balancer.error) line.append(el("div", { class: "error" }, [balancer.error]));
    return line;
  });
  document.getElementById("counters").replaceChildren(el("div", {}, ["page updated ", timeEl(state.at)]), ...counters);
}
let lastFleet = null;
/** Writers x clusters from the writers' acknowledgement records: the version each applied, how far behind, holds and draining sessions. */
function renderFleet(report) {
  lastFleet = report;
  const MAX_CLUSTERS = 12;
  const clusters = report.clusters.filter(function (cluster) { return matches(cluster.name); });
  const shownClusters = clusters.slice(0, MAX_CLUSTERS);
  const writers = report.writers;
  const head = el("tr", {}, [el("th", {}, ["writer"]), ...shownClusters.map(function (cluster) { const behind = own(report.behind, cluster.name) || 0;
    return el("th", { title: "newest version " + (cluster.newest === null ? "none" : cluster.newest) }, [cluster.name, ...(behind ? [el("small", {}, [behind + " behind"])] : [])]); })]);
  const rows = writers.map(function (writer) {
    const cells = shownClusters.map(function (cluster) {
      const entry = cluster.writers.find(function (candidate) { return candidate.writer === writer.writer; });
      if (!entry) return el("td", { class: "none", "data-cluster": cluster.name, "data-state": "none" }, ["-"]);
      const state = entry.current ? "current" : "behind";
      const notes = [];
      if (entry.held.length) notes.push(entry.held.length + " held");
      const draining = Object.values(entry.draining).reduce(function (sum, n) { return sum + n; }, 0);
      if (draining) notes.push(draining + " sessions draining");
      const text = (entry.version === null ? "no version" : "v" + entry.version) + (entry.current ? " ✓" : " · behind " + (entry.versionGap === null ? "?" : entry.versionGap) + " (" + entry.lagSeconds + " s)");
      return el("td", { class: state, "data-cluster": cluster.name, "data-state": state, title: entry.members + " members" + (entry.appliedAt ? ", applied " + isoLocal(entry.appliedAt) : "") + (entry.held.length ? "; held: " + entry.held.join(", ") : "") }, [text, ...(notes.length ? [el("small", {}, [notes.join(" · ")])] : [])]);
    });
    return el("tr", { "data-writer": writer.writer }, [el("td", { title: "pid " + writer.pid + ", " + writer.lighthouse + ", config " + writer.configDir + ", record written " + isoLocal(writer.writtenAt) }, [writer.writer]), ...cells]);
  });
  const notes = [];
  if (report.writerCount > writers.length) notes.push((report.writerCount - writers.length) + " more writers (counted in each cluster's behind): lighthouse fleet CONFIG_DIR lists them all");
  if (clusters.length > MAX_CLUSTERS) notes.push((clusters.length - MAX_CLUSTERS) + " more clusters: narrow the filter");
  document.getElementById("fleet").replaceChildren(
    el("h2", {}, ["Fleet"]),
    el("div", { class: "meta" }, [report.writerCount + " live writer" + (report.writerCount === 1 ? "" : "s") + " (their acknowledgement records), read ", timeEl(report.at)]),
    rows.length && shownClusters.length ? el("table", {}, [el("thead", {}, [head]), el("tbody", {}, rows)]) : el("div", { class: "empty" }, [report.writerCount ? "no cluster matches the filter" : "no writer acknowledgements found"]),
    ...notes.map(function (note) { return el("div", { class: "meta" }, [note]); }),
    ...report.problems.map(function (problem) { return el("div", { class: "error" }, [problem]); }),
  );
}
async function pollFleet() {
  try {
    const response = await fetch("/api/fleet", { cache: "no-store" });
    if (response.ok) renderFleet(await response.json());
  } catch (error) { /* the state poll says the writer is unreachable */ }
  setTimeout(pollFleet, 5000);
}
async function pollHistory() {
  let next = 10;
  try {
    const response = await fetch("/api/history", { cache: "no-store" });
    if (response.ok) {
      lastHistory = await response.json();
      next = lastHistory.intervalSeconds;
      if (lastState) render(lastState);
    }
  } catch (error) { /* the state poll says the writer is unreachable */ }
  setTimeout(pollHistory, Math.max(1, next) * 1000);
}
pollState("writer");
pollHistory();
pollFleet();
</script>
</body>
</html>
`;
