// overview.js: the fleet overview. One card per machine (asset) plus one for
// sensors without a machine; live values from /ws/telemetry, alert state from
// /ws/alerts. Values are patched in place so cards never jump.

import { api } from "./api.js";
import { Live } from "./live.js";
import { h, $, fmt, ago, velMax, statusBadge, STATUS, showError, shell, refreshAlertCount } from "./ui.js";

const state = {
  assets: new Map(),   // id -> Asset
  devices: new Map(),  // id -> Device (+ .latest {ts, values})
  alerts: new Map(),   // id -> Alert, only open or acknowledged
};
const rows = new Map();  // device id -> {row, vel, temp, batt, seen, online}
const cards = new Map(); // asset id (0 = none) -> {card, badge}

async function limited(items, n, fn) {
  const queue = items.slice();
  const work = Array.from({ length: Math.min(n, queue.length) }, async () => {
    while (queue.length) await fn(queue.shift());
  });
  await Promise.all(work);
}

async function load() {
  const [assets, devices, open, acked] = await Promise.all([
    api("/assets"), api("/devices"),
    api("/alerts?status=open&limit=500"), api("/alerts?status=acknowledged&limit=500"),
  ]);
  state.assets = new Map(assets.items.map(a => [a.id, a]));
  const old = state.devices;
  state.devices = new Map(devices.items.map(d => [d.id, { ...d, latest: old.get(d.id)?.latest }]));
  state.alerts = new Map([...open.items, ...acked.items].map(a => [a.id, a]));
  await limited([...state.devices.values()], 6, async (d) => {
    try { d.latest = await api("/devices/" + d.id + "/latest"); }
    catch (e) { if (e.status !== 404) throw e; d.latest = null; }
  });
  render();
}

function deviceStatus(d) {
  let worst = "";
  for (const a of state.alerts.values()) {
    if (a.device_id !== d.id) continue;
    if (a.severity === "critical") return "critical";
    if (a.severity === "warning") worst = "warning";
  }
  if (worst) return worst;
  if (!d.latest) return "nodata";
  return d.online ? "ok" : "offline";
}

function assetStatus(assetId, devs) {
  const rank = { critical: 4, warning: 3, ok: 2, offline: 1, nodata: 0 };
  let best = "nodata";
  for (const a of state.alerts.values()) {
    if (assetId && a.asset_id === assetId && !a.device_id) {
      if (a.severity === "critical") return "critical";
      if (a.severity === "warning") best = "warning";
    }
  }
  for (const d of devs) {
    const s = deviceStatus(d);
    if (rank[s] > rank[best]) best = s;
  }
  return best;
}

function groups() {
  const byAsset = new Map();
  for (const a of [...state.assets.values()].sort((x, y) => x.name.localeCompare(y.name))) byAsset.set(a.id, []);
  const none = [];
  for (const d of [...state.devices.values()].sort((x, y) => (x.name || x.serial).localeCompare(y.name || y.serial))) {
    if (d.asset_id && byAsset.has(d.asset_id)) byAsset.get(d.asset_id).push(d);
    else none.push(d);
  }
  const out = [...byAsset.entries()].map(([id, devs]) => ({ id, asset: state.assets.get(id), devs }));
  if (none.length) out.push({ id: 0, asset: null, devs: none });
  return out;
}

function value(label, el, unit) {
  return h("div", { class: "val" }, h("span", { class: "val-label" }, label), h("span", { class: "val-num" }, el, " ", h("span", { class: "unit" }, unit)));
}

