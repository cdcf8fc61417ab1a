// ersgrid live dashboard: one server-sent event stream (/api/stream) drives every view.
// Every request carries the bearer token of the login (kept in this tab's sessionStorage).
// Operators and admins also get the controls (DR events, limit overrides, strategy, alarm
// acknowledgement); a viewer's page hides and disables them, and the API refuses them (403).
"use strict";

const TOKEN_KEY = "ersgrid-token";
let streamAbort = null;

function authHeaders(extra = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

class LoggedOut extends Error {}

async function api(path, options = {}) {
  const resp = await fetch(path, { ...options, headers: authHeaders(options.headers || {}) });
  if (resp.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    askLogin("please log in");
    throw new LoggedOut(path);
  }
  return resp;
}

function askLogin(message) {
  if (streamAbort) { streamAbort.abort(); streamAbort = null; }
  text("link", "logged out");
  text("login-error", message || "");
  const dialog = document.getElementById("login-dialog");
  if (!dialog.open) { dialog.showModal(); }
}

async function logIn(event) {
  event.preventDefault();
  const form = new URLSearchParams({
    username: document.getElementById("login-user").value,
    password: document.getElementById("login-password").value,
  });
  const resp = await fetch("/api/token", { method: "POST", body: form });
  const body = await resp.json();
  if (!resp.ok) {
    text("login-error", typeof body.detail === "string" ? body.detail : "cannot log in");
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, body.access_token);
  document.getElementById("login-password").value = "";
  document.getElementById("login-dialog").close();
  start();
}

function logOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  setRole(null);
  text("user", "–");
  document.getElementById("logout").hidden = true;
  askLogin("");
}

const plotCfg = { displayModeBar: false, responsive: true };
const margin = { l: 50, r: 50, t: 10, b: 35 };
let corridor = null;

function fmt(x, digits = 0) {
  return x === null || x === undefined ? "–" : Number(x).toLocaleString("en", {
    maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function text(id, value) { document.getElementById(id).textContent = value; }

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
    '"': "&quot;", "'": "&#39;" }[c]));
}

async function loadCorridor() {
  const resp = await api("/api/scenario");
  corridor = await resp.json();
  text("title", `ersgrid — ${corridor.scenario}: ${corridor.description}`);
  const options = corridor.substations.map((s) => `<option value="${esc(s.id)}">${esc(s.id)}</option>`).join("");
  document.getElementById("dr-subs").innerHTML = options;
  document.getElementById("ov-sub").innerHTML = options;
  document.getElementById("trend-sub").innerHTML = `<option value="">all (corridor)</option>${options}`;
}

// ---- who may steer ---------------------------------------------------------------------
let mayOperate = false;

function setRole(role) {
  mayOperate = role === "operator" || role === "admin";
  document.body.classList.toggle("may-operate", mayOperate);
  for (const el of document.querySelectorAll(".op, .op-form input, .op-form select")) {
    el.disabled = !mayOperate;
  }
}

// ---- operator actions ------------------------------------------------------------------
function say(message, bad) {
  const el = document.getElementById("op-message");
  el.textContent = message;
  el.className = bad ? "bad" : "ok";
}

function problem(body) {
  // the API's errors: {detail: "..."} or FastAPI's [{loc, msg}] naming the field
  if (typeof body.detail === "string") { return body.detail; }
  if (Array.isArray(body.detail)) {
    return body.detail.map((d) => `${(d.loc || []).filter((x) => x !== "body").join(".")}: ${d.msg}`).join("; ");
  }
  return "the service refused the request";
}

async function send(path, method, body, done) {
  const options = { method };
  if (body !== undefined) {
    options.headers = { "Content-Type": "application/json" };
    options.body = JSON.stringify(body);
  }
  try {
    const resp = await api(path, options);
    const answer = await resp.json().catch(() => ({}));
    if (!resp.ok) { say(`${method} ${path}: ${problem(answer)}`, true); return null; }
    say(done(answer), false);
    return answer;
  } catch (err) {
    if (!(err instanceof LoggedOut)) { say(`${method} ${path}: ${err}`, true); }
    return null;
  }
}

