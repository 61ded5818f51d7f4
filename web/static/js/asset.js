// asset.js: one machine. A health card (ISO zone, anomaly, diagnosis,
// forecast) from GET /assets/{id}/health, the velocity trend of one of its
// sensors with ISO zone bands and alarm/trip lines, the sensor's recent raw
// bursts with spectrum and envelope spectrum (fault-frequency markers,
// harmonic cursors, log/linear amplitude) and a waterfall of recent spectra.
//
// The charts expose what they show for tests and bug reports: data-points,
// data-markers and data-cursors on the chart elements, data-rows on the
// waterfall canvas.

import { api } from "./api.js";
import { h, $, fmt, when, ago, showError, shell, withGaps, showNotFound } from "./ui.js";
import {
  ZONES, zoneText, findingText, topFinding, faultAction, faultName, diagnosisStatus, anomalyText,
  forecastText, evidenceLine, harmonics, nearestPeak, markerFamily, markerHarmonic, FAULT_LINE,
} from "./words.js";
import { zonePlugin, markerPlugin, drawWaterfall, waterfallHit } from "./plots.js";

const root = $("asset");
const assetId = Number(root.dataset.assetId);
const params = new URLSearchParams(location.search);

const TREND = {
  "30d": { ms: 30 * 86400e3, bucket: "1h", note: "last 30 days, hourly maximum" },
  "90d": { ms: 90 * 86400e3, bucket: "1d", note: "last 90 days, daily maximum" },
};
const VEL = ["vel_rms_x", "vel_rms_y", "vel_rms_z"];
const WATERFALL_ROWS = 20;

const st = {
  asset: null, devices: [], device: 0, health: null,
  trend: "30d", trendData: [[], []],
  waveforms: [], selected: 0, details: new Map(),
  axis: 0, scale: "lin", span: "full", hidden: new Set(),
  cursors: { chart: "", f0: 0 },
};
let trendPlot = null, specPlot = null, envPlot = null;
const trendEl = $("chart-trend"), specEl = $("chart-spectrum"), envEl = $("chart-envelope");
const canvas = $("waterfall");

function chartHeight(small) { return window.innerWidth < 600 ? (small ? 180 : 200) : (small ? 220 : 260); }
// Charts keep at least 340 px and scroll sideways inside .chart-scroll on
// narrower screens rather than squash their axes.
function chartWidth(el) { return Math.max(340, el.parentElement.clientWidth); }

// ---- Health card ----------------------------------------------------------

function badge(el, status, icon, text) {
  el.className = "badge status-" + status;
  el.dataset.status = status;
  el.replaceChildren(h("span", { class: "badge-icon", "aria-hidden": "true" }, icon), " " + text);
}

