// alert.js: one alert. Its state, the controls to acknowledge, assign,
// comment and resolve (engineers and up), a chart of its metric from 6 h
// before to 1 h after it opened with the limit drawn in, its timeline, and
// its rule's reminders and escalation. Every change arrives live from
// /ws/alerts, made here or anywhere else.

import { api, atLeast } from "./api.js";
import { Live } from "./live.js";
import { h, $, ago, when, fmt, severityBadge, showError, shell, refreshAlertCount, metricLabel, metricUnit, splitMessage, withGaps, showNotFound, ALERT_ONLY_METRICS } from "./ui.js";

const root = $("alert");
const id = Number(root.dataset.alertId);
const BEFORE = 6 * 3600e3, AFTER = 3600e3;
const STATUS_TEXT = { open: "Open", acknowledged: "Acknowledged", resolved: "Resolved" };

let user = null, alert = null, rule = null, deviceName = "";
const events = new Map(); // id -> AlertEvent
const users = new Map(); // id -> User
let plot = null, series = [[], [], []];

function userName(uid) {
  if (!uid) return "VibeMon";
  const u = users.get(uid);
  return u ? (u.name || u.email) : "User " + uid;
}

/** eventText says what an event means, in words. */
export function eventText(e) {
  switch (e.kind) {
    case "opened": return "Alert opened";
    case "acknowledged": return userName(e.user_id) + " acknowledged it";
    case "assigned": return e.assignee_id ? userName(e.user_id) + " assigned it to " + userName(e.assignee_id) : userName(e.user_id) + " unassigned it";
    case "commented": return userName(e.user_id) + " commented";
    case "reminded": return "Reminder: still not acknowledged";
    case "escalated": {
      const step = rule && rule.escalation && rule.escalation[e.level - 1];
      const who = step ? " — " + step.user_ids.map(userName).join(", ") + " told" : "";
      return "Escalated to level " + e.level + who;
    }
    case "resolved": return e.user_id ? userName(e.user_id) + " resolved it" : "Resolved: the value is back within its limit";
    default: return e.kind;
  }
}

function paintHeader() {
  const a = alert;
  const [title, evidence] = splitMessage(a.message || metricLabel(a.metric) + " alert");
  $("al-title").textContent = title;
  $("al-evidence").textContent = evidence;
  $("al-evidence").hidden = !evidence;
  const meta = $("al-meta");
  meta.replaceChildren(
    a.device_id ? h("a", { href: "/devices/" + a.device_id }, deviceName || "Device " + a.device_id) : "",
    " · opened ", h("time", { datetime: a.opened_at, title: when(a.opened_at) }, when(a.opened_at) + " (" + ago(a.opened_at) + ")"),
    a.resolved_at ? " · resolved " + when(a.resolved_at) : "");
  $("al-badges").replaceChildren(severityBadge(a.severity));
  const st = $("t-status");
  st.textContent = STATUS_TEXT[a.status] || a.status;
  st.dataset.status = a.status;
  const unit = metricUnit(a.metric || "");
  // value is the latest value in breach: once resolved, not the current one.
  $("t-value-label").textContent = a.status === "resolved" ? "Last value in breach" : "Latest value";
  $("t-value").textContent = fmt(a.value, 2);
  $("t-unit").textContent = unit;
  $("t-peak").textContent = fmt(a.peak, 2) + " " + unit;
  $("t-threshold").textContent = thresholdShown() ? fmt(a.threshold, 2) + " " + unit : "–";
  const asg = $("t-assignee");
  asg.textContent = a.assignee_id ? userName(a.assignee_id) : "Nobody";
  asg.dataset.assigneeId = String(a.assignee_id || 0);
  const lvl = $("t-level");
  lvl.dataset.level = String(a.escalation_level || 0);
  lvl.textContent = a.escalation_level ? "Level " + a.escalation_level : (rule && rule.escalation && rule.escalation.length ? "Not yet" : "None");
}

function thresholdShown() { return !rule || rule.kind !== "diagnosis"; }

