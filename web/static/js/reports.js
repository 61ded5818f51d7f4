// reports.js: the condition report (GET /reports/condition): a row per
// machine, the ones to act on first, with why, the worst hour of the
// period and a line of each day's worst hour against the ISO zone limits;
// CSV download and print.

import { api, apiBlob } from "./api.js";
import { h, $, fmt, when, showError, shell } from "./ui.js";
import { zoneText } from "./words.js";

const CONDITION = {
  act: { status: "critical", icon: "✖", label: "Act now" },
  watch: { status: "warning", icon: "▲", label: "Watch" },
  good: { status: "ok", icon: "✔", label: "Good" },
  no_data: { status: "nodata", icon: "–", label: "No data" },
};

let days = 30;

// shortWhen is a time as "Nov 30, 20:00": the table's columns are narrow.
function shortWhen(ts) {
  return new Date(ts).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function conditionBadge(c) {
  const s = CONDITION[c] || CONDITION.no_data;
  return h("span", { class: "badge status-" + s.status, "data-condition": c },
    h("span", { class: "badge-icon", "aria-hidden": "true" }, s.icon), " " + s.label);
}

function zoneChip(z) {
  return z ? h("span", { class: "zone-chip zone-" + z, title: zoneText(z) }, z) : "";
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

// sparkline draws each day's worst hour (mm/s) over the zone bands: a
// line broken where a day has no readings, a dot on the worst day.
function sparkline(m, daysList) {
  const W = 160, H = 36, pad = 2;
  const vals = m.daily_vel_rms_mm_s || [];
  const b = m.boundaries_mm_s || [];
  const seen = vals.filter(v => typeof v === "number");
  if (!seen.length) return h("span", { class: "muted" }, "no readings");
  const top = Math.max(...seen, (b[2] || 0) * 1.15, 0.1);
  const x = i => pad + (vals.length > 1 ? i * (W - 2 * pad) / (vals.length - 1) : (W - 2 * pad) / 2);
  const y = v => H - pad - Math.min(v, top) / top * (H - 2 * pad);
  const el = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "spark", role: "img" });
  const label = `Daily worst hour over ${vals.length} days: ${fmt(Math.min(...seen), 2)} to ${fmt(Math.max(...seen), 2)} mm/s`;
  el.setAttribute("aria-label", label);
  const t = svg("title", {}); t.textContent = label; el.append(t);
  // Zone bands A..D from the bottom.
  const edges = [0, b[0], b[1], b[2], top].map(v => Math.min(v || 0, top));
  ["A", "B", "C", "D"].forEach((z, i) => {
    if (edges[i + 1] > edges[i]) el.append(svg("rect", { x: 0, y: y(edges[i + 1]), width: W, height: y(edges[i]) - y(edges[i + 1]), class: "band-" + z }));
  });
  let d = "", pen = false, worst = -1;
  vals.forEach((v, i) => {
    if (typeof v !== "number") { pen = false; return; }
    d += (pen ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1) + " ";
    pen = true;
    if (worst < 0 || v > vals[worst]) worst = i;
  });
  el.append(svg("path", { d, class: "spark-line" }));
  if (worst >= 0) el.append(svg("circle", { cx: x(worst), cy: y(vals[worst]), r: 2.5, class: "spark-worst" }));
  el.dataset.days = String(daysList.length);
  return el;
}

// td is a table cell whose content is one block, so that on a phone
// (rows as cards, label and value side by side) the value stays together.
function td(label, ...children) {
  return h("td", { "data-label": label }, h("div", { class: "cell-body" }, ...children));
}

function alertsCell(m) {
  const parts = [];
  if (m.alerts_critical) parts.push(m.alerts_critical + " critical");
  if (m.alerts_warning) parts.push(m.alerts_warning + " warning");
  if (m.alerts_info) parts.push(m.alerts_info + " info");
  const opened = m.alerts_opened + (m.alerts_truncated ? "+" : "");
  return td("Alerts",
    h("a", { href: "/alerts?status=&asset=" + m.asset_id, class: "report-alerts" }, opened + " opened"),
    parts.length ? h("div", { class: "muted small" }, parts.join(", ")) : null,
    m.alerts_open_now ? h("div", { class: "small" }, h("strong", {}, m.alerts_open_now + " open now")) : null);
}