function paintHealth() {
  const hd = st.health;
  $("health-loading").hidden = true;
  $("health-body").hidden = false;
  $("health").removeAttribute("aria-busy");
  const iso = (hd && hd.iso) || {};
  const z = ZONES[iso.zone];
  const zb = $("h-zone");
  zb.dataset.zone = iso.zone || "";
  badge(zb, z ? z.status : "nodata", z ? z.icon : "–", zoneText(iso.zone));
  $("h-vel").textContent = fmt(iso.vel_rms_mm_s, 2);
  const b = iso.boundaries_mm_s || [];
  const bits = [];
  if (b.length === 3) bits.push("Zone limits A/B " + fmt(b[0], 1) + " · B/C " + fmt(b[1], 1) + " · C/D " + fmt(b[2], 1) + " mm/s");
  if (iso.alarm_mm_s) bits.push("alarm " + fmt(iso.alarm_mm_s, 2));
  if (iso.trip_mm_s) bits.push("trip " + fmt(iso.trip_mm_s, 2));
  if (iso.baseline_mm_s) bits.push("baseline " + fmt(iso.baseline_mm_s, 2));
  $("h-bounds").textContent = bits.join(" · ") + (iso.group ? " (group " + iso.group + ", " + (iso.foundation || "rigid") + ")" : "");
  paintGauge(iso);

  const diag = hd && hd.diagnosis;
  const top = diag ? topFinding(diag.findings) : null;
  const db = $("h-diag-badge");
  const text = $("h-diag-text"), action = $("h-diag-action");
  const evList = $("h-evidence-list");
  if (!diag) {
    badge(db, "nodata", "–", "No burst analysed");
    text.textContent = "No raw burst has been analysed for this machine yet. A diagnosis appears after the next burst.";
    action.textContent = "";
    $("h-evidence").hidden = true;
  } else {
    const s = diagnosisStatus(top);
    badge(db, s, s === "ok" ? "✔" : s === "warning" ? "▲" : "✖", s === "ok" ? "No fault found" : s === "warning" ? "Possible fault" : "Fault found");
    text.textContent = top ? findingText(top) : (diag.summary || "No fault pattern found.");
    const when_ = diag.ts ? "From the burst of " + when(diag.ts) + " (" + ago(diag.ts) + "). " : "";
    action.replaceChildren(when_ + (top ? faultAction(top.fault) : ""));
    if (diag.waveform_id) {
      action.append(" ", h("a", { href: "#waveforms", onclick: () => selectFromDiagnosis(diag.device_id, diag.waveform_id) }, "Show the spectra"));
    }
    const items = [];
    if (diag.summary) items.push(h("li", {}, diag.summary));
    for (const f of diag.findings || []) {
      if (f.fault === "normal") continue;
      items.push(h("li", {}, h("strong", {}, faultName(f.fault) + " " + Math.round((f.confidence || 0) * 100) + "%"),
        h("ul", {}, ...(f.evidence || []).map(e => h("li", {}, evidenceLine(e))))));
    }
    // Below the level the shaft rules start from, a 1× is a healthy
    // machine's residual imbalance: say so, or "no fault" looks unexplained.
    const from = diag.shaft_rules_from_mm_s;
    if (from > 0 && diag.vel_rms_mm_s < from) {
      const why = b.length === 3 && from > b[0] + 1e-9 ? "this machine's alarm level: baseline + 25 % of B/C" : "the ISO zone A/B boundary";
      items.push(h("li", { class: "shaft-gate" }, "Imbalance, misalignment and looseness are judged from " + fmt(from, 2) + " mm/s (" + why +
        "); this burst had " + fmt(diag.vel_rms_mm_s, 2) + " mm/s."));
    }
    evList.replaceChildren(...items);
    $("h-evidence").hidden = items.length === 0;
  }

  const an = anomalyText(hd && hd.anomaly);
  badge($("h-anom-badge"), an.status, an.status === "warning" ? "▲" : an.status === "ok" ? "✔" : "…",
    an.status === "warning" ? "Anomalous" : an.status === "ok" ? "Normal" : "Learning");
  $("h-anom-text").textContent = an.text;

  $("h-forecast").textContent = forecastText(hd && hd.trend);
  $("h-computed").textContent = hd && hd.computed_at ? "Computed " + ago(hd.computed_at) : "";
}

// The gauge is the velocity scale with the four zones; its widths are set
// through the CSSOM, which the CSP allows (style attributes it does not).
function paintGauge(iso) {
  const g = $("h-gauge");
  const b = iso.boundaries_mm_s;
  if (!b || b.length !== 3) { g.hidden = true; return; }
  g.hidden = false;
  const v = iso.vel_rms_mm_s;
  const max = Math.max(b[2] * 1.4, (iso.trip_mm_s || 0) * 1.1, typeof v === "number" ? v * 1.1 : 0);
  const edges = [0, ...b, max];
  const mark = $("h-gauge-mark");
  g.replaceChildren(...["A", "B", "C", "D"].map((z, i) => {
    const s = h("span", { class: "gauge-zone zone-" + z }, z);
    s.style.width = ((edges[i + 1] - edges[i]) / max * 100) + "%";
    return s;
  }), mark);
  mark.hidden = typeof v !== "number";
  if (typeof v === "number") mark.style.left = Math.min(100, v / max * 100) + "%";
}

