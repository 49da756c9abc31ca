// supervisord-lite's page: the process table, rendered once and then patched from
// server-sent events. No framework, no build step; every request goes to this daemon.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const readOnly = document.querySelector('meta[name="read-only"]').content === "true";
const table = document.getElementById("processes");
const rows = new Map(); // process name -> {tr, cells, data, uptimeAt}
const groups = new Map(); // group name -> tbody
const dirty = new Set();
let dirtyTimer = null;
let lastStats = null;
// For benchmarks and tests: how long after the daemon's event each row changed (s).
window.sdlEventDelays = [];

const COLUMNS = [
  ["name", "Name"], ["state", "State"], ["uptime", "Uptime"], ["pid", "PID"],
  ["restarts", "Restarts"], ["cpu", "CPU"], ["memory", "Memory"], ["health", "Health"],
  ["actions", ""],
];

if (readOnly) document.body.classList.add("readonly");

function $(tag, props, text) {
  const el = document.createElement(tag);
  if (props) Object.assign(el, props);
  if (text !== undefined) el.textContent = text;
  return el;
}

function say(text, isError) {
  const m = document.getElementById("message");
  m.textContent = text;
  m.classList.toggle("error", !!isError);
}

async function api(cmd, args) {
  const res = await fetch("/api/" + cmd, {
    method: "POST",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
    body: JSON.stringify(args || {}),
  });
  return resultOf(res);
}

async function getJSON(url) {
  return resultOf(await fetch(url, {headers: {"Accept": "application/json"}}));
}

// The reply's result; an Error with the daemon's message and code, or the HTTP status
// when the answer is not the API's JSON (a proxy's page, a cut connection).
async function resultOf(res) {
  let reply;
  try {
    reply = await res.json();
  } catch (err) {
    throw new Error("HTTP " + res.status + " " + res.statusText);
  }
  if (!reply.ok) throw Object.assign(new Error(reply.error.message), {code: reply.error.code});
  return reply.result;
}

function hms(seconds) {
  seconds = Math.floor(seconds);
  const h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = seconds % 60;
  return h + ":" + String(m).padStart(2, "0") + ":" + String(s).padStart(2, "0");
}