function value(id) { return document.getElementById(id).value; }

async function createDr(event) {
  event.preventDefault();
  const subs = Array.from(document.getElementById("dr-subs").selectedOptions).map((o) => o.value);
  await send("/api/dr-events", "POST", {
    start: value("dr-start"), end: value("dr-end"), import_limit_kw: Number(value("dr-limit")),
    substations: subs, reason: value("dr-reason"),
  }, (e) => `DR event ${e.id} ${e.status}: import cap ${fmt(e.import_limit_kw)} kW on ${e.substations.join(", ")}`);
}

async function cancelDr(id) {
  await send(`/api/dr-events/${id}`, "DELETE", undefined, (e) => `DR event ${e.id} cancelled`);
}

async function createOverride(event) {
  event.preventDefault();
  await send("/api/limit-overrides", "POST", {
    substation: value("ov-sub"), start: value("ov-start"), end: value("ov-end"),
    limit_kw: Number(value("ov-limit")), reason: value("ov-reason"),
  }, (o) => `limit override ${o.id} ${o.status}: ${o.substation} at most ${fmt(o.limit_kw)} kW`);
}

async function cancelOverride(id) {
  await send(`/api/limit-overrides/${id}`, "DELETE", undefined, (o) => `limit override ${o.id} cancelled`);
}

async function switchStrategy(event) {
  event.preventDefault();
  await send("/api/strategy", "PUT", { strategy: value("strategy-select") }, (s) => s.pending ?
    `${s.pending} takes over from ${s.strategy} at ${s.takes_over_at ? s.takes_over_at.slice(11, 16) : "the next step"}` :
    `${s.strategy} stays in force`);
}

async function loadStrategies() {
  const view = await (await api("/api/strategy")).json();
  document.getElementById("strategy-select").innerHTML = view.available.map((name) =>
    `<option${name === view.strategy ? " selected" : ""}>${esc(name)}</option>`).join("");
}

// datetime-local values in scenario local time: "YYYY-MM-DDTHH:MM" (the API reads a time
// without offset as scenario local time)
function addMinutes(local, minutes) {
  return new Date(Date.parse(`${local}:00Z`) + minutes * 60000).toISOString().slice(0, 16);
}

function fillTimes(state) {
  const now = state.time.slice(0, 16);
  for (const [start, end] of [["dr-start", "dr-end"], ["ov-start", "ov-end"]]) {
    const a = document.getElementById(start);
    if (!a.value) { a.value = now; document.getElementById(end).value = addMinutes(now, 60); }
  }
}

function drawMap(state) {
  const segs = state.segments;
  if (!segs.length) { return; }
  const traces = [];
  for (const dir of ["A", "B"]) {
    const idx = corridor.segments.map((s, i) => [s, i]).filter(([s]) => s.direction === dir);
    traces.push({
      type: "scatter", mode: "markers", name: `direction ${dir}`,
      x: idx.map(([s]) => (s.start_km + s.end_km) / 2),
      y: idx.map(() => (dir === "A" ? 1 : 0)),
      text: idx.map(([s, i]) => `${s.id}<br>${fmt(segs[i].power_kw)} of ${fmt(s.rating_kw)} kW` +
        `<br>limit ${fmt(segs[i].limit_kw)} kW<br>${segs[i].vehicles} vehicles` +
        `<br>${fmt(segs[i].temperature_c, 1)} °C`),
      hoverinfo: "text",
      marker: {
        symbol: "square", size: 14,
        color: idx.map(([s, i]) => (segs[i].power_kw || 0) / s.rating_kw),
        cmin: 0, cmax: 1, showscale: dir === "A",
        colorscale: [[0, "#cfd8dc"], [0.05, "#66bb6a"], [0.6, "#fbc02d"], [1, "#c62828"]],
        colorbar: { title: { text: "load / rating" }, len: 0.9 },
        line: { width: idx.map(([, i]) => (segs[i].safe_limit ? 2 : 0)), color: "#00f" },
      },
    });
  }
  traces.push({
    type: "scatter", mode: "markers+text", name: "substations",
    x: corridor.substations.map((s) => s.position_km), y: corridor.substations.map(() => 0.5),
    text: corridor.substations.map((s) => s.id), textposition: "top center",
    marker: { symbol: "triangle-up", size: 12, color: "#1d2330" }, hoverinfo: "text",
  });
  Plotly.react("map", traces, {
    margin, showlegend: false, xaxis: { title: { text: "road km" }, range: [0, corridor.length_km] },
    yaxis: { tickvals: [0, 1], ticktext: ["B", "A"], range: [-0.5, 1.6] },
    shapes: corridor.interchanges.map((ic) => ({ type: "line", x0: ic.position_km,
      x1: ic.position_km, y0: -0.4, y1: 1.4, line: { color: "#ccc", dash: "dot" } })),
  }, plotCfg);
}