async function loadHealth() {
  try {
    st.health = await api("/assets/" + assetId + "/health");
  } catch (e) {
    if (e.status !== 404) throw e;
    st.health = null; // analytics not available on this server yet
  }
  paintHealth();
  if (trendPlot) trendPlot.redraw();
}

// ---- Trend ----------------------------------------------------------------

function trendZones() {
  const iso = st.health && st.health.iso;
  if (!iso) return null;
  const lines = [];
  if (iso.alarm_mm_s) lines.push({ y: iso.alarm_mm_s, label: "Alarm " + fmt(iso.alarm_mm_s, 2), color: "#b35900", dash: [8, 5] });
  if (iso.trip_mm_s) lines.push({ y: iso.trip_mm_s, label: "Trip " + fmt(iso.trip_mm_s, 2), color: "#a1121b", dash: [3, 3] });
  return { bounds: iso.boundaries_mm_s, lines };
}

function trendOpts(width) {
  const fmtT = (v) => v == null ? "–" : new Date(v * 1000).toLocaleString(undefined, { dateStyle: "short", timeStyle: st.trend === "90d" ? undefined : "short" });
  return {
    width, height: chartHeight(),
    scales: {
      x: { time: true },
      y: {
        range: (u, min, max) => {
          const iso = (st.health && st.health.iso) || {};
          const b = iso.boundaries_mm_s || [];
          return [0, Math.max(1, (max || 0) * 1.15, (iso.trip_mm_s || 0) * 1.15, (b[2] || 0) * 1.1)];
        },
      },
    },
    axes: [{}, { label: "Velocity RMS (mm/s)", size: 60 }],
    series: [
      { label: "Time", value: (u, v) => fmtT(v) },
      { label: "Max velocity RMS", stroke: "#1f4e79", width: 2, points: { show: false }, value: (u, v) => fmt(v, 2) + " mm/s" },
    ],
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
    plugins: [zonePlugin(trendZones)],
  };
}

async function loadTrend() {
  if (!st.device) { st.trendData = [[], []]; drawTrend(); return; }
  const r = TREND[st.trend];
  const to = new Date(), from = new Date(to.getTime() - r.ms);
  const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), bucket: r.bucket, metrics: VEL.join(","), limit: "10000" });
  const res = await api("/devices/" + st.device + "/telemetry?" + q);
  const xs = [], ys = [];
  for (const it of res.items) {
    const m = it.max || it.values || {};
    let v = null;
    for (const k of VEL) if (typeof m[k] === "number" && (v === null || m[k] > v)) v = m[k];
    xs.push(Date.parse(it.ts) / 1000);
    ys.push(v);
  }
  st.trendData = [xs, ys];
  $("trend-note").textContent = r.note + " · " + xs.length + " points";
  drawTrend();
}

function drawTrend() {
  if (!window.uPlot) { showError("The chart library did not load."); return; }
  if (!trendPlot) trendPlot = new uPlot(trendOpts(chartWidth(trendEl)), withGaps(st.trendData), trendEl);
  else trendPlot.setData(withGaps(st.trendData));
  emptyState(trendEl, st.trendData[0].length, "No readings in this range.");
}

function emptyState(el, n, msg) {
  el.dataset.points = String(n);
  let empty = el.querySelector(".chart-empty");
  if (n === 0 && !empty) el.append(empty = h("p", { class: "chart-empty" }, msg));
  if (empty && n === 0) empty.textContent = msg;
  if (n > 0 && empty) empty.remove();
}

// ---- Waveforms ------------------------------------------------------------

function detail() { return st.details.get(st.selected) || null; }

function axisData(d) {
  const ax = d && Array.isArray(d.axes_data) ? d.axes_data : [];
  return ax[Math.min(st.axis, ax.length - 1)] || null;
}

async function loadWaveforms() {
  if (!st.device) { st.waveforms = []; paintList(); return; }
  let res;
  try {
    res = await api("/devices/" + st.device + "/waveforms?limit=" + WATERFALL_ROWS);
  } catch (e) {
    if (e.status !== 404) throw e;
    res = { items: [] };
  }
  st.waveforms = res.items || [];
  if (!st.waveforms.some(w => w.id === st.selected)) {
    const done = st.waveforms.find(w => w.analysis_status === "done");
    st.selected = (done || st.waveforms[0] || { id: 0 }).id;
  }
  paintList();
  await selectWaveform(st.selected);
  loadWaterfall();
}