function bytes(n) {
  if (n == null) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

// -- rendering: every row once ------------------------------------------------------

function actionButtons(names, label) {
  const box = $("div", {className: "actions change"});
  for (const cmd of ["start", "stop", "restart"]) {
    const b = $("button", {type: "button", className: "change"}, cmd[0].toUpperCase() + cmd.slice(1));
    b.dataset.cmd = cmd;
    b.dataset.names = names;
    b.setAttribute("aria-label", b.textContent + " " + label);
    box.append(b);
  }
  return box;
}

function groupBody(name) {
  let tbody = groups.get(name);
  if (tbody) return tbody;
  tbody = $("tbody");
  tbody.dataset.group = name;
  const tr = $("tr", {className: "group"});
  const th = $("th", {colSpan: COLUMNS.length, scope: "rowgroup"});
  const box = $("div", {className: "group-row"});
  box.append($("span", null, "Group " + name), actionButtons(name + ":*", "group " + name));
  th.append(box);
  tr.append(th);
  tbody.append(tr);
  groups.set(name, tbody);
  table.append(tbody);
  return tbody;
}

function makeRow(p) {
  const tr = $("tr", {className: "proc"});
  tr.dataset.name = p.name;
  const cells = {};
  for (const [key, label] of COLUMNS) {
    const td = $("td", {className: "c-" + key});
    if (label && key !== "name") td.dataset.label = label;
    if (["uptime", "pid", "restarts", "cpu", "memory"].includes(key)) td.classList.add("num");
    cells[key] = td;
    tr.append(td);
  }
  cells.nameText = $("span", {className: "name"}, p.name);
  cells.desc = $("span", {className: "desc"});
  cells.name.append(cells.nameText, cells.desc);
  cells.badge = $("span", {className: "state"});
  cells.state.append(cells.badge);
  for (const key of ["cpu", "memory"]) {
    cells[key + "Text"] = $("span", {className: "figure"});
    cells[key + "Chart"] = sparkline(key === "cpu" ? "CPU" : "Memory");
    cells[key].append(cells[key + "Text"], cells[key + "Chart"].svg);
  }
  const acts = actionButtons(p.name, p.name);
  const log = $("button", {type: "button"}, "Log");
  log.dataset.log = p.name;
  log.setAttribute("aria-label", "Log of " + p.name);
  acts.classList.remove("change");
  acts.append(log);
  cells.actions.append(acts);
  const row = {tr, cells, data: {}, uptimeAt: 0};
  rows.set(p.name, row);
  if (chartWatch) chartWatch.observe(tr);
  patch(row, p);
  return row;
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function patch(row, p) {
  const old = row.data;
  const c = row.cells;
  if (old.state !== p.state) {
    c.badge.className = "state s-" + p.state;
    c.badge.textContent = p.state;
    row.tr.dataset.state = p.state;
  }
  // RUNNING's description (pid, uptime) is in the columns already, and would go stale
  if (p.description !== undefined || p.state) {
    const desc = p.description !== undefined ? p.description : row.data.description;
    const hook = p.hook !== undefined ? p.hook : row.data.hook;
    // RUNNING shows only what is not in the columns: a hook (exec_start_post) running
    setText(c.desc, p.state === "RUNNING" ? (hook ? "running " + hook : "") : desc || "");
  }
  setText(c.pid, p.pid == null ? "" : String(p.pid));
  setText(c.restarts, String(p.restarts ?? 0));
  if (p.health !== undefined) setText(c.health, p.health || "");
  row.data = Object.assign({}, old, p);
  row.uptimeAt = performance.now();
  setText(c.uptime, p.uptime ? hms(p.uptime) : "");
  if (p.pid == null) { setText(c.cpuText, ""); setText(c.memoryText, ""); }
  if (p.pid !== old.pid) drawCharts(row, historyOf(row)); // a new run: a new chart
}

function renderAll(list) {
  for (const tbody of groups.values()) tbody.remove();
  groups.clear();
  rows.clear();
  if (chartWatch) chartWatch.disconnect();
  onScreen.clear();
  const frags = new Map();
  for (const p of list) {
    const group = p.group || p.program;
    groupBody(group);
    if (!frags.has(group)) frags.set(group, document.createDocumentFragment());
    frags.get(group).append(makeRow(p).tr);
  }
  for (const [group, frag] of frags) groups.get(group).append(frag);
  applyFilter();
  summarize();
  document.body.dataset.loaded = String(list.length);
}

function summarize() {
  const counts = {};
  for (const row of rows.values()) counts[row.data.state] = (counts[row.data.state] || 0) + 1;
  const parts = Object.keys(counts).sort().map((s) => counts[s] + " " + s.toLowerCase());
  setText(document.getElementById("summary"), rows.size + " processes" + (parts.length ? ": " + parts.join(", ") : ""));
}

// -- live updates --------------------------------------------------------------------

async function loadAll() {
  try {
    renderAll(await getJSON("/api/status"));
  } catch (err) {
    say("Cannot read the status: " + err.message, true);
  }
}

function onEvent(ev) {
  const row = rows.get(ev.process);
  // A notice (ready, unhealthy, hook ...) is no state change: only its row's text changes.
  if (!row || ev.event) { markDirty(ev.process); return; }
  patch(row, {state: ev.to, pid: ev.pid, exitstatus: ev.exitstatus,
              uptime: ev.to === "RUNNING" || ev.to === "STARTING" ? row.data.uptime : 0});
  window.sdlEventDelays.push(Date.now() / 1000 - ev.time);
  if (window.sdlEventDelays.length > 1000) window.sdlEventDelays.shift();
  markDirty(ev.process);
  summarize();
}

// The event carries the state; restarts and the description come from one status
// request for every process that changed in the last moment.
function markDirty(name) {
  dirty.add(name);
  if (!dirtyTimer) dirtyTimer = setTimeout(refreshDirty, 150);
}

// The names go in a POST body: after a bulk stop they are hundreds, far past what a
// request head may hold (431).
const REFRESH_RETRY_MS = 2000;
let refreshError = null;

async function refreshDirty() {
  dirtyTimer = null;
  const names = [...dirty];
  dirty.clear();
  if (names.some((n) => !rows.has(n))) { await loadAll(); return; } // a reload added some
  try {
    for (const p of await api("status", {names})) {
      const row = rows.get(p.name);
      if (row) patch(row, p);
    }
    summarize();
    if (refreshError !== null && document.getElementById("message").textContent === refreshError) say("");
    refreshError = null;
  } catch (err) {
    if (err.code === "NO_SUCH_PROCESS") { await loadAll(); return; } // a reload removed some
    // Never stale in silence: say so, and ask again for the same rows in a while.
    refreshError = "Cannot refresh " + names.length + " changed row" +
      (names.length === 1 ? "" : "s") + ": " + err.message + "; retrying";
    say(refreshError, true);
    for (const n of names) dirty.add(n);
    if (!dirtyTimer) dirtyTimer = setTimeout(refreshDirty, REFRESH_RETRY_MS);
  }
}

function connect() {
  const link = document.getElementById("link");
  const source = new EventSource("/api/events");
  source.onmessage = (e) => {
    const ev = JSON.parse(e.data);
    if (ev.subscribed) {
      link.textContent = "live";
      link.classList.remove("down");
      loadAll(); // after subscribing: no change can fall between the two
    } else if (ev.process) {
      onEvent(ev);
    }
  };
  source.onerror = () => {
    link.textContent = "disconnected; retrying\u2026";
    link.classList.add("down");
  };
}

function tickUptimes() {
  const t = performance.now();
  for (const row of rows.values()) {
    const d = row.data;
    if ((d.state === "RUNNING" || d.state === "STARTING") && d.uptime) {
      setText(row.cells.uptime, hms(d.uptime + (t - row.uptimeAt) / 1000));
    }
  }
}

async function pollStats() {
  if (document.hidden || !rows.size) return;
  let stats;
  try { stats = await getJSON("/api/stats"); } catch (err) { return; }
  const t = performance.now();
  for (const [name, row] of rows) {
    const s = stats[name];
    if (!s) continue;
    // the CPU % is the difference of two readings of the same run (the same pid)
    const prev = lastStats && lastStats.pids[name] === row.data.pid && lastStats.values[name];
    if (prev) {
      const pct = Math.max(0, 100 * (s[0] - prev[0]) / ((t - lastStats.at) / 1000));
      setText(row.cells.cpuText, pct.toFixed(1) + "%");
      remember(row, pct, s[1]);
    } else {
      setText(row.cells.cpuText, s[0].toFixed(1) + " s");
    }
    setText(row.cells.memoryText, bytes(s[1]));
    if (!chartWatch || onScreen.has(row)) drawCharts(row, historyOf(row));
  }
  const pids = {};
  for (const [name, row] of rows) pids[name] = row.data.pid;
  lastStats = {at: t, values: stats, pids};
  afterFrame(t, window.sdlStatsFrames);
}

// -- charts: each process's CPU and memory over the last minutes -------------------------
// Kept here, from the figures the page polls anyway: the daemon keeps no history.

const CHART_POINTS = 120;  // 10 minutes of polls every 5 s, drawn over the chart's width
const CHART_W = 48, CHART_H = 18;
const CHART_MIN_SPAN = 12;  // a young history is drawn over this many points, not stretched
const SVG = "http://www.w3.org/2000/svg";
const pastFigures = new Map();  // process name -> {pid, cpu: [], mem: []}, oldest first
// For benchmarks and tests: ms from a stats answer to the frame that shows it painted.
window.sdlStatsFrames = [];

// Only the charts on (or near) the screen are drawn: with 1000 rows, redrawing 2000
// charts nobody sees made every poll a frame of half a second. A row scrolled into
// view draws its chart then, from the history kept for every row.
const onScreen = new Set();
const chartWatch = "IntersectionObserver" in window ? new IntersectionObserver((entries) => {
  for (const e of entries) {
    const row = rows.get(e.target.dataset.name);
    if (!row || row.tr !== e.target) continue;
    if (!e.isIntersecting) { onScreen.delete(row); continue; }
    onScreen.add(row);
    drawCharts(row, historyOf(row));
  }
}, {rootMargin: "400px 0px"}) : null;

// A history is one run's: a row whose pid changed while the page was not told (a full
// reload of the rows after the event stream reconnected) starts a new chart too.
function historyOf(row) {
  const h = pastFigures.get(row.data.name);
  return h && h.pid === row.data.pid ? h : null;
}

function remember(row, cpu, mem) {
  let h = historyOf(row);
  if (!h) pastFigures.set(row.data.name, h = {pid: row.data.pid, cpu: [], mem: []});
  h.cpu.push(cpu);
  h.mem.push(mem);
  if (h.cpu.length > CHART_POINTS) { h.cpu.shift(); h.mem.shift(); }
}

function sparkline(what) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", `0 0 ${CHART_W} ${CHART_H}`);
  svg.setAttribute("preserveAspectRatio", "none");  // as wide as its box (wider on phones)
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", what + ": no history yet");
  const area = document.createElementNS(SVG, "polygon");
  const line = document.createElementNS(SVG, "polyline");
  area.setAttribute("class", "spark-area");
  line.setAttribute("class", "spark-line");
  svg.append(area, line);
  return {svg, area, line, what, drawn: ""};
}

// CPU on a fixed 0-100 % scale (more when a tree uses several cores), so that rows
// compare at a glance; memory from 0 to the process's own highest, to show its trend.
function drawCharts(row, h) {
  drawOne(row.cells.cpuChart, h ? h.cpu : [], (v) => v.toFixed(1) + "%", 100);
  drawOne(row.cells.memoryChart, h ? h.mem : [], bytes, 1);
}

function drawOne(chart, values, label, floor) {
  let points = "";
  if (values.length > 1) {
    const top = Math.max(floor, ...values);
    const step = CHART_W / Math.max(CHART_MIN_SPAN - 1, values.length - 1);
    const x0 = CHART_W - step * (values.length - 1);
    points = values.map((v, i) =>
      (x0 + i * step).toFixed(1) + "," + (CHART_H - 1 - (CHART_H - 2) * v / top).toFixed(1)).join(" ");
  }
  if (points === chart.drawn) return;
  chart.drawn = points;
  chart.line.setAttribute("points", points);
  chart.area.setAttribute("points", points && `${points.slice(0, points.indexOf(","))},${CHART_H} ${points} ${CHART_W},${CHART_H}`);
  const minutes = Math.round(values.length * 5 / 60) || "<1";
  chart.svg.setAttribute("aria-label", values.length > 1
    ? `${chart.what} over the last ${minutes} min: ${label(Math.min(...values))} to ${label(Math.max(...values))}, now ${label(values[values.length - 1])}`
    : chart.what + ": no history yet");
}

// Calls back once the browser has painted the frame after `start` (a message posted in
// a requestAnimationFrame runs after that frame's paint).
function afterFrame(start, into) {
  requestAnimationFrame(() => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      into.push(performance.now() - start);
      if (into.length > 100) into.shift();
    };
    channel.port2.postMessage(0);
  });
}

