/**
 * What the writer's and the reporter's pages share: the look, and the
 * script helpers (elements built from text, never from HTML; times in the
 * browser's zone with their offset).
 */
export const PAGE_CSS = `
  :root { --bg:#f5f6f8; --card:#fff; --ink:#1d2330; --muted:#6b7385; --line:#e3e6ec; --up:#1f9d55; --down:#d64545; --maint:#8a63d2; --drain:#d98b1f; --none:#9aa1ae; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:var(--bg); }
  header { background:#14213d; color:#fff; padding:14px 24px; display:flex; align-items:baseline; gap:16px; flex-wrap:wrap; }
  header h1 { margin:0; font-size:18px; font-weight:600; letter-spacing:.3px; }
  header .sub { color:#b8c1d9; font-size:13px; }
  header a { color:#cfe0ff; font-size:13px; }
  header .pill { margin-left:auto; font-size:12px; padding:3px 10px; border-radius:999px; background:#2b3a5e; }
  header .pill.ok { background:var(--up); }
  .card { overflow-x:auto; background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px 16px; box-shadow:0 1px 2px rgba(20,33,61,.05); }
  .card h2 { margin:0 0 2px; font-size:15px; display:flex; gap:8px; align-items:center; flex-wrap:wrap; }
  .card .meta { color:var(--muted); font-size:12px; margin-bottom:8px; }
  .tag { font-size:11px; font-weight:500; color:#34406b; background:#e8ecf7; padding:1px 7px; border-radius:999px; }
  .tag.warn { color:#7a4a00; background:#fbe7c6; }
  table { width:100%; border-collapse:collapse; }
  th { text-align:left; font-weight:500; color:var(--muted); font-size:12px; padding:4px 0; border-bottom:1px solid var(--line); }
  td { font-size:13px; padding:5px 0; border-bottom:1px solid var(--line); font-variant-numeric: tabular-nums; vertical-align:top; }
  tr:last-child td { border-bottom:0; }
  td, th { padding-right:8px; white-space:nowrap; } td:last-child, th:last-child { padding-right:0; }
  td.num, th.num { text-align:right; padding-left:6px; }
  td.wrap { white-space:normal; color:var(--muted); font-size:12px; }
  .badge { white-space:nowrap; display:inline-block; min-width:54px; text-align:center; font-size:11px; font-weight:600; color:#fff; padding:2px 6px; border-radius:4px; background:var(--none); }
  .badge.up { background:var(--up); } .badge.down { background:var(--down); } .badge.maintenance { background:var(--maint); } .badge.draining { background:var(--drain); }
  .badge.unknown { background:#fff; color:var(--muted); border:1px dashed var(--none); }
  .empty { color:var(--muted); font-style:italic; padding:6px 0; }
  .error { color:var(--down); font-size:12px; }
  time { font-variant-numeric: tabular-nums; }
`;

export const PAGE_SCRIPT = `
"use strict";
function el(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children || []) node.append(child);
  return node;
}
function pad(n) { return String(Math.floor(Math.abs(n))).padStart(2, "0"); }
/** ISO 8601 in the browser's zone, with its offset: 2026-11-29T12:13:53+01:00 */
function isoLocal(value) {
  const d = new Date(value);
  const offset = -d.getTimezoneOffset();
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) +
    (offset >= 0 ? "+" : "-") + pad(offset / 60) + ":" + pad(offset % 60);
}
function timeEl(value) { return value ? el("time", { datetime: value, title: value }, [isoLocal(value)]) : el("span", {}, ["-"]); }
/** obj[key] when obj has it as its own: names like "constructor" or "__proto__" are valid cluster names */
function own(obj, key) { return obj && Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined; }
function num(value) { return value === null || value === undefined ? "-" : String(value); }
/** Fetches /api/state every second and hands it to the page's render(); \`who\` names the daemon when it cannot be reached. */
async function pollState(who) {
  try {
    const response = await fetch("/api/state", { cache: "no-store" });
    if (response.ok) render(await response.json());
  } catch (error) {
    document.getElementById("ready").textContent = who + " unreachable";
  }
  setTimeout(() => pollState(who), 1000);
}
`;