function statusIcon(s) {
  return { done: ["✔", "analysed"], pending: ["◌", "analysing…"], failed: ["✖", "analysis failed"] }[s] || ["?", s];
}

function paintList() {
  const ul = $("wf-list");
  if (!st.waveforms.length) {
    ul.replaceChildren(h("li", { class: "muted" }, st.device ? "No raw bursts from this sensor yet. A node sends one on demand or when its vibration crosses a threshold." : "Attach a sensor to this machine to see its bursts."));
    return;
  }
  ul.replaceChildren(...st.waveforms.map(w => {
    const [icon, word] = statusIcon(w.analysis_status);
    const dur = w.samples / w.sample_rate_hz;
    return h("li", {}, h("button", {
      type: "button", class: "wf-item", "data-waveform-id": w.id, "aria-pressed": String(w.id === st.selected),
      onclick: () => selectWaveform(w.id),
    }, h("span", { class: "wf-when" }, when(w.ts)),
    h("span", { class: "wf-meta small" }, h("span", { class: "wf-status", "data-status": w.analysis_status }, icon + " " + word),
      " · " + w.axes + " ax · " + fmt(w.sample_rate_hz / 1000, 1) + " kHz · " + fmt(dur, 1) + " s")));
  }));
}

async function fetchDetail(wid) {
  let d = st.details.get(wid);
  if (d && d.analysis_status !== "pending") return d;
  d = await api("/devices/" + st.device + "/waveforms/" + wid);
  st.details.set(wid, d);
  return d;
}

let pendingTimer = 0;
async function selectWaveform(wid) {
  st.selected = wid;
  st.cursors = { chart: "", f0: 0 };
  for (const b of $("wf-list").querySelectorAll(".wf-item")) b.setAttribute("aria-pressed", String(Number(b.dataset.waveformId) === wid));
  clearTimeout(pendingTimer);
  if (!wid) { paintSpectra(); return; }
  $("wf-summary").textContent = "Loading the burst…";
  let d;
  try { d = await fetchDetail(wid); } catch (e) { $("wf-summary").textContent = "Could not load the burst: " + e.message; return; }
  if (st.selected !== wid) return;
  if (d.analysis_status === "pending") pendingTimer = setTimeout(() => { if (st.selected === wid) selectWaveform(wid); }, 3000);
  paintSpectra();
  paintWaterfall();
}

async function selectFromDiagnosis(device, wid) {
  try {
    if (device && device !== st.device && st.devices.some(d => d.id === device)) {
      st.device = device;
      $("asset-device").value = String(device);
      await loadDevice();
    }
    if (st.waveforms.some(w => w.id === wid)) await selectWaveform(wid);
  } catch (e) { showError(e.message); }
}

function paintAxisButtons() {
  const d = detail();
  const names = d && Array.isArray(d.axes_data) ? d.axes_data.map(a => a.axis) : ["x", "y", "z"];
  const box = $("wf-axis");
  const want = names.join(",");
  if (box.dataset.axes !== want) {
    box.dataset.axes = want;
    box.replaceChildren(...names.map((n, i) => h("button", { type: "button", class: "btn", "data-axis": i, onclick: () => { st.axis = i; st.cursors = { chart: "", f0: 0 }; paintAxisButtons(); paintSpectra(); paintWaterfall(); } }, n.toUpperCase())));
  }
  for (const b of box.querySelectorAll("button")) b.setAttribute("aria-pressed", String(Number(b.dataset.axis) === Math.min(st.axis, names.length - 1)));
}