// -- filter and actions ----------------------------------------------------------------

function applyFilter() {
  const q = document.getElementById("filter").value.trim().toLowerCase();
  let shown = 0;
  for (const row of rows.values()) {
    const d = row.data;
    const hit = !q || row.tr.dataset.name.toLowerCase().includes(q) ||
      (d.group || "").toLowerCase().includes(q) || (d.state || "").toLowerCase() === q;
    row.tr.hidden = !hit;
    if (hit) shown++;
  }
  for (const tbody of groups.values()) {
    tbody.hidden = ![...tbody.querySelectorAll("tr.proc")].some((tr) => !tr.hidden);
  }
  document.getElementById("empty").hidden = shown > 0 || rows.size === 0;
}

async function runAction(button) {
  const cmd = button.dataset.cmd;
  const names = button.dataset.names;
  button.disabled = true;
  const host = button.dataset.host;  // a row of an [http] hosts daemon
  say(cmd + " " + names + (host ? " on " + host : "") + "\u2026");
  try {
    const results = host
      ? await api("hosts/" + cmd, {host: host, names: [names]})
      : await api(cmd, {names: [names]});
    const failed = results.filter((r) => !r.ok);
    if (failed.length) say(failed.map((r) => r.name + ": " + r.message).join("; "), true);
    else say(cmd + " " + names + ": done");
  } catch (err) {
    say(cmd + " " + names + ": " + err.message, true);
  } finally {
    button.disabled = false;
  }
}