function paintControls() {
  const can = atLeast(user, "engineer");
  $("al-controls").hidden = !can || alert.status === "resolved";
  $("ack-form").hidden = alert.status !== "open";
  $("comment-form").hidden = !can;
  const sel = $("assignee");
  const keep = String(alert.assignee_id || 0);
  sel.replaceChildren(h("option", { value: "0" }, "Nobody"),
    ...[...users.values()].filter(u => u.role !== "viewer").map(u => h("option", { value: u.id }, u.name || u.email)));
  sel.value = keep;
}

function paintTimeline() {
  const el = $("alert-timeline");
  el.removeAttribute("aria-busy");
  const list = [...events.values()].sort((x, y) => x.id - y.id);
  el.dataset.events = String(list.length);
  el.replaceChildren(...list.map(e => h("li", { class: "tl-item tl-" + e.kind, "data-kind": e.kind, "data-event-id": e.id },
    h("time", { datetime: e.at, title: when(e.at) }, when(e.at)),
    h("span", { class: "tl-text" }, eventText(e)),
    e.comment ? h("q", { class: "tl-comment" }, e.comment) : null)));
}

function paintPolicy() {
  const panel = $("policy-panel");
  if (!rule) { panel.hidden = true; return; }
  panel.hidden = false;
  $("policy-rule").textContent = "· rule “" + rule.name + "”";
  const parts = [];
  parts.push(rule.remind_every_minutes ? "Reminds every " + rule.remind_every_minutes + " min while nobody acknowledges." : "No reminders.");
  if (rule.escalation && rule.escalation.length) {
    rule.escalation.forEach((s, i) => parts.push("Level " + (i + 1) + " after " + s.after_minutes + " min: " + s.user_ids.map(userName).join(", ") + "."));
  } else parts.push("No escalation.");
  $("policy-text").textContent = parts.join(" ");
  const form = $("policy-form");
  form.hidden = !atLeast(user, "engineer");
  if (form.hidden || form.dataset.editing === "1") return;
  $("remind-every").value = String(rule.remind_every_minutes || 0);
  $("policy-steps").replaceChildren(...(rule.escalation || []).map(stepRow));
}

function stepRow(step) {
  const minutes = h("input", { type: "number", min: "1", max: "10080", step: "1", class: "step-minutes", "aria-label": "Minutes", value: step ? step.after_minutes : 30 });
  const who = h("select", { multiple: true, class: "step-users", "aria-label": "Who is told", size: "3" },
    ...[...users.values()].map(u => h("option", { value: u.id, selected: !!(step && step.user_ids.includes(u.id)) }, u.name || u.email)));
  const row = h("div", { class: "step-row" }, h("label", {}, "After (minutes)", minutes), h("label", {}, "Tell", who),
    h("button", { type: "button", class: "btn btn-quiet", onclick: () => row.remove() }, "Remove"));
  return row;
}

function setupPolicy() {
  const form = $("policy-form");
  form.addEventListener("input", () => { form.dataset.editing = "1"; });
  $("step-add").addEventListener("click", () => { form.dataset.editing = "1"; $("policy-steps").append(stepRow(null)); });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const escalation = [...$("policy-steps").querySelectorAll(".step-row")].map(r => ({
      after_minutes: Number(r.querySelector(".step-minutes").value),
      user_ids: [...r.querySelector(".step-users").selectedOptions].map(o => Number(o.value)),
    }));
    const btn = $("policy-save");
    btn.disabled = true;
    try {
      rule = await api("/alert-rules/" + rule.id, { method: "PATCH", body: { remind_every_minutes: Number($("remind-every").value || 0), escalation } });
      form.dataset.editing = "";
      showError("", "policy-error");
      paintPolicy();
      paintHeader();
    } catch (e) {
      showError(e.message, "policy-error");
    } finally { btn.disabled = false; }
  });
}

