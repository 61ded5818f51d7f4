// device.js: one sensor node. Header, latest values, uPlot charts of velocity
// RMS per axis and temperature, a range selector and the device's alerts.
// In the 1 h range new readings from /ws/telemetry are appended live; each
// appended point increments data-live-points on the chart element.
// The "Received" tile is GET /devices/{id}/completeness over the last 24 h:
// the share of the node's numbered readings that reached the server, and
// below it the missing ones: explained (a gateway reported why: its queue
// was full, the node's buffer overflowed, the server rejected them) or
// unexplained; data-unexplained holds the unexplained count.

import { api, me, atLeast } from "./api.js";
import { Live } from "./live.js";
import { h, $, fmt, ago, when, velMax, showError, shell, refreshAlertCount, withGaps, showNotFound } from "./ui.js";
import { alertItem, sortAlerts, loadRuleKinds } from "./alertview.js";

const root = $("device");
const id = Number(root.dataset.deviceId);
const RANGES = {
  "1h": { ms: 3600e3, bucket: "raw", note: "last hour, every reading, live" },
  "24h": { ms: 86400e3, bucket: "1m", note: "last 24 hours, 1-minute averages" },
  "30d": { ms: 30 * 86400e3, bucket: "1h", note: "last 30 days, hourly averages" },
};
const VEL = ["vel_rms_x", "vel_rms_y", "vel_rms_z"];

let device = null, user = null;
let range = "1h";
let online = null;
let latest = null;
const alerts = new Map();
const ruleKinds = new Map(); // rule id -> kind: a diagnosis shows no limit
let velData = [[], [], [], []], tempData = [[], []];
let velPlot = null, tempPlot = null;
const velEl = $("chart-vel"), tempEl = $("chart-temp");
let livePoints = 0;
let completeness = null;

// Okabe-Ito colours plus dash patterns: the axes stay apart without colour.
function velOpts(width) {
  return {
    width, height: chartHeight(),
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.15)] } },
    axes: [{}, { label: "mm/s", size: 56 }],
    series: [
      { value: (u, v) => v == null ? "–" : new Date(v * 1000).toLocaleTimeString() },
      { label: "X", stroke: "#0072B2", width: 2, value: (u, v) => fmt(v, 2) + " mm/s" },
      { label: "Y", stroke: "#D55E00", width: 2, dash: [8, 4], value: (u, v) => fmt(v, 2) + " mm/s" },
      { label: "Z", stroke: "#009E73", width: 2, dash: [2, 3], value: (u, v) => fmt(v, 2) + " mm/s" },
    ],
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
  };
}

function tempOpts(width) {
  return {
    width, height: chartHeight(),
    scales: { x: { time: true }, y: { range: (u, min, max) => [Math.floor(min - 2), Math.ceil(max + 2)] } },
    axes: [{}, { label: "°C", size: 56 }],
    series: [
      { value: (u, v) => v == null ? "–" : new Date(v * 1000).toLocaleTimeString() },
      { label: "Temperature", stroke: "#B8004F", width: 2, value: (u, v) => fmt(v, 1) + " °C" },
    ],
    legend: { live: true },
  };
}

function chartHeight() { return window.innerWidth < 600 ? 200 : 260; }
function chartWidth(el) { return Math.max(200, el.clientWidth); }

function setChartState(el, n) {
  el.dataset.points = String(n);
  let empty = el.querySelector(".chart-empty");
  if (n === 0 && !empty) el.append(h("p", { class: "chart-empty" }, "No readings in this range."));
  if (n > 0 && empty) empty.remove();
}

function draw() {
  if (!window.uPlot) { showError("The chart library did not load."); return; }
  if (!velPlot) {
    velPlot = new uPlot(velOpts(chartWidth(velEl)), withGaps(velData), velEl);
    tempPlot = new uPlot(tempOpts(chartWidth(tempEl)), withGaps(tempData), tempEl);
    velEl._uplot = velPlot; // for the browser test and the inspector
    tempEl._uplot = tempPlot;
    new ResizeObserver(() => {
      velPlot.setSize({ width: chartWidth(velEl), height: chartHeight() });
      tempPlot.setSize({ width: chartWidth(tempEl), height: chartHeight() });
    }).observe(root);
  } else {
    velPlot.setData(withGaps(velData));
    tempPlot.setData(withGaps(tempData));
  }
  setChartState(velEl, velData[0].length);
  setChartState(tempEl, tempData[0].length);
}

async function loadSeries() {
  const r = RANGES[range];
  const to = new Date(), from = new Date(to.getTime() - r.ms);
  const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), bucket: r.bucket, metrics: [...VEL, "temp_c"].join(","), limit: "10000" });
  const res = await api("/devices/" + id + "/telemetry?" + q);
  const vd = [[], [], [], []], td = [[], []];
  for (const it of res.items) {
    const v = it.values || it.avg || {};
    const t = Date.parse(it.ts) / 1000;
    vd[0].push(t);
    VEL.forEach((m, i) => vd[i + 1].push(num(v[m])));
    td[0].push(t);
    td[1].push(num(v.temp_c));
  }
  velData = vd; tempData = td;
  $("range-note").textContent = RANGES[range].note + " · " + res.items.length + " points";
  draw();
}