// markersFor lists the markers of one chart: shaft orders and each bearing
// line; the 2× and 3× of a bearing line only for the diagnosed one, so the
// lines a finding rests on stand out. The key chips hide families.
function markersFor(d, chart) {
  if (!d || !Array.isArray(d.markers)) return [];
  const top = topFinding(d.diagnosis);
  const line = top && FAULT_LINE[top.fault];
  let ms = d.markers.filter(m => typeof m.hz === "number" && m.hz > 0);
  ms = ms.filter(m => {
    const fam = markerFamily(m.label);
    return fam === "shaft" || markerHarmonic(m.label) === 1 || fam === line;
  });
  if (line && !ms.some(m => markerFamily(m.label) === line && markerHarmonic(m.label) > 1)) {
    // An older document without harmonics: add them here.
    const base = ms.find(m => m.label === line);
    if (base) ms = ms.concat([2, 3].map(k => ({ label: k + "x" + line, hz: base.hz * k })));
  }
  return ms.filter(m => !st.hidden.has(markerFamily(m.label)));
}

function cursorsFor(chart) {
  return st.cursors.chart === chart && st.cursors.f0 > 0 ? harmonics(st.cursors.f0, 5) : [];
}

function spanRange(d, fmax) {
  if (st.span === "low") return [0, Math.min(1000, fmax)];
  if (st.span === "orders" && d && d.rpm > 0) return [0, Math.min(fmax, 10.5 * d.rpm / 60)];
  return [0, fmax];
}

function specOpts(el, chart, width) {
  const log = st.scale === "log";
  return {
    width, height: chartHeight(true),
    scales: {
      x: { time: false, range: (u, min, max) => spanRange(detail(), max) },
      y: log ? { distr: 3 } : { range: (u, min, max) => [0, Math.max(1e-6, max * 1.1)] },
    },
    axes: [
      { label: "Frequency (Hz)", size: 44 },
      { label: chart === "spectrum" ? "Amplitude (g)" : "Envelope (g)", size: 64, values: (u, vals) => vals.map(v => v == null ? "" : log ? v.toExponential(0) : +v.toPrecision(3)) },
    ],
    series: [
      { label: "Frequency", value: (u, v) => v == null ? "–" : fmt(v, 1) + " Hz" },
      { label: "Amplitude", stroke: chart === "spectrum" ? "#1f4e79" : "#5b2a86", width: 1.25, points: { show: false }, value: (u, v) => v == null ? "–" : v.toPrecision(3) + " g" },
    ],
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
    plugins: [markerPlugin(el, () => markersFor(detail(), chart), () => cursorsFor(chart))],
  };
}

function seriesOf(d, chart) {
  const a = axisData(d);
  const s = a && a[chart];
  if (!s || !Array.isArray(s.amplitude_g) || !(s.df_hz > 0)) return [[], []];
  const xs = new Array(s.amplitude_g.length), ys = new Array(s.amplitude_g.length);
  let peak = 0;
  for (const v of s.amplitude_g) if (v > peak) peak = v;
  const floor = peak > 0 ? peak * 1e-5 : 1e-9;
  for (let i = 0; i < xs.length; i++) {
    xs[i] = i * s.df_hz;
    const v = s.amplitude_g[i];
    ys[i] = st.scale === "log" ? Math.max(floor, v) : v;
  }
  return [xs, ys];
}

function makePlot(old, el, chart) {
  if (old) old.destroy();
  el.querySelectorAll(".uplot").forEach(n => n.remove());
  const p = new uPlot(specOpts(el, chart, chartWidth(el)), seriesOf(detail(), chart), el);
  el._uplot = p; // for the browser test and the inspector
  // A click (not a drag) on a peak puts cursors on its harmonics.
  let down = null;
  p.over.addEventListener("mousedown", (e) => { down = [e.clientX, e.clientY]; });
  p.over.addEventListener("click", (e) => {
    if (down && Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 4) return;
    const data = p.data[1];
    // From the event, not p.cursor: a tap or a synthetic click may come
    // without the mousemove that updates the cursor.
    const idx = p.posToIdx(e.clientX - p.over.getBoundingClientRect().left);
    if (idx == null || idx < 0 || !data.length) return;
    const w = Math.max(2, Math.round(p.data[0].length * 6 / p.bbox.width));
    const pk = nearestPeak(data, idx, w);
    st.cursors = { chart, f0: p.data[0][pk] };
    paintCursors();
  });
  return p;
}

