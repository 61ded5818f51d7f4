// ui.js: small DOM and formatting helpers shared by the pages. Text is always
// set with textContent, never parsed as HTML.

import { me, logout, atLeast, cachedUser, api } from "./api.js";

/** h creates an element: h("a", {href: "/", class: "x"}, "text", child...). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export const $ = (id) => document.getElementById(id);

/** fmt formats a number with fixed decimals, "–" when missing. */
export function fmt(v, digits = 1) {
  return typeof v === "number" && isFinite(v) ? v.toFixed(digits) : "–";
}

/** ago says how long ago an RFC 3339 time was: "12 s ago", "3 min ago". */
export function ago(ts, now = Date.now()) {
  if (!ts) return "never";
  const t = typeof ts === "number" ? ts : Date.parse(ts);
  if (!isFinite(t)) return "never";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  return Math.floor(s / 86400) + " d ago";
}

/** when formats a time for people: local date and time. */
export function when(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** velMax is the largest of vel_rms_x/y/z, or undefined. */
export function velMax(values) {
  if (!values) return undefined;
  let m;
  for (const k of ["vel_rms_x", "vel_rms_y", "vel_rms_z"]) {
    const v = values[k];
    if (typeof v === "number" && (m === undefined || v > m)) m = v;
  }
  return m;
}

/** STATUS describes each machine status with colour, icon and words, so the
 * status never depends on colour alone. */
export const STATUS = {
  critical: { icon: "✖", label: "Critical" },
  warning: { icon: "▲", label: "Warning" },
  ok: { icon: "✔", label: "OK" },
  offline: { icon: "○", label: "Offline" },
  nodata: { icon: "–", label: "No data" },
};

export function statusBadge(status) {
  const s = STATUS[status] || STATUS.nodata;
  return h("span", { class: "badge status-" + status, "data-status": status },
    h("span", { class: "badge-icon", "aria-hidden": "true" }, s.icon), " " + s.label);
}

export const SEVERITY = {
  critical: { icon: "✖", label: "Critical" },
  warning: { icon: "▲", label: "Warning" },
  info: { icon: "ℹ", label: "Info" },
};

export function severityBadge(sev) {
  const s = SEVERITY[sev] || SEVERITY.info;
  return h("span", { class: "badge sev-" + sev },
    h("span", { class: "badge-icon", "aria-hidden": "true" }, s.icon), " " + s.label);
}

/** showError puts a message in the page's error banner (or hides it). */
export function showError(msg, id = "page-error") {
  const el = $(id);
  if (!el) return;
  el.textContent = msg || "";
  el.hidden = !msg;
}

/**
 * showNotFound leaves only the way back and msg on a page whose subject
 * does not exist: every other child of root is hidden (empty tiles, charts
 * and a list that would say "Loading…" for ever).
 * @param {HTMLElement} root the page's element
 * @param {string} msg
 */
export function showNotFound(root, msg) {
  for (const el of root.children) if (!el.matches(".crumbs, #page-error")) el.hidden = true;
  showError(msg);
}

/** shell wires the header (user, sign out, admin links, alert count) and
 * resolves to the signed-in user. */
export async function shell() {
  const out = $("logout");
  if (out) out.addEventListener("click", () => logout());
  const paint = (u) => {
    if (!u) return;
    const who = $("who");
    if (who) who.textContent = (u.name || u.email) + " · " + u.role;
    const users = $("nav-users");
    if (users) users.hidden = !atLeast(u, "admin");
  };
  paint(cachedUser());
  const u = await me();
  paint(u);
  refreshAlertCount();
  return u;
}

/** refreshAlertCount updates the number of open alerts in the header. */
export async function refreshAlertCount() {
  const el = $("nav-alert-count");
  if (!el) return;
  try {
    const r = await api("/alerts?status=open&limit=500");
    const n = r.items.length;
    el.textContent = n >= 500 ? "500+" : String(n);
    el.hidden = n === 0;
  } catch { /* the count is a hint; leave it */ }
}

/** metricLabel names a metric for people. */
/**
 * splitMessage splits an alert message into its first sentence, the
 * headline, and the rest (a diagnosis's evidence: its peaks), at the
 * first ". ".
 * @param {string} msg
 * @returns {[string, string]}
 */
export function splitMessage(msg) {
  const i = msg.indexOf(". ");
  return i < 0 ? [msg, ""] : [msg.slice(0, i + 1), msg.slice(i + 2)];
}

export function metricLabel(m) {
  const names = {
    vel_rms_x: "Velocity RMS X", vel_rms_y: "Velocity RMS Y", vel_rms_z: "Velocity RMS Z",
    acc_rms_x: "Accel. RMS X", acc_rms_y: "Accel. RMS Y", acc_rms_z: "Accel. RMS Z",
    acc_peak_x: "Accel. peak X", acc_peak_y: "Accel. peak Y", acc_peak_z: "Accel. peak Z",
    temp_c: "Temperature", battery_v: "Battery", rssi_dbm: "Signal",
    anomaly_score: "Anomaly score", forecast_days: "Days to the alarm level", offline_minutes: "Minutes without a reading",
  };
  return names[m] || m;
}

/** ALERT_ONLY_METRICS are the metrics of anomaly, forecast and offline
 * alerts: values of the alert, not of readings (no telemetry to chart). */
export const ALERT_ONLY_METRICS = ["anomaly_score", "forecast_days", "offline_minutes"];

/** metricUnit returns the unit of a metric. */
export function metricUnit(m) {
  if (m.startsWith("vel_")) return "mm/s";
  if (m.startsWith("acc_")) return "g";
  return { temp_c: "°C", battery_v: "V", rssi_dbm: "dBm", forecast_days: "days", offline_minutes: "min" }[m] || "";
}

/**
 * withGaps returns uPlot data with a point of nulls in every gap longer
 * than five of its median spacing, so a chart breaks its lines where
 * readings are missing (a device off, a link down) rather than drawing a
 * straight line across the hole.
 * @param {Array<Array<number|null>>} data x values, then one array per series
 */
export function withGaps(data) {
  const xs = data[0];
  if (xs.length < 3) return data;
  const dts = [];
  for (let i = 1; i < xs.length; i++) dts.push(xs[i] - xs[i - 1]);
  const med = [...dts].sort((a, b) => a - b)[dts.length >> 1];
  const max = 5 * Math.max(med, 1);
  if (!dts.some(dt => dt > max)) return data;
  const out = data.map(() => []);
  for (let i = 0; i < xs.length; i++) {
    if (i > 0 && dts[i - 1] > max) {
      out[0].push((xs[i - 1] + xs[i]) / 2);
      for (let k = 1; k < data.length; k++) out[k].push(null);
    }
    for (let k = 0; k < data.length; k++) out[k].push(data[k][i]);
  }
  return out;
}