function render() {
  const fleet = $("fleet");
  fleet.removeAttribute("aria-busy");
  rows.clear();
  cards.clear();
  const gs = groups();
  if (gs.length === 0) {
    fleet.replaceChildren(h("div", { class: "empty" },
      h("p", { class: "empty-title" }, "No machines yet — start the demo or register a device"),
      h("p", { class: "muted" }, "Run ", h("code", {}, "vibemon demo"), " for a simulated fleet, add a machine on the ",
        h("a", { href: "/assets" }, "Machines"), " page, or point a gateway at this server: its sensors appear here on their first reading.")));
    summary();
    return;
  }
  fleet.replaceChildren(...gs.map(g => {
    const badge = h("span", {});
    const a = g.asset;
    const sub = a ? [a.type, a.rpm ? Math.round(a.rpm) + " rpm" : "", a.bearing ? "bearing " + a.bearing : ""].filter(Boolean).join(" · ") : "Sensors not attached to a machine";
    const list = h("ul", { class: "dev-list" });
    for (const d of g.devs) list.append(deviceRow(d));
    if (g.devs.length === 0) list.append(h("li", { class: "muted small dev-none" }, "No sensor attached."));
    const card = h("section", { class: "card", "data-asset-id": g.id },
      h("div", { class: "card-head" },
        h("div", { class: "card-title" }, h("h2", {}, a ? h("a", { href: "/assets/" + a.id, title: "Health and spectra of " + a.name }, a.name) : "Unassigned sensors"), h("p", { class: "muted small" }, sub || "\u00a0")),
        badge),
      list);
    cards.set(g.id, { card, badge, devs: g.devs.map(d => d.id) });
    return card;
  }));
  for (const id of cards.keys()) paintCard(id);
  for (const id of rows.keys()) paintRow(id);
  summary();
}

function deviceRow(d) {
  const r = {
    online: h("span", { class: "dot" }),
    onlineText: h("span", { class: "small" }),
    seen: h("span", { class: "seen small muted" }),
    vel: h("span", { class: "num" }), temp: h("span", { class: "num" }), batt: h("span", { class: "num" }),
    status: h("span", { class: "dev-status" }),
  };
  r.row = h("li", {}, h("a", { class: "dev-row", href: "/devices/" + d.id, "data-device-id": d.id },
    h("div", { class: "dev-line" },
      h("span", { class: "dev-name" }, r.online, " ", d.name || d.serial),
      r.status),
    h("div", { class: "dev-line small" }, h("span", { class: "muted" }, d.serial, " · "), r.onlineText, h("span", { class: "muted" }, " · "), r.seen),
    h("div", { class: "vals" }, value("Vel. RMS max", r.vel, "mm/s"), value("Temp.", r.temp, "°C"), value("Battery", r.batt, "V"))));
  rows.set(d.id, r);
  return r.row;
}

function paintRow(id) {
  const r = rows.get(id), d = state.devices.get(id);
  if (!r || !d) return;
  const v = d.latest ? d.latest.values : null;
  r.vel.textContent = fmt(velMax(v), 2);
  r.temp.textContent = fmt(v && v.temp_c, 1);
  r.batt.textContent = fmt((v && typeof v.battery_v === "number") ? v.battery_v : d.battery_v, 2);
  r.online.dataset.online = d.online ? "yes" : "no";
  r.online.title = d.online ? "online" : "offline";
  r.onlineText.textContent = d.online ? "online" : "offline";
  const s = deviceStatus(d);
  r.status.replaceChildren(s === "ok" ? "" : h("span", { class: "small tag status-" + s }, STATUS[s].icon + " " + STATUS[s].label));
  paintSeen(r, d);
}

function lastSeen(d) {
  return (d.latest && d.latest.ts) || d.last_seen_at;
}

function paintSeen(r, d) {
  const t = lastSeen(d);
  r.seen.textContent = t ? "seen " + ago(t) : "never seen";
}

function paintCard(id) {
  const c = cards.get(id);
  if (!c) return;
  const s = assetStatus(id, c.devs.map(i => state.devices.get(i)).filter(Boolean));
  c.card.dataset.status = s;
  c.badge.replaceChildren(statusBadge(s));
}