function drawSubs(state) {
  const subs = state.substations;
  if (!subs.length) { return; }
  const ids = subs.map((s) => s.id);
  const limit = subs.map((s) => Math.min(s.rating_kw + s.other_load_kw,
    s.import_cap_kw === null ? Infinity : s.import_cap_kw));
  Plotly.react("subs", [
    { type: "bar", name: "import kW", x: ids, y: subs.map((s) => s.import_kw), marker: { color: "#3b7dd8" } },
    { type: "bar", name: "limit kW", x: ids, y: limit, marker: { color: "#d0d4dc" } },
    { type: "bar", name: "chargers kW", x: ids, y: subs.map((s) => s.charger_kw), marker: { color: "#8e6fd8" } },
    { type: "bar", name: "batteries kW", x: ids, y: subs.map((s) => s.storage_kw), marker: { color: "#4a9d5b" } },
  ], { margin, barmode: "group", legend: { orientation: "h" }, yaxis: { title: { text: "kW" } } },
  plotCfg);
}

function drawHistory(history, currency) {
  const t = history.map((h) => h.time);
  const top = (xs, f) => Math.max(1e-9, ...xs) * f;  // keep price and CO2 lines apart
  const priceTop = top(history.map((h) => h.price_per_kwh), 1.6);
  const co2Top = top(history.map((h) => h.co2_kg_per_kwh * 1000), 1.1);
  Plotly.react("history", [
    { type: "scatter", name: "road kW", x: t, y: history.map((h) => h.road_kw), line: { color: "#3b7dd8" } },
    { type: "scatter", name: "road limit kW", x: t, y: history.map((h) => h.road_limit_kw),
      line: { color: "#999", dash: "dot" } },
    { type: "scatter", name: `price ${currency}/kWh`, x: t, y: history.map((h) => h.price_per_kwh),
      yaxis: "y2", line: { color: "#d8823b", shape: "hv" } },
    { type: "scatter", name: "CO2 g/kWh", x: t, y: history.map((h) => h.co2_kg_per_kwh * 1000),
      yaxis: "y3", line: { color: "#4a9d5b", shape: "hv" } },
  ], { margin: { ...margin, r: 10 }, legend: { orientation: "h" },
    xaxis: { domain: [0, 0.84] }, yaxis: { title: { text: "kW" }, rangemode: "tozero" },
    yaxis2: { overlaying: "y", side: "right", anchor: "x", title: { text: currency + "/kWh" },
      range: [0, priceTop] },
    yaxis3: { overlaying: "y", side: "right", anchor: "free", position: 0.96,
      title: { text: "g CO2/kWh" }, range: [0, co2Top] } }, plotCfg);
}

function drawSoc(soc) {
  const mids = soc.counts.map((_, i) => (soc.bins[i] + soc.bins[i + 1]) / 2);
  Plotly.react("soc", [{ type: "bar", x: mids, y: soc.counts, width: 0.09, marker: { color: "#6a5acd" } }],
    { margin, xaxis: { title: { text: "state of charge" }, range: [0, 1] },
      yaxis: { title: { text: "vehicles" } } }, plotCfg);
}