function paintSpectra() {
  if (!window.uPlot) { showError("The chart library did not load."); return; }
  const d = detail();
  paintAxisButtons();
  paintKeys(d);
  const spec = seriesOf(d, "spectrum"), env = seriesOf(d, "envelope");
  const want = st.scale;
  if (!specPlot || specPlot._scale !== want) {
    specPlot = makePlot(specPlot, specEl, "spectrum");
    envPlot = makePlot(envPlot, envEl, "envelope");
    specPlot._scale = envPlot._scale = want;
  }
  specPlot.setData(spec);
  envPlot.setData(env);
  const a = axisData(d);
  $("env-band").textContent = a && a.envelope && Array.isArray(a.envelope.band_hz) ? "(g, demodulated from " + Math.round(a.envelope.band_hz[0]) + "–" + Math.round(a.envelope.band_hz[1]) + " Hz)" : "(g)";
  let msg = "No burst selected.";
  if (d && d.analysis_status === "pending") msg = "This burst is being analysed; the spectra appear in a moment.";
  else if (d && d.analysis_status === "failed") msg = "The analysis of this burst failed" + (d.analysis_error ? ": " + d.analysis_error : ".");
  emptyState(specEl, spec[0].length, msg);
  emptyState(envEl, env[0].length, d && d.analysis_status === "done" ? "No envelope spectrum for this axis." : msg);
  paintSummary(d, a);
  paintCursors();
}

function paintSummary(d, a) {
  const el = $("wf-summary");
  if (!d) { el.textContent = st.waveforms.length ? "" : "\u00a0"; return; }
  const parts = [when(d.ts)];
  if (d.rpm) parts.push(Math.round(d.rpm) + " rpm" + (d.rpm_source === "estimated" ? " (estimated)" : ""));
  if (d.bearing && d.bearing.designation) parts.push("bearing " + d.bearing.designation);
  if (a) parts.push("axis " + String(a.axis).toUpperCase() + ": " + fmt(a.vel_rms_mm_s, 2) + " mm/s, kurtosis " + fmt(a.kurtosis, 1) + ", crest " + fmt(a.crest, 1));
  const top = topFinding(d.diagnosis);
  const onAxis = top && top.fault !== "normal" && top.axis ? " (strongest on axis " + String(top.axis).toUpperCase() + ")" : "";
  el.replaceChildren(h("span", {}, parts.join(" · ")), top ? h("strong", { class: top.fault === "normal" ? "" : "wf-finding" }, findingText(top) + onAxis) : "");
}

function paintKeys(d) {
  const fams = [];
  for (const m of (d && d.markers) || []) {
    const f = markerFamily(m.label);
    if (!fams.includes(f)) fams.push(f);
  }
  const box = $("wf-keys");
  box.replaceChildren(...fams.map(f => {
    const first = d.markers.find(m => markerFamily(m.label) === f && markerHarmonic(m.label) === 1) || d.markers.find(m => markerFamily(m.label) === f);
    const name = f === "shaft" ? "Shaft 1×, 2×…" : f + " " + fmt(first.hz, 1) + " Hz";
    return h("button", {
      type: "button", class: "key-chip key-" + f, "aria-pressed": String(!st.hidden.has(f)), title: "Show or hide the " + f + " markers",
      onclick: () => {
        if (st.hidden.has(f)) st.hidden.delete(f); else st.hidden.add(f);
        paintKeys(d);
        if (specPlot) { specPlot.redraw(); envPlot.redraw(); }
      },
    }, h("span", { class: "key-line", "aria-hidden": "true" }), name);
  }));
}

