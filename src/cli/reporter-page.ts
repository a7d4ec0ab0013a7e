import { PAGE_CSS, PAGE_SCRIPT } from './page-kit.js';

/**
 * The reporter's page: each service's ports, whether each is registered and
 * why not, each check's last result and output, and the drains in force.
 * One page, inline CSS and JS, polling `/api/state` every second; values
 * are inserted as text, never as HTML.
 */
export const REPORTER_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lighthouse reporter</title>
<style>${PAGE_CSS}
  main { display:grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap:16px; padding:20px 24px; align-content:start; }
  .badge.registered { background:var(--up); } .badge.drained { background:var(--drain); } .badge.conflict, .badge.down { background:var(--down); }
  .badge.pending { background:#fff; color:var(--muted); border:1px dashed var(--none); }
  .check { display:block; }
  .check .kind { font-weight:600; } .check.pass .kind { color:var(--up); } .check.fail .kind { color:var(--down); }
  .maintenance { background:#fbe7c6; color:#7a4a00; border-radius:6px; padding:6px 10px; margin-bottom:8px; font-weight:600; }
  .detail { color:var(--muted); font-size:12px; white-space:pre-wrap; word-break:break-word; }
</style>
</head>
<body>
<header><h1>Lighthouse</h1><span class="sub">reporter: this machine's services, their checks and registrations</span><span id="ready" class="pill">loading</span></header>
<main>
  <section id="drains" class="card" aria-label="drains"></section>
  <div id="services" style="display:contents"></div>
</main>
<script>${PAGE_SCRIPT}
const REGISTRATION_TITLE = {
  registered: "in discovery: consumers' writers route to it",
  drained: "drained by an operator (lighthouse drain / maintenance): deregistered, checks go on",
  conflict: "another discovery session holds this registration; this reporter stopped taking it back",
  down: "its checks fail: not registered",
  pending: "its checks pass; the registration is being written (or failed: see the error)",
};
function checkLine(check) {
  const state = check.last === null ? "no result yet" : (check.last.passed ? "passed" : "failed") + " (" + check.last.durationMs + " ms)";
  const verdict = check.up ? "up" : "down";
  const line = el("span", { class: "check " + (check.last === null ? "" : check.last.passed ? "pass" : "fail"), "data-check": check.kind }, [
    el("span", { class: "kind" }, [check.kind]),
    " " + verdict + " · last " + state + (check.last ? " at " : ""),
  ]);
  if (check.last) line.append(timeEl(check.last.at));
  line.append(" · streak " + (check.up ? check.fails + "/" + check.fall + " fails" : check.passes + "/" + check.rise + " passes") + (check.running ? " · running" : ""));
  if (check.last && check.last.detail) line.append(el("div", { class: "detail" }, [check.last.detail]));
  return line;
}
function render(state) {
  const ready = document.getElementById("ready");
  ready.textContent = state.ready ? "running" : "starting";
  ready.className = state.ready ? "pill ok" : "pill";
  const drains = state.drains;
  const drainRows = drains.services.map(function (entry) {
    return el("tr", { "data-drain": entry.service }, [el("td", {}, [entry.service]), el("td", {}, [entry.ports === "all" ? "all ports" : entry.ports.join(", ")]), el("td", { class: "wrap" }, [entry.reason]), el("td", {}, [timeEl(entry.since)])]);
  });
  document.getElementById("drains").replaceChildren(
    el("h2", {}, ["Drains"]),
    el("div", { class: "meta" }, [drains.file + (drains.readable ? "" : ": cannot be read, so every service counts as drained")]),
    ...(drains.maintenance ? [el("div", { id: "maintenance", class: "maintenance" }, ["MAINTENANCE since ", timeEl(drains.maintenance.since), ": " + drains.maintenance.reason + " (every service of this machine is drained)"])] : []),
    drainRows.length
      ? el("table", {}, [el("thead", {}, [el("tr", {}, [el("th", {}, ["service"]), el("th", {}, ["ports"]), el("th", {}, ["reason"]), el("th", {}, ["since"])])]), el("tbody", {}, drainRows)])
      : el("div", { class: "empty" }, [drains.maintenance ? "no service drained on its own" : "nothing drained"]),
  );
  const services = state.services.map(function (service) {
    const rows = service.ports.map(function (port) {
      const notes = [];
      if (port.drained) notes.push(el("div", { class: "detail" }, ["drained: " + port.drained]));
      if (port.conflict) notes.push(el("div", { class: "detail" }, ["held by session " + port.conflict.session + (port.conflict.host ? " of " + port.conflict.host : "") + " since " + isoLocal(port.conflict.since)]));
      if (port.lastError) notes.push(el("div", { class: "error" }, [port.lastError]));
      return el("tr", { "data-port": String(port.port), "data-registration": port.registration }, [
        el("td", {}, [String(port.port)]),
        el("td", {}, [port.node]),
        el("td", {}, [el("span", { class: "badge " + port.registration, title: own(REGISTRATION_TITLE, port.registration) || "" }, [port.registration]), ...notes]),
        el("td", { class: "wrap" }, port.checks.length ? port.checks.map(checkLine) : ["no checks"]),
      ]);
    });
    const meta = el("div", { class: "meta" }, ["discovery " + service.discovery + " · " + service.phase]);
    if (service.handover) meta.append(" · handover to a new session since ", timeEl(service.handover.since), service.handover.stalled ? " (stalled: ports " + service.handover.pendingPorts.join(", ") + " not yet registered by it)" : "");
    return el("article", { class: "card", "data-service": service.service }, [
      el("h2", {}, [service.service]),
      meta,
      rows.length
        ? el("table", {}, [el("thead", {}, [el("tr", {}, [el("th", {}, ["port"]), el("th", {}, ["registers as"]), el("th", {}, ["registration"]), el("th", {}, ["checks (last output)"])])]), el("tbody", {}, rows)])
        : el("div", { class: "empty" }, ["no ports"]),
    ]);
  });
  document.getElementById("services").replaceChildren(...(services.length ? services : [el("div", { class: "card empty" }, ["no services configured"])]));
}
pollState("reporter");
</script>
</body>
</html>
`;