function drawTraffic(history) {
  const t = history.map((h) => h.time);
  Plotly.react("traffic-plot", [
    { type: "bar", name: "entered", x: t, y: history.map((h) => h.ers_entered),
      marker: { color: "#3b7dd8" }, opacity: 0.6 },
    { type: "scatter", name: "forecast", x: t, y: history.map((h) => h.ers_entered_forecast),
      line: { color: "#d8823b" } },
  ], { margin, legend: { orientation: "h" }, yaxis: { title: { text: "vehicles / 15 min" } } },
  plotCfg);
}

function drawLedger(ledger) {
  if (!ledger) { text("ledger-state", "off"); text("ledger-summary", "Ledger: off"); return; }
  text("ledger-summary", ledgerSentence(ledger));
  text("ledger-json", JSON.stringify(ledger, null, 1));
  const verified = ledger.verified === null ? "not yet verified" :
    ledger.verified ? "verified" : "NOT VERIFIED";
  text("ledger-state", `${fmt(ledger.blocks)} blocks, ${verified}`);
  const a = ledger.last_anchor;
  const rows = [
    ["records", fmt(ledger.records) + (ledger.records_pending ? ` (+${fmt(ledger.records_pending)} pending)` : "")],
    ["blocks", fmt(ledger.blocks)],
    ["periods settled", `${fmt(ledger.periods_settled)} (${ledger.settlement_balanced ? "balanced" : "NOT balanced"})`],
    ["roots anchored", `${fmt(ledger.roots_anchored)} on ${esc(ledger.chain)}`],
    ["last anchored root", a ? `${a.kind} ${a.key}: ${esc(a.root)}` : "–"],
    ["its transaction", a ? `${esc(a.tx)} in chain block ${a.block_number}` : "–"],
    ["verification", `<span id="ledger-verified" class="${ledger.verified === false ? "bad" : ""}">` +
      `${verified}</span>` + (ledger.verified_at ? ` at ${esc(ledger.verified_at.slice(0, 16))}` +
      ` (${fmt(ledger.verify_s, 2)} s)` : "") + (ledger.problem ? `: ${esc(ledger.problem)}` : "")],
  ];
  document.getElementById("ledger-table").innerHTML = rows.map(([k, v]) =>
    `<tr><th>${k}</th><td class="mono">${v}</td></tr>`).join("");
}

async function ack(id) {
  // acknowledged in the name of the user logged in
  await send(`/api/alarms/${id}/ack`, "POST", undefined, (a) => `alarm ${a.id} acknowledged by ${a.acknowledged_by}`);
}

function drawAlarms(alarms) {
  document.getElementById("alarm-list").innerHTML = alarms.map((a) =>
    `<tr class="${a.severity}${a.acknowledged ? " acked" : ""}" data-id="${a.id}">` +
    `<td>${a.id}</td><td>${esc(a.sim_time.slice(0, 16))}</td><td>${a.severity}</td>` +
    `<td>${esc(a.kind)}</td><td>${esc(a.subject)}</td><td class="msg">${esc(a.message)}` +
    `${a.active ? "" : " (cleared)"}</td><td>${a.acknowledged ? "ack" : mayOperate ?
      `<button class="op" onclick="ack(${a.id})">ack</button>` : ""}</td></tr>`).join("");
}

function drawDr(events) {
  document.getElementById("dr-list").innerHTML = events.map((e) =>
    `<tr><td>${e.id}</td><td>${esc(e.start.slice(0, 16))}</td><td>${esc(e.end.slice(0, 16))}</td>` +
    `<td>${esc(e.substations.join(", "))}</td><td>${fmt(e.import_limit_kw)}</td>` +
    `<td>${e.status}</td><td>${mayOperate && (e.status === "scheduled" || e.status === "active") ?
      `<button class="op" onclick="cancelDr(${e.id})">cancel</button>` : ""}</td></tr>`).join("");
}

function drawOverrides(overrides) {
  document.getElementById("override-list").innerHTML = overrides.map((o) =>
    `<tr data-id="${o.id}"><td>${o.id}</td><td>${esc(o.substation)}</td><td>${esc(o.start.slice(0, 16))}</td>` +
    `<td>${esc(o.end.slice(0, 16))}</td><td>${fmt(o.limit_kw)}</td><td>${o.status}</td>` +
    `<td>${mayOperate && (o.status === "scheduled" || o.status === "active") ?
      `<button class="op" onclick="cancelOverride(${o.id})">cancel</button>` : ""}</td></tr>`).join("");
}