function num(v) { return typeof v === "number" ? v : null; }

// Appends keep x sorted (a gateway may deliver an old batch late) and drop
// points that fell out of the window.
function insertPoint(data, t, vals) {
  const xs = data[0];
  let i = xs.length;
  while (i > 0 && xs[i - 1] > t) i--;
  if (i > 0 && xs[i - 1] === t) return false;
  xs.splice(i, 0, t);
  vals.forEach((v, k) => data[k + 1].splice(i, 0, v));
  const cutoff = Date.now() / 1000 - RANGES[range].ms / 1000;
  let drop = 0;
  while (drop < xs.length && xs[drop] < cutoff) drop++;
  if (drop) data.forEach(a => a.splice(0, drop));
  return true;
}

let frame = 0;
function redrawSoon() {
  if (frame) return;
  frame = requestAnimationFrame(() => { frame = 0; draw(); });
}

function paintHeader() {
  if (!device) return;
  $("dev-name").textContent = device.name || device.serial;
  const meta = ["Serial " + device.serial];
  if (device.asset) meta.push("on " + device.asset.name);
  else if (!device.asset_id) meta.push("not attached to a machine");
  meta.push("firmware " + (device.firmware_version || "unknown"));
  $("dev-meta").replaceChildren(...meta.flatMap((m, i) => {
    const part = i === 1 && device.asset ? h("a", { href: "/assets/" + device.asset.id + "?device=" + id }, m) : m;
    return i ? [" · ", part] : [part];
  }));
  const hl = $("dev-health");
  hl.hidden = !device.asset_id;
  if (device.asset_id) hl.href = "/assets/" + device.asset_id + "?device=" + id;
  const on = online === null ? device.online : online;
  const b = $("dev-online");
  b.dataset.state = on ? "online" : "offline";
  b.textContent = on ? "● Online" : "○ Offline";
  document.title = (device.name || device.serial) + " · " + document.title.split(" · ").pop();
}

function paintTiles() {
  const v = latest ? latest.values : {};
  $("t-vel").textContent = fmt(velMax(v), 2);
  $("t-temp").textContent = fmt(v.temp_c, 1);
  $("t-batt").textContent = fmt(typeof v.battery_v === "number" ? v.battery_v : device && device.battery_v, 2);
  const t = (latest && latest.ts) || (device && device.last_seen_at);
  const seen = $("t-seen");
  seen.textContent = t ? ago(t) : "never";
  seen.title = t ? when(t) : "";
}

const lossWords = { queue_full: "gateway queue full", node_ring_overflow: "node buffer overflowed", rejected: "rejected by the server" };

function paintReceived() {
  const el = $("t-recv");
  const note = $("t-recv-gaps");
  const c = completeness;
  if (!c || !c.expected) {
    el.textContent = "–";
    el.dataset.percent = "";
    el.title = c ? "No readings in the last 24 hours." : "";
    note.textContent = "";
    note.dataset.unexplained = "";
    return;
  }
  el.textContent = fmt(c.percent, 1);
  el.dataset.percent = String(c.percent);
  const missing = c.expected - c.received;
  el.title = c.received + " of " + c.expected + " readings arrived" +
    (missing ? "; " + missing + " missing in " + c.gap_count + (c.gap_count === 1 ? " gap" : " gaps") : "") + ".";
  const unexplained = c.unexplained ?? missing;
  note.dataset.unexplained = String(unexplained);
  if (!missing) {
    note.textContent = "nothing missing";
    note.title = "";
    return;
  }
  const parts = [];
  for (const [reason, n] of Object.entries(c.lost_by_reason || {})) parts.push(n + " " + (lossWords[reason] || reason));
  if (unexplained) parts.push(unexplained + " unexplained");
  note.textContent = missing + " missing: " + parts.join(", ");
  note.title = (c.gaps || []).slice(0, 10).map((g) =>
    "seq " + g.from_seq + (g.to_seq !== g.from_seq ? "–" + g.to_seq : "") + ": " + (lossWords[g.reason] || g.reason)).join("\n");
}

async function loadCompleteness() {
  try { completeness = await api("/devices/" + id + "/completeness"); } catch { completeness = null; }
  paintReceived();
}

function paintAlerts() {
  const el = $("dev-alerts");
  const list = sortAlerts([...alerts.values()]);
  if (!list.length) { el.replaceChildren(h("p", { class: "muted" }, "No alerts for this device.")); return; }
  const canAct = atLeast(user, "engineer");
  el.replaceChildren(...list.map(a => alertItem(a, {
    canAct,
    deviceName: () => device ? (device.name || device.serial) : "Device " + id,
    ruleKinds,
    onChange: (na) => { alertChanges++; alerts.set(na.id, na); paintAlerts(); refreshAlertCount(); },
    onError: (m) => showError(m),
  })));
}