// -- the log tail ------------------------------------------------------------------------

let logSource = null;
let logName = null;
const MAX_LOG_CHARS = 200000;

function openLog(name) {
  logName = name;
  document.getElementById("log-title").textContent = "Log of " + name;
  const dialog = document.getElementById("log");
  if (!dialog.open) dialog.showModal();
  followLog();
}

function followLog() {
  if (logSource) logSource.close();
  const pre = document.getElementById("log-text");
  pre.textContent = "";
  const stream = document.getElementById("log-stream").value;
  const url = "/api/tail?name=" + encodeURIComponent(logName) + "&stream=" + stream + "&lines=200&follow=1";
  logSource = new EventSource(url);
  logSource.onmessage = (e) => {
    const item = JSON.parse(e.data);
    if (item.data === undefined) return;
    pre.append(item.data);
    if (pre.textContent.length > MAX_LOG_CHARS) pre.textContent = pre.textContent.slice(-MAX_LOG_CHARS / 2);
    if (document.getElementById("log-follow").checked) pre.scrollTop = pre.scrollHeight;
  };
  logSource.addEventListener("error", (e) => {
    if (e.data) { pre.append("\n[" + JSON.parse(e.data).error.message + "]\n"); logSource.close(); }
  });
}

function closeLog() {
  if (logSource) logSource.close();
  logSource = null;
  const dialog = document.getElementById("log");
  if (dialog.open) dialog.close();
}