function drawSubTable(state) {
  const cell = (cls, x, digits = 0) => `<td class="num ${cls}">${fmt(x, digits)}</td>`;
  document.getElementById("sub-rows").innerHTML = state.substations.map((s) =>
    `<tr data-sub="${esc(s.id)}"><th>${esc(s.id)}</th>${cell("road", s.road_kw)}` +
    `${cell("road-limit", s.road_limit_kw)}${cell("import", s.import_kw, 1)}` +
    `${cell("cap", s.import_cap_kw)}${cell("dr-cap", s.dr_cap_kw)}${cell("override", s.override_kw)}` +
    `${cell("pv", s.pv_kw)}${cell("wind", s.wind_kw)}${cell("storage", s.storage_kw)}` +
    `${cell("storage-kwh", s.storage_kwh)}` +
    `<td class="num soc">${s.storage_soc === null ? "–" : fmt(100 * s.storage_soc, 1) + " %"}</td>` +
    `${cell("v2g", s.v2g_kw, 1)}${cell("chargers", s.charger_kw)}</tr>`).join("");
}

function drawViolations(v) {
  const parts = [];
  if (v.rating) { parts.push(`${fmt(v.rating)} rating (twin steps)`); }
  if (v.import) { parts.push(`${fmt(v.import)} import`); }
  if (v.dr) { parts.push(`${fmt(v.dr)} DR cap or override` + (v.override ? ` (${fmt(v.override)} override)` : "")); }
  if (v.export) { parts.push(`${fmt(v.export)} export`); }
  text("violations", parts.length ? parts.join(", ") : "none");
  document.getElementById("violations").className = parts.length ? "bad" : "";
}

function drawStrategy(view) {
  text("strategy", view.strategy + (view.pending ? ` → ${view.pending}` : ""));
  text("strategy-now", view.strategy);
  text("strategy-pending", view.pending ? `switching to ${view.pending} at ` +
    `${view.takes_over_at ? view.takes_over_at.slice(11, 16) : "the next step"}` :
    view.changes.length ? `last switch: ${view.changes.at(-1).from} → ${view.changes.at(-1).to} ` +
      `at ${view.changes.at(-1).time.slice(11, 16)}` : "");
}

// ---- adapters and ledger in words ------------------------------------------------------
function ago(seconds) {
  if (seconds === null || seconds === undefined) { return "no message yet"; }
  return seconds < 90 ? `last message ${fmt(seconds)} s ago` : `last message ${fmt(seconds / 60)} min ago`;
}

function ledgerSentence(l) {
  const verified = l.verified === null ? "not yet verified" : l.verified ?
    `last verified ok at ${l.verified_at ? l.verified_at.slice(0, 16).replace("T", " ") : "–"}` :
    `VERIFICATION FAILED at ${(l.verified_at || "").slice(0, 16).replace("T", " ")}${l.problem ? ": " + l.problem : ""}`;
  return `Ledger: ${fmt(l.periods_settled)} periods settled` +
    `${l.periods_settled ? (l.settlement_balanced ? " (balanced)" : " (NOT balanced)") : ""}, ` +
    `${fmt(l.blocks)} blocks of ${fmt(l.records)} records, ${verified}`;
}

