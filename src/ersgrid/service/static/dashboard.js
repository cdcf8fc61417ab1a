// ersgrid live dashboard: one server-sent event stream (/api/stream) drives every view.
// Every request carries the bearer token of the login (kept in this tab's sessionStorage).
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
  if (!ledger) { text("ledger-state", "off"); return; }
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
  await api(`/api/alarms/${id}/ack`, { method: "POST" });
}

function drawAlarms(alarms) {
  document.getElementById("alarm-list").innerHTML = alarms.map((a) =>
    `<tr class="${a.severity}${a.acknowledged ? " acked" : ""}" data-id="${a.id}">` +
    `<td>${a.id}</td><td>${esc(a.sim_time.slice(0, 16))}</td><td>${a.severity}</td>` +
    `<td>${esc(a.kind)}</td><td>${esc(a.subject)}</td><td class="msg">${esc(a.message)}` +
    `${a.active ? "" : " (cleared)"}</td><td>${a.acknowledged ? "ack" :
      `<button onclick="ack(${a.id})">ack</button>`}</td></tr>`).join("");
}

function drawDr(events) {
  document.getElementById("dr-list").innerHTML = events.map((e) =>
    `<tr><td>${e.id}</td><td>${esc(e.start.slice(0, 16))}</td><td>${esc(e.end.slice(0, 16))}</td>` +
    `<td>${esc(e.substations.join(", "))}</td><td>${fmt(e.import_limit_kw)}</td>` +
    `<td>${e.status}</td></tr>`).join("");
}

function update(msg) {
  const s = msg.state;
  text("sim-time", s.time.replace("T", " ").slice(0, 19));
  text("speed", `×${fmt(s.speed)}${s.finished ? " (finished)" : s.running ? "" : " (paused)"}`);
  text("road-kw", fmt(s.road_kw));
  text("import-kw", fmt(s.import_kw));
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
  text("adapters", JSON.stringify(msg.adapters || {}, null, 1));
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
    document.getElementById("logout").hidden = !authRequired;
    await loadCorridor();
    stream();
  } catch (err) {
    if (!(err instanceof LoggedOut)) { throw err; }
  }
}

document.getElementById("login").addEventListener("submit", logIn);
document.getElementById("logout").addEventListener("click", logOut);
start();