function paintCursors() {
  const line = $("wf-cursors");
  const clear = $("wf-clear");
  specPlot && specPlot.redraw(false);
  envPlot && envPlot.redraw(false);
  if (!st.cursors.f0) {
    line.textContent = "Click a peak to put cursors on its harmonics.";
    clear.hidden = true;
    return;
  }
  const p = st.cursors.chart === "spectrum" ? specPlot : envPlot;
  const [xs, ys] = p.data;
  const df = xs.length > 1 ? xs[1] - xs[0] : 1;
  const d = detail();
  const shaft = d && d.rpm > 0 ? d.rpm / 60 : 0;
  const parts = harmonics(st.cursors.f0, 5).map(c => {
    const i = Math.round(c.hz / df);
    if (i >= ys.length) return c.k + "× " + fmt(c.hz, 1) + " Hz (beyond the spectrum)";
    const pk = nearestPeak(ys, i, 2);
    return c.k + "× " + fmt(c.hz, 1) + " Hz: " + ys[pk].toPrecision(2) + " g";
  });
  line.replaceChildren(h("strong", {}, "Harmonics of " + fmt(st.cursors.f0, 1) + " Hz" + (shaft ? " (" + fmt(st.cursors.f0 / shaft, 2) + "× shaft)" : "") + " in the " + st.cursors.chart + ": "), parts.join(" · "));
  clear.hidden = false;
}

// ---- Waterfall ------------------------------------------------------------

let wfallQueue = null;
async function loadWaterfall() {
  const list = st.waveforms.filter(w => w.analysis_status === "done").slice(0, WATERFALL_ROWS);
  const token = {};
  wfallQueue = token;
  paintWaterfall();
  const queue = list.filter(w => !st.details.has(w.id));
  const worker = async () => {
    while (queue.length && wfallQueue === token) {
      const w = queue.shift();
      try { await fetchDetail(w.id); } catch { /* the row stays grey */ }
      paintWaterfallSoon();
    }
  };
  await Promise.all([worker(), worker(), worker()]);
}

let wfallFrame = 0;
function paintWaterfallSoon() {
  if (wfallFrame) return;
  wfallFrame = requestAnimationFrame(() => { wfallFrame = 0; paintWaterfall(); });
}

let wfallView = null;
function waterfallRows() {
  return st.waveforms.filter(w => w.analysis_status === "done").slice(0, WATERFALL_ROWS).map(w => {
    const a = axisData(st.details.get(w.id));
    const s = a && a.spectrum;
    return { id: w.id, ts: w.ts, df: s ? s.df_hz : 1, amp: s && Array.isArray(s.amplitude_g) ? s.amplitude_g : null };
  });
}

function paintWaterfall() {
  const rows = waterfallRows();
  const loaded = rows.filter(r => r.amp);
  canvas.dataset.rows = String(loaded.length);
  const d = detail();
  let fmax = 0;
  for (const r of loaded) fmax = Math.max(fmax, r.df * (r.amp.length - 1));
  $("wfall-note").textContent = rows.length ? loaded.length + " of " + rows.length + " spectra, axis " + "XYZ"[st.axis] + " · click a row to open that burst" : "No analysed bursts yet.";
  if (!rows.length) { canvas.hidden = true; return; }
  canvas.hidden = false;
  const [fmin, fm] = spanRange(d, fmax || 1);
  wfallView = drawWaterfall(canvas, rows, { fmin, fmax: fm, selected: st.selected });
  wfallView.rows = rows;
}

function setupWaterfall() {
  const at = (e) => {
    if (!wfallView) return null;
    const r = canvas.getBoundingClientRect();
    return waterfallHit(e.clientX - r.left, e.clientY - r.top, wfallView.rows.length, wfallView.fmin, wfallView.fmax, r.width);
  };
  canvas.addEventListener("mousemove", (e) => {
    const hit = at(e);
    const out = $("wfall-hover");
    if (!hit) { out.textContent = "\u00a0"; return; }
    const r = wfallView.rows[hit.row];
    let amp = "";
    if (r.amp) {
      const i = Math.round(hit.hz / r.df);
      const v = i < r.amp.length ? r.amp[nearestPeak(r.amp, i, 1)] : 0;
      amp = v > 0 ? " · " + v.toPrecision(2) + " g (" + fmt(20 * Math.log10(v) - wfallView.top, 0) + " dB)" : "";
    }
    out.textContent = when(r.ts) + " · " + fmt(hit.hz, 0) + " Hz" + amp;
  });
  canvas.addEventListener("click", (e) => {
    const hit = at(e);
    if (hit) selectWaveform(wfallView.rows[hit.row].id);
  });
}