function adapterSentences(adapters) {
  const out = [];
  const m = adapters.mqtt;
  if (m) {
    const reporting = m.devices - m.stale.length;
    const rejected = Object.values(m.rejected || {}).reduce((a, b) => a + b, 0);
    out.push(m.connected ? `MQTT: ${fmt(reporting)} of ${fmt(m.segments)} segments reporting, ` +
      `${ago(m.last_message_s_ago)}; ${fmt(m.accepted)} messages accepted, ${fmt(rejected)} rejected` +
      (m.stale.length ? `; silent: ${m.stale.join(", ")}` : "") :
      `MQTT: NOT CONNECTED to the broker at ${m.broker}`);
  } else { out.push("MQTT: not configured (the twin's own meters feed the store)"); }
  const o = adapters.ocpp;
  out.push(o ? `OCPP: ${fmt(o.connected)} of ${fmt(o.stations)} charging stations connected, ` +
    (o.last_message ? `last message at ${o.last_message.replace("T", " ").replace("Z", " UTC")}` : "no message yet") :
    "OCPP: not configured (no charging-station management)");
  const adr = adapters.openadr;
  out.push(adr ? `OpenADR: ${Object.entries(adr).map(([k, v]) => `${k} ${v}`).join(", ")}` :
    "OpenADR: no VEN in this service (DR events come from the operator)");
  const st = adapters.storage;
  if (st) {
    out.push(`Store (${st.dialect}): ${fmt(st.telemetry_rows_written)} telemetry rows written, ` +
      `${fmt(st.pending)} waiting, ${st.write_errors ? `${fmt(st.write_errors)} WRITE ERRORS (${st.last_error})` : "no write errors"}`);
  }
  const an = adapters.anomaly;
  if (an) {
    const n = Object.values(an.samples || {}).reduce((a, b) => a + b, 0);
    out.push(`Anomaly detection: ${fmt(n)} samples learnt`);
  }
  out.push(adapters.ledger ? ledgerSentence(adapters.ledger) : "Ledger: off");
  return out;
}

function drawAdapters(adapters) {
  document.getElementById("adapter-summary").innerHTML = adapterSentences(adapters)
    .map((line) => `<li class="${/NOT|FAILED|ERRORS/.test(line) ? "bad" : ""}">${esc(line)}</li>`).join("");
  text("adapters", JSON.stringify(adapters, null, 1));
}

// ---- history from the store ------------------------------------------------------------
const TREND_SERIES = [
  ["road_kw", "road kW", "#3b7dd8"], ["import_kw", "grid import kW", "#1d2330"],
  ["import_cap_kw", "import cap kW", "#c62828"], ["pv_kw", "PV kW", "#fbc02d"],
  ["wind_kw", "wind kW", "#26a69a"], ["storage_kw", "batteries kW", "#4a9d5b"],
  ["v2g_kw", "V2G kW", "#8e6fd8"],
];

function trendQuery() {
  const q = new URLSearchParams();
  if (value("trend-start")) { q.set("start", value("trend-start")); }
  if (value("trend-end")) { q.set("end", value("trend-end")); }
  if (value("trend-sub")) { q.set("substation", value("trend-sub")); }
  return q.toString();
}

async function showTrends(event) {
  if (event) { event.preventDefault(); }
  const resp = await api(`/api/trends?${trendQuery()}`);
  const body = await resp.json();
  if (!resp.ok) { text("trend-info", problem(body)); return; }
  // one point per time: a substation's values, or the corridor's sum (a cap only where every
  // substation has one)
  const byTime = new Map();
  for (const row of body.rows) {
    const acc = byTime.get(row.time) || {};
    for (const [key] of TREND_SERIES) {
      const v = row[key];
      acc[key] = acc[key] === null || v === null ? null : (acc[key] || 0) + v;
    }
    byTime.set(row.time, acc);
  }
  const times = Array.from(byTime.keys());
  const traces = TREND_SERIES.filter(([key]) => times.some((t) => byTime.get(t)[key]))
    .map(([key, name, color]) => ({ type: "scatter", mode: "lines", name, x: times,
      y: times.map((t) => byTime.get(t)[key]), line: { color, dash: key === "import_cap_kw" ? "dot" : "solid" } }));
  Plotly.react("trend-plot", traces, { margin, legend: { orientation: "h" },
    yaxis: { title: { text: "kW" } } }, plotCfg);
  text("trend-info", times.length ? `${fmt(times.length)} points from ${times[0].slice(0, 16)} to ` +
    `${times.at(-1).slice(0, 16)}${body.step_s ? `, means over ${fmt(body.step_s)} s` : ""}` : "nothing stored in that range");
}