function render(rep) {
  const el = $("report");
  el.removeAttribute("aria-busy");
  const counts = {};
  for (const m of rep.machines) counts[m.condition] = (counts[m.condition] || 0) + 1;
  $("report-note").textContent = when(rep.from) + " to " + when(rep.to) + " · " + rep.machines.length + " machines" +
    ["act", "watch", "good", "no_data"].filter(c => counts[c]).map(c => " · " + counts[c] + " " + CONDITION[c].label.toLowerCase()).join("");
  if (!rep.machines.length) {
    el.replaceChildren(h("div", { class: "empty" }, h("p", { class: "empty-title" }, "No machines yet"),
      h("p", { class: "muted" }, "Add machines and attach sensors to them; the report then shows each one's condition.")));
    return;
  }
  el.replaceChildren(h("table", { class: "table report-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Machine"), h("th", {}, "Condition"), h("th", {}, "Now"), h("th", {}, "Worst hour"),
      h("th", {}, "Daily worst"), h("th", {}, "Diagnosis · forecast"), h("th", {}, "Alerts"), h("th", {}, "Received"))),
    h("tbody", {}, ...rep.machines.map(m => h("tr", { "data-asset-id": m.asset_id, "data-condition": m.condition },
      td("Machine", h("a", { href: "/assets/" + m.asset_id }, h("strong", {}, m.name)),
        h("div", { class: "muted small" }, [m.type, m.rpm ? Math.round(m.rpm) + " rpm" : ""].filter(Boolean).join(" · "))),
      td("Condition", conditionBadge(m.condition),
        m.reasons.length ? h("ul", { class: "reasons small" }, ...m.reasons.map(r => h("li", {}, r))) : null),
      td("Now", m.vel_rms_mm_s != null ? h("span", { class: "nowrap" }, fmt(m.vel_rms_mm_s, 2) + " mm/s ", zoneChip(m.zone)) : "–"),
      td("Worst hour", m.worst_vel_rms_mm_s != null ?
        [h("span", { class: "nowrap" }, fmt(m.worst_vel_rms_mm_s, 2) + " mm/s ", zoneChip(m.worst_zone)), h("div", { class: "muted small" }, shortWhen(m.worst_at))] : "–"),
      td("Daily worst", sparkline(m, rep.days)),
      td("Diagnosis · forecast",
        m.diagnosis ? h("div", {}, m.diagnosis) : h("div", { class: "muted" }, "No fault found"),
        m.diagnosis_evidence ? h("div", { class: "muted small" }, m.diagnosis_evidence) : null,
        m.forecast_alarm_at ? h("div", { class: "small" }, "Alarm level about " + when(m.forecast_alarm_at)) : null,
        m.anomaly === "anomalous" ? h("div", { class: "small" }, "Anomalous readings") : null),
      alertsCell(m),
      td("Received", m.received_percent != null ? fmt(m.received_percent, 1) + " %" : "–"))))));
}

async function load() {
  $("report").setAttribute("aria-busy", "true");
  render(await api("/reports/condition?days=" + days));
}

async function downloadCSV() {
  const btn = $("report-csv");
  btn.disabled = true;
  try {
    const blob = await apiBlob("/reports/condition?format=csv&days=" + days, "text/csv");
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: "vibemon-condition-" + days + "d-" + new Date().toISOString().slice(0, 10) + ".csv" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) { showError(e.message); } finally { btn.disabled = false; }
}

async function main() {
  try { await shell(); } catch (e) { showError(e.message); return; }
  for (const b of $("period").querySelectorAll("button")) {
    b.addEventListener("click", async () => {
      days = Number(b.dataset.days);
      for (const o of $("period").querySelectorAll("button")) o.setAttribute("aria-pressed", String(o === b));
      try { showError(""); await load(); } catch (e) { showError(e.message); }
    });
  }
  $("report-csv").addEventListener("click", downloadCSV);
  $("report-print").addEventListener("click", () => window.print());
  try { await load(); } catch (e) { showError(e.message); }
}

main();