async function loadAll() {
  device = await api("/devices/" + id);
  if (device.asset_id) {
    try { device.asset = await api("/assets/" + device.asset_id); } catch { device.asset = null; }
  }
  try { latest = await api("/devices/" + id + "/latest"); } catch (e) { if (e.status !== 404) throw e; latest = null; }
  const [al] = await Promise.all([api("/alerts?device_id=" + id + "&limit=50"), loadRuleKinds(ruleKinds)]);
  alerts.clear();
  for (const a of al.items) alerts.set(a.id, a);
  paintHeader(); paintTiles(); paintAlerts();
  await Promise.all([loadSeries(), loadCompleteness()]);
}

// alertChanges counts live alert events and the user's own changes: a
// catch-up read that started before one of them is older than what is shown.
let alertChanges = 0;

// catchUpAlerts re-reads the device's alerts when the alert stream first
// goes live and repaints them only if they changed since the first load
// (an alert opened, acknowledged or resolved in between) and not since the
// read started.
async function catchUpAlerts() {
  const seen = alertChanges;
  const al = await api("/alerts?device_id=" + id + "&limit=50");
  const key = (list) => JSON.stringify([...list].sort((a, b) => a.id - b.id));
  if (seen !== alertChanges || key(al.items) === key(alerts.values())) return;
  alerts.clear();
  for (const a of al.items) alerts.set(a.id, a);
  paintAlerts();
  refreshAlertCount();
}

function onTelemetry(msg) {
  if (msg.device_id !== id) return;
  if (msg.type === "reading") {
    const d = msg.data;
    latest = { ts: d.ts, seq: d.seq, values: { ...(latest ? latest.values : {}), ...d.values } };
    online = true;
    paintTiles(); paintHeader();
    if (range !== "1h") return;
    const t = Date.parse(d.ts) / 1000, v = d.values || {};
    const hasVel = VEL.some(m => typeof v[m] === "number");
    let added = false;
    if (hasVel) added = insertPoint(velData, t, VEL.map(m => num(v[m]))) || added;
    if (typeof v.temp_c === "number") added = insertPoint(tempData, t, [v.temp_c]) || added;
    if (added) {
      livePoints++;
      velEl.dataset.livePoints = tempEl.dataset.livePoints = String(livePoints);
      redrawSoon();
    }
  } else if (msg.type === "presence") {
    if (Array.isArray(msg.data && msg.data.online)) online = msg.data.online.includes(id);
    else online = !!msg.data.online;
    paintHeader();
  }
}

function onAlert(msg) {
  if (msg.type !== "alert" || msg.data.device_id !== id) return;
  alertChanges++;
  alerts.set(msg.data.id, msg.data);
  if (!ruleKinds.has(msg.data.rule_id)) loadRuleKinds(ruleKinds).then(paintAlerts);
  paintAlerts();
  refreshAlertCount();
}

function setupRange() {
  for (const b of $("range").querySelectorAll("button")) {
    b.addEventListener("click", async () => {
      if (b.dataset.range === range) return;
      range = b.dataset.range;
      for (const o of $("range").querySelectorAll("button")) o.setAttribute("aria-pressed", String(o === b));
      try { await loadSeries(); showError(""); } catch (e) { showError(e.message); }
    });
  }
}

// Engineers can rename the sensor and attach it to a machine, which is how a
// sensor that registered itself through a gateway joins a fleet card.
function setupEdit() {
  if (!atLeast(user, "engineer")) return;
  const btn = $("dev-edit"), panel = $("dev-form-panel"), form = $("dev-form");
  btn.hidden = false;
  btn.addEventListener("click", async () => {
    showError("", "dev-form-error");
    form.name.value = device.name || "";
    try {
      const assets = (await api("/assets")).items.sort((a, b) => a.name.localeCompare(b.name));
      form.asset_id.replaceChildren(h("option", { value: "0" }, "Not attached"), ...assets.map(a => h("option", { value: a.id }, a.name)));
    } catch (e) { showError(e.message, "dev-form-error"); }
    form.asset_id.value = String(device.asset_id || 0);
    panel.hidden = false;
    form.name.focus();
  });
  $("dev-cancel").addEventListener("click", () => { panel.hidden = true; });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("/devices/" + id, { method: "PATCH", body: { name: form.name.value.trim(), asset_id: Number(form.asset_id.value) } });
      panel.hidden = true;
      await loadAll();
    } catch (e) { showError(e.message, "dev-form-error"); }
  });
}

async function main() {
  setupRange();
  try {
    user = await shell();
    await loadAll();
    setupEdit();
  } catch (e) {
    if (e.status === 404) showNotFound(root, "This device does not exist, or it belongs to another organization."); else showError(e.message);
    return;
  }
  const resync = () => loadAll().then(() => showError("")).catch(e => showError(e.message));
  new Live("/ws/telemetry", { subscribe: [{ device_id: id }], onMessage: onTelemetry, onResync: resync }).start();
  new Live("/ws/alerts", { onMessage: onAlert, onResync: resync, onFirstReady: () => catchUpAlerts().catch(e => showError(e.message)) }).start();
  setInterval(paintTiles, 1000);
  setInterval(loadCompleteness, 60e3);
}

main();