// ---- Page -----------------------------------------------------------------

function segmented(id, key, onPick) {
  const box = $(id);
  box.addEventListener("click", (e) => {
    const b = e.target.closest("button");
    if (!b || !b.dataset[key]) return;
    for (const o of box.querySelectorAll("button")) o.setAttribute("aria-pressed", String(o === b));
    onPick(b.dataset[key]);
  });
}

function paintHeader() {
  const a = st.asset;
  $("asset-name").textContent = a.name;
  const meta = [a.type, a.rpm ? Math.round(a.rpm) + " rpm" : "", a.bearing ? "bearing " + a.bearing : "", "ISO group " + a.iso_group + ", " + a.foundation].filter(Boolean);
  $("asset-meta").textContent = meta.join(" · ");
  document.title = a.name + " · " + document.title.split(" · ").pop();
  const sel = $("asset-device");
  sel.replaceChildren(...(st.devices.length ? st.devices.map(d => h("option", { value: d.id }, d.name || d.serial)) : [h("option", { value: "" }, "No sensor attached")]));
  sel.value = String(st.device || "");
  sel.disabled = st.devices.length < 2;
}

async function loadDevice() {
  st.details.clear();
  st.selected = 0;
  const u = new URL(location.href);
  if (st.device) u.searchParams.set("device", st.device); else u.searchParams.delete("device");
  history.replaceState(null, "", u);
  await Promise.all([loadTrend(), loadWaveforms()]);
}

async function main() {
  segmented("trend-range", "range", (r) => { st.trend = r; loadTrend().catch(e => showError(e.message)); });
  segmented("wf-scale", "scale", (s) => { st.scale = s; paintSpectra(); });
  segmented("wf-span", "span", (s) => {
    st.span = s;
    if (specPlot) { specPlot.setData(specPlot.data); envPlot.setData(envPlot.data); }
    paintWaterfall();
  });
  $("wf-clear").addEventListener("click", () => { st.cursors = { chart: "", f0: 0 }; paintCursors(); });
  $("asset-device").addEventListener("change", (e) => { st.device = Number(e.target.value) || 0; loadDevice().catch(er => showError(er.message)); });
  setupWaterfall();
  try {
    await shell();
    const [asset, devs] = await Promise.all([api("/assets/" + assetId), api("/assets/" + assetId + "/devices")]);
    st.asset = asset;
    st.devices = devs.items.sort((a, b) => (a.name || a.serial).localeCompare(b.name || b.serial));
    const want = Number(params.get("device"));
    st.device = (st.devices.find(d => d.id === want) || st.devices[0] || { id: 0 }).id;
    paintHeader();
    await loadHealth();
    await loadDevice();
  } catch (e) {
    if (e.status === 404) showNotFound(root, "This machine does not exist, or it belongs to another organization."); else showError(e.message);
    return;
  }
  new ResizeObserver(() => {
    if (trendPlot) trendPlot.setSize({ width: chartWidth(trendEl), height: chartHeight() });
    if (specPlot) specPlot.setSize({ width: chartWidth(specEl), height: chartHeight(true) });
    if (envPlot) envPlot.setSize({ width: chartWidth(envEl), height: chartHeight(true) });
    paintWaterfallSoon();
  }).observe(root);
  // Health and the burst list follow the analysis as it happens.
  setInterval(() => {
    loadHealth().catch(() => {});
    refreshList().catch(() => {});
  }, 30000);
}

async function refreshList() {
  if (!st.device) return;
  const res = await api("/devices/" + st.device + "/waveforms?limit=" + WATERFALL_ROWS);
  const before = st.waveforms.map(w => w.id + w.analysis_status).join();
  st.waveforms = res.items || [];
  if (st.waveforms.map(w => w.id + w.analysis_status).join() === before) return;
  paintList();
  loadWaterfall();
}

main();