// The chart: the alert's metric from 6 h before it opened to 1 h after,
// the limit as a dashed line and the opening (and resolution) as
// vertical lines.
function markersPlugin() {
  return {
    hooks: {
      draw: [(u) => {
        const ctx = u.ctx;
        const marks = [[alert.opened_at, "#d62c36"], [alert.resolved_at, "#2f9e55"]];
        for (const [ts, colour] of marks) {
          if (!ts) continue;
          const x = u.valToPos(Date.parse(ts) / 1000, "x", true);
          if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
          ctx.save();
          ctx.strokeStyle = colour;
          ctx.lineWidth = 2 * devicePixelRatio;
          ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
          ctx.restore();
        }
      }],
    },
  };
}

function chartOpts(width) {
  const unit = metricUnit(alert.metric || "");
  return {
    width, height: window.innerWidth < 600 ? 200 : 280,
    scales: { x: { time: true, range: () => chartRange } },
    axes: [{}, { label: unit, size: 56 }],
    series: [
      { value: (u, v) => v == null ? "–" : new Date(v * 1000).toLocaleString() },
      { label: metricLabel(alert.metric), stroke: "#0072B2", width: 2, value: (u, v) => fmt(v, 2) + " " + unit },
      { label: "Limit", stroke: "#d62c36", width: 1.5, dash: [8, 5], show: thresholdShown(), value: (u, v) => fmt(v, 2) + " " + unit },
    ],
    legend: { live: true },
    plugins: [markersPlugin()],
  };
}

let chartRange = [0, 1]; // x range in s: the whole window, also the part still to come

async function loadChart() {
  if (!alert.metric || !alert.device_id || ALERT_ONLY_METRICS.includes(alert.metric)) return; // no readings to chart
  const opened = Date.parse(alert.opened_at);
  const from = new Date(opened - BEFORE), to = new Date(Math.min(opened + AFTER, Date.now()));
  chartRange = [from.getTime() / 1000, (opened + AFTER) / 1000];
  const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), bucket: "1m", metrics: alert.metric, limit: "1000" });
  let res = await api("/devices/" + alert.device_id + "/telemetry?" + q);
  let averages = "1-minute averages";
  if (!res.items.length) { // older than the org's retention: its 1-minute averages went with the readings
    q.set("bucket", "1h");
    res = await api("/devices/" + alert.device_id + "/telemetry?" + q);
    averages = "hourly averages (the 1-minute ones are past the retention)";
  }
  const d = [[], [], []];
  for (const it of res.items) {
    const v = (it.values || it.avg || {})[alert.metric];
    d[0].push(Date.parse(it.ts) / 1000);
    d[1].push(typeof v === "number" ? v : null);
    d[2].push(alert.threshold);
  }
  if (d[0].length) { // the limit spans the whole window
    if (d[0][0] > chartRange[0]) { d[0].unshift(chartRange[0]); d[1].unshift(null); d[2].unshift(alert.threshold); }
    d[0].push(chartRange[1]); d[1].push(null); d[2].push(alert.threshold);
  }
  // Readings missing for a while break the line; the limit runs on.
  series = withGaps(d);
  series[2] = series[2].map(() => alert.threshold);
  $("chart-title").textContent = metricLabel(alert.metric) + " around the trigger";
  $("chart-note").textContent = "6 h before to 1 h after it opened, " + averages + " · " + d[0].length + " points · dashed red: opened" +
    (alert.resolved_at ? ", green: resolved" : "") + (thresholdShown() ? " · limit " + fmt(alert.threshold, 2) + " " + metricUnit(alert.metric) : "");
  const el = $("chart-alert");
  el.dataset.points = String(d[0].length);
  if (!window.uPlot) { showError("The chart library did not load."); return; }
  if (d[0].length === 0) {
    if (!el.querySelector(".chart-empty")) el.append(h("p", { class: "chart-empty" }, "No readings around the trigger time."));
    return;
  }
  if (!plot) {
    plot = new uPlot(chartOpts(Math.max(200, el.clientWidth)), series, el);
    new ResizeObserver(() => plot.setSize({ width: Math.max(200, el.clientWidth), height: plot.height })).observe(el);
  } else plot.setData(series);
}