// a handler whose request may meet a logged-out session (the login dialog is open already)
function guarded(handler) {
  return (...args) => handler(...args).catch((err) => {
    if (!(err instanceof LoggedOut)) { text("trend-info", `${err}`); }
  });
}

async function downloadCsv() {
  const resp = await api(`/api/trends.csv?${trendQuery()}`);
  if (!resp.ok) { text("trend-info", problem(await resp.json())); return; }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await resp.blob());
  link.download = `ersgrid-trends-${corridor ? corridor.scenario : "live"}.csv`;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
}

function update(msg) {
  const s = msg.state;
  text("sim-time", s.time.replace("T", " ").slice(0, 19));
  text("speed", `×${fmt(s.speed)}${s.finished ? " (finished)" : s.running ? "" : " (paused)"}`);
  text("road-kw", fmt(s.road_kw));
  text("import-kw", fmt(s.import_kw));
  text("pv-kw", fmt(s.pv_kw));
  text("wind-kw", fmt(s.wind_kw));
  drawViolations(s.limit_violations);
  fillTimes(s);
  text("frequency", fmt(s.frequency_hz, 4));
  text("traffic", `${fmt(s.traffic.ers_entered_so_far)} of ${fmt(s.traffic.ers_entered_forecast, 1)} forecast`);
  text("price", `${fmt(s.price_per_kwh, 2)} ${s.currency}/kWh`);
  text("co2", fmt(s.co2_kg_per_kwh, 3));
  text("vehicles", fmt(s.vehicles_on_road));
  text("alarm-count", `${s.alarms_active} active, ${s.alarms_unacknowledged} unacknowledged`);
  drawMap(s);
  drawSubs(s);
  drawHistory(msg.history, s.currency);
  drawSoc(s.soc);
  drawTraffic(msg.history);
  drawLedger((msg.adapters || {}).ledger);
  drawAlarms(msg.alarms);
  drawDr(msg.dr_events);
  drawOverrides(msg.limit_overrides);
  drawStrategy(msg.strategy);
  drawSubTable(s);
  drawAdapters(msg.adapters || {});
}

// The live feed: server-sent events read with fetch (EventSource cannot send a token).
async function stream() {
  while (sessionStorage.getItem(TOKEN_KEY) !== null || !authRequired) {
    streamAbort = new AbortController();
    try {
      const resp = await api("/api/stream", { signal: streamAbort.signal });
      text("link", "live");
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) { break; }
        buffer += value;
        let end;
        let latest = null;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = event.split("\n").filter((l) => l.startsWith("data: "))
            .map((l) => l.slice(6)).join("\n");
          if (data) { latest = data; }
        }
        // a page that falls behind draws the newest state only, not every one it missed
        if (latest !== null) { update(JSON.parse(latest)); }
      }
    } catch (err) {
      if (err instanceof LoggedOut || err.name === "AbortError") { return; }
      console.error(`live feed: ${err}`);
    }
    text("link", "reconnecting");
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

let authRequired = true;

async function start() {
  const health = await (await fetch("/api/health")).json();
  authRequired = health.auth_required;
  if (authRequired && sessionStorage.getItem(TOKEN_KEY) === null) { askLogin(""); return; }
  try {
    const me = await (await api("/api/me")).json();
    authRequired = me.name !== "anonymous";
    text("user", `${me.name} (${me.role})`);
    setRole(me.role);
    document.getElementById("logout").hidden = !authRequired;
    await loadCorridor();
    await loadStrategies();
    stream();
    guarded(showTrends)();
  } catch (err) {
    if (!(err instanceof LoggedOut)) { throw err; }
  }
}

document.getElementById("login").addEventListener("submit", logIn);
document.getElementById("logout").addEventListener("click", logOut);
document.getElementById("dr-form").addEventListener("submit", createDr);
document.getElementById("override-form").addEventListener("submit", createOverride);
document.getElementById("strategy-form").addEventListener("submit", switchStrategy);
document.getElementById("trend-form").addEventListener("submit", guarded(showTrends));
document.getElementById("trend-csv").addEventListener("click", guarded(downloadCsv));
setRole(null);
start();