document.addEventListener("click", (e) => {
  const button = e.target.closest("button");
  if (!button) return;
  if (button.dataset.cmd) runAction(button);
  else if (button.dataset.log) openLog(button.dataset.log);
  else if (button.id === "log-close") closeLog();
});
document.getElementById("log").addEventListener("close", () => { if (logSource) logSource.close(); });
document.getElementById("log-stream").addEventListener("change", followLog);
document.getElementById("filter").addEventListener("input", applyFilter);

// -- [http] hosts: other daemons, over ssh, a table each (polled: they have no stream here)

const HOSTS_POLL_MS = 2000;

function hostSection(h) {
  const section = $("section", {className: "host"});
  section.dataset.host = h.host;
  const head = $("h2", null, h.host + " \u2014 " + h.state);
  if (h.error) head.append($("span", {className: "desc"}, " (" + h.error + ")"));
  section.append(head);
  if (!h.processes.length) return section;
  const t = $("table", {className: "processes"});
  const tbody = $("tbody");
  for (const p of h.processes) {
    const tr = $("tr", {className: "proc"});
    tr.dataset.name = p.name;
    tr.dataset.state = p.state;
    const badge = $("span", {className: "state"}, p.state);
    const acts = actionButtons(p.name, p.name + " on " + h.host);
    for (const b of acts.querySelectorAll("button")) b.dataset.host = h.host;
    const cells = [$("td", {className: "c-name"}, p.name), $("td", {className: "c-state"}),
                   $("td", {className: "c-desc"}, p.description), $("td", {className: "c-actions"})];
    cells[1].append(badge);
    cells[3].append(acts);
    tr.append(...cells);
    tbody.append(tr);
  }
  t.append(tbody);
  section.append(t);
  return section;
}

async function pollHosts() {
  let hosts;
  try {
    hosts = await getJSON("/api/hosts");
  } catch (err) {
    setTimeout(pollHosts, HOSTS_POLL_MS);  // this daemon's own link status says why
    return;
  }
  let box = document.getElementById("hosts");
  if (!hosts.length) { if (box) box.remove(); return; }  // none configured: stop asking
  setTimeout(pollHosts, HOSTS_POLL_MS);
  if (!box) {
    box = $("div", {id: "hosts", className: "hosts"});
    document.querySelector("main").append(box);
  }
  if (box.contains(document.activeElement)) return;  // never re-render under the user's hand
  box.replaceChildren(...hosts.map(hostSection));
}

connect();
pollHosts();
setInterval(tickUptimes, 1000);
setInterval(pollStats, 5000);
setTimeout(pollStats, 1000);