async function loadEvents() {
  const res = await api("/alerts/" + id + "/events");
  // Added to, not replaced: timeline entries never change or go, and a
  // live one may have arrived after this read was answered.
  for (const e of res.items) events.set(e.id, e);
  paintTimeline();
}

// takeAlert makes a the alert shown unless the one shown is newer: answers
// to reads and to the user's actions can arrive after a live event that
// followed them. It reports whether the alert shown changed.
function takeAlert(a) {
  if (alert && Date.parse(a.updated_at) < Date.parse(alert.updated_at)) return false;
  const changed = JSON.stringify(a) !== JSON.stringify(alert);
  alert = a;
  return changed;
}

// catchUp re-reads the alert and its timeline and repaints only when they
// hold something the page does not show (an acknowledgement or comment made
// between the first load and the stream going live).
async function catchUp() {
  const [a, res] = await Promise.all([api("/alerts/" + id), api("/alerts/" + id + "/events")]);
  let changed = takeAlert(a);
  for (const e of res.items) {
    if (!events.has(e.id)) { events.set(e.id, e); changed = true; }
  }
  if (!changed) return;
  paintAll();
  refreshAlertCount();
}

async function loadAll() {
  const [a, us] = await Promise.all([api("/alerts/" + id), api("/users").catch(() => ({ items: [] }))]);
  takeAlert(a);
  users.clear();
  for (const u of us.items) users.set(u.id, u);
  const [r, dev] = await Promise.all([
    api("/alert-rules/" + a.rule_id).catch(() => null), // the rule may be gone
    a.device_id ? api("/devices/" + a.device_id).catch(() => null) : null,
  ]);
  rule = r;
  deviceName = dev ? dev.name || dev.serial : "";
  await loadEvents();
  paintAll();
  loadChart().catch(e => showError(e.message));
}

function paintAll() {
  paintHeader();
  paintControls();
  paintTimeline();
  paintPolicy();
}

// setAlert takes a new state of the alert (without the live "event").
function setAlert(a) {
  const { event, ...rest } = a;
  takeAlert(rest);
  if (event) events.set(event.id, event);
  paintAll();
  refreshAlertCount();
}

function setupControls() {
  const act = async (btn, path, body) => {
    btn.disabled = true;
    try {
      const res = await api("/alerts/" + id + path, { method: "POST", body });
      if (res && res.kind) events.set(res.id, res); else if (res) takeAlert(res);
      await loadEvents();
      paintAll();
      showError("");
      return true;
    } catch (e) {
      showError(e.message);
      return false;
    } finally { btn.disabled = false; }
  };
  $("ack-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const c = ev.target.comment.value.trim();
    act($("btn-ack"), "/ack", c ? { comment: c } : {});
  });
  $("assign-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("btn-assign"), "/assign", { assignee_id: Number($("assignee").value) });
  });
  $("btn-resolve").addEventListener("click", () => act($("btn-resolve"), "/resolve"));
  $("comment-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = ev.target.comment;
    const c = input.value.trim();
    if (!c) return;
    if (await act($("btn-comment"), "/comments", { comment: c })) input.value = "";
  });
}

async function main() {
  try {
    user = await shell();
    await loadAll();
  } catch (e) {
    if (e.status === 404) showNotFound($("alert"), "There is no such alert in your organization."); else showError(e.message);
    return;
  }
  setupControls();
  setupPolicy();
  new Live("/ws/alerts", {
    onMessage: (msg) => {
      if (msg.type !== "alert" || !msg.data || msg.data.id !== id) return;
      console.debug("alert event", msg.data.status, msg.data.event ? msg.data.event.kind : "-");
      setAlert(msg.data);
    },
    onResync: () => loadAll().then(() => showError("")).catch(e => showError(e.message)),
    onFirstReady: () => catchUp().catch(e => showError(e.message)),
  }).start();
}

main();