function summary() {
  const count = { critical: 0, warning: 0, offline: 0, ok: 0, nodata: 0 };
  for (const c of cards.values()) count[c.card.dataset.status || "nodata"]++;
  // Cards are machines, and one card for the sensors on no machine (id 0).
  const machines = cards.size - (cards.has(0) ? 1 : 0);
  const parts = [machines + (machines === 1 ? " machine" : " machines")];
  if (cards.has(0)) { const n = cards.get(0).devs.length; parts.push(n + (n === 1 ? " unassigned sensor" : " unassigned sensors")); }
  for (const k of ["critical", "warning", "offline", "nodata"]) if (count[k]) parts.push(count[k] + " " + STATUS[k].label.toLowerCase());
  if (cards.size && !count.critical && !count.warning) parts.push("no open alerts");
  $("fleet-summary").textContent = cards.size ? parts.join(" · ") : "";
}

function cardOf(deviceId) {
  for (const [id, c] of cards) if (c.devs.includes(deviceId)) return id;
  return undefined;
}

let reloadTimer = 0;
function reloadSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => load().catch(e => showError(e.message)), 500);
}

function onTelemetry(msg) {
  if (msg.type === "reading") {
    const d = state.devices.get(msg.device_id);
    if (!d) { reloadSoon(); return; }
    const prev = d.latest && d.latest.values;
    d.latest = { ts: msg.data.ts, seq: msg.data.seq, values: { ...(prev || {}), ...msg.data.values } };
    d.last_seen_at = msg.data.ts;
    d.online = true;
    paintRow(d.id);
    const c = cardOf(d.id);
    if (c !== undefined) paintCard(c);
    summary();
  } else if (msg.type === "presence") {
    if (Array.isArray(msg.data && msg.data.online)) {
      const on = new Set(msg.data.online);
      for (const d of state.devices.values()) d.online = on.has(d.id);
    } else {
      const d = state.devices.get(msg.device_id);
      if (!d) return;
      d.online = !!msg.data.online;
    }
    for (const id of rows.keys()) paintRow(id);
    for (const id of cards.keys()) paintCard(id);
    summary();
  }
}

// alertEvents counts live alert events: a catch-up read that started before
// one of them is older than what is shown.
let alertEvents = 0;

// catchUpAlerts re-reads the open and acknowledged alerts when the alert
// stream first goes live, and repaints the machines' status only if they
// changed since the first load (an alert opened or resolved in between)
// and not since the read started.
async function catchUpAlerts() {
  const seen = alertEvents;
  const [open, acked] = await Promise.all([api("/alerts?status=open&limit=500"), api("/alerts?status=acknowledged&limit=500")]);
  const next = new Map([...open.items, ...acked.items].map(a => [a.id, a]));
  const key = (m) => JSON.stringify([...m.values()].sort((a, b) => a.id - b.id));
  if (seen !== alertEvents || key(next) === key(state.alerts)) return;
  state.alerts = next;
  repaintStatus();
}

function repaintStatus() {
  for (const id of rows.keys()) paintRow(id);
  for (const id of cards.keys()) paintCard(id);
  summary();
  refreshAlertCount();
}

function onAlert(msg) {
  if (msg.type !== "alert") return;
  alertEvents++;
  const a = msg.data;
  if (a.status === "resolved") state.alerts.delete(a.id);
  else state.alerts.set(a.id, a);
  repaintStatus();
}

async function main() {
  try {
    await shell();
    await load();
  } catch (e) {
    showError(e.message);
    $("fleet").replaceChildren();
    return;
  }
  const resync = () => load().then(() => showError("")).catch(e => showError(e.message));
  new Live("/ws/telemetry", { subscribe: [{ org: true }], onMessage: onTelemetry, onResync: resync }).start();
  new Live("/ws/alerts", { onMessage: onAlert, onResync: resync, onFirstReady: () => catchUpAlerts().catch(e => showError(e.message)) }).start();
  setInterval(() => {
    for (const [id, r] of rows) { const d = state.devices.get(id); if (d) paintSeen(r, d); }
  }, 1000);
}

main();
