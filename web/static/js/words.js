// words.js: the analytics in plain words for a maintenance engineer. Pure
// functions of the API documents (GET /assets/{id}/health, waveform
// details), no DOM, so Node can test them (web/testdata/words_test.mjs).

/** ZONES describes the ISO 10816-3 zones: what they mean and what to do. */
export const ZONES = {
  A: { status: "ok", icon: "✔", words: "good — as new" },
  B: { status: "ok", icon: "✔", words: "acceptable for long-term operation" },
  C: { status: "warning", icon: "▲", words: "restricted operation — plan maintenance" },
  D: { status: "critical", icon: "✖", words: "damage likely — act now" },
};

/** zoneText is "Zone C: restricted operation — plan maintenance". */
export function zoneText(zone) {
  const z = ZONES[zone];
  return z ? "Zone " + zone + ": " + z.words : "No ISO zone yet: no velocity reading";
}

const FAULTS = {
  normal: { name: "No fault pattern", action: "Nothing to do; keep monitoring." },
  imbalance: { name: "Imbalance", action: "Look for build-up or lost balance weights on the rotor, then balance it." },
  misalignment: { name: "Misalignment", action: "Check the shaft alignment and the coupling." },
  looseness: { name: "Mechanical looseness", action: "Check the mounting bolts, the base and the bearing housing fit." },
  bearing_outer_race: { name: "Outer race defect", action: "Check lubrication and plan a bearing replacement at the next stop.", line: "BPFO" },
  bearing_inner_race: { name: "Inner race defect", action: "Check lubrication and plan a bearing replacement soon: inner race damage grows fast.", line: "BPFI" },
  bearing_ball: { name: "Rolling element defect", action: "Plan a bearing replacement; check for contamination of the lubricant.", line: "BSF" },
  bearing_cage: { name: "Cage defect", action: "Plan a bearing replacement soon; a broken cage seizes the bearing.", line: "FTF" },
};

/** faultName names a dsp fault code for people ("Outer race defect"). */
export function faultName(code) {
  return (FAULTS[code] && FAULTS[code].name) || String(code || "Unknown").replace(/_/g, " ");
}

/** faultAction is what a maintenance engineer should do about a fault. */
export function faultAction(code) {
  return (FAULTS[code] && FAULTS[code].action) || "";
}

/** likelihood turns a confidence 0..1 into a word. */
export function likelihood(c) {
  if (c >= 0.7) return "likely";
  if (c >= 0.5) return "possible";
  return "unlikely";
}

function pct(x) { return Math.round(x * 100) + "%"; }

// confidence as a percentage below 100: the diagnosis is never certain.
function conf(x) { return Math.min(99, Math.round((x || 0) * 100)) + "%"; }

function hz(f) {
  if (!(typeof f === "number" && isFinite(f))) return "";
  return (f >= 100 ? Math.round(f) : f.toFixed(1)) + " Hz";
}

/** evidenceLine describes one evidence item, an object from dsp or a string. */
export function evidenceLine(e) {
  if (typeof e === "string") return e;
  if (!e || typeof e !== "object") return String(e);
  const what = String(e.what || "line").replace(/ x(\d+)/, " ×$1");
  const parts = [what + " in the " + (e.spectrum || "spectrum") + " spectrum"];
  // One decimal: the gap between found and expected is the point here.
  if (typeof e.freq_hz === "number" && e.freq_hz > 0) parts.push("at " + e.freq_hz.toFixed(1) + " Hz");
  if (typeof e.expected_hz === "number" && e.expected_hz > 0) parts.push("(expected " + e.expected_hz.toFixed(1) + " Hz)");
  const db = typeof e.db === "number" ? e.db : e.db_over_floor;
  if (typeof db === "number") parts.push(db.toFixed(1) + " dB over the floor");
  let s = parts.join(" ");
  if (e.ambiguous) s += " — also fits another fault, not counted";
  else if (e.present === false) s += " — not found";
  return s;
}

// harmonicsPhrase is "envelope peaks at 1×, 2×, 3× BPFO 107 Hz" for a
// bearing finding, "velocity peaks at 1×, 2× shaft speed 24.7 Hz" for a
// shaft finding, from the evidence lines that were present.
function harmonicsPhrase(f) {
  if (!Array.isArray(f.evidence)) return "";
  const line = FAULT_LINE[f.fault];
  const re = line ? new RegExp("^" + line + "(?: x(\\d+))?$") : /^(\d+(?:\.\d+)?)x$/;
  const ks = [];
  let base = 0, spec = "";
  for (const e of f.evidence) {
    if (!e || typeof e !== "object" || !e.present || e.ambiguous) continue;
    const m = re.exec(String(e.what || ""));
    if (!m) continue;
    const k = m[1] ? Number(m[1]) : 1;
    if (!ks.includes(k)) ks.push(k);
    if (!base && e.expected_hz > 0) base = e.expected_hz / k;
    spec = spec || e.spectrum || "";
  }
  if (!ks.length) return "";
  ks.sort((a, b) => a - b);
  const what = line ? line : "shaft speed";
  return (spec || "spectrum") + " peak" + (ks.length > 1 ? "s" : "") + " at " + ks.map(k => k + "×").join(", ") + " " + what + (base ? " " + hz(base) : "");
}

/** findingText is "Outer race defect likely (86%): envelope peaks at 1×, 2×, 3× BPFO 107 Hz". */
export function findingText(f) {
  if (!f) return "";
  if (f.fault === "normal") return "No fault pattern found in the last burst.";
  let s = faultName(f.fault) + " " + likelihood(f.confidence) + " (" + conf(f.confidence) + ")";
  // The finding's own summary lists lines in dB: evidence, not a headline.
  const why = harmonicsPhrase(f);
  return why ? s + ": " + why : s;
}

/** topFinding is the most confident finding that is not "normal", else the first. */
export function topFinding(findings) {
  if (!Array.isArray(findings) || !findings.length) return null;
  const real = findings.filter(f => f.fault !== "normal").sort((a, b) => (b.confidence || 0) - (a.confidence || 0));
  if (real.length && (real[0].detected !== false) && real[0].confidence >= 0.5) return real[0];
  return findings.find(f => f.fault === "normal") || real[0];
}

/** diagnosisStatus is ok/warning/critical for the card's badge. */
export function diagnosisStatus(f) {
  if (!f || f.fault === "normal" || !(f.confidence >= 0.5)) return "ok";
  return f.confidence >= 0.7 ? "critical" : "warning";
}

/** anomalyText says how unusual the readings are and which metric moved most. */
export function anomalyText(a) {
  if (!a) return { status: "nodata", text: "No anomaly model for this machine." };
  if (a.status === "learning" || a.score === null || a.score === undefined) {
    return { status: "nodata", text: "Learning what normal looks like" + (a.baseline_readings ? " (" + a.baseline_readings + " readings so far)" : "") + "." };
  }
  const c = (a.contributors || []).slice().sort((x, y) => y.share - x.share);
  let text = a.status === "anomalous" ? "Readings are unusual for this machine" : "Readings look normal";
  text += " (score " + a.score.toFixed(2) + ")";
  if (c.length && a.status === "anomalous") {
    text += ": " + c[0].metric + " moved most (" + pct(c[0].share) + ")";
    if (c.length > 1) text += ", then " + c.slice(1, 3).map(x => x.metric + " (" + pct(x.share) + ")").join(", ");
  }
  return { status: a.status === "anomalous" ? "warning" : "ok", text: text + "." };
}

/** forecastText is "At the current rate vibration reaches the alarm level in ~12 days (8–19)". */
export function forecastText(t, now = Date.now()) {
  if (!t || t.trend === "none" || !t.trend) return "No significant trend.";
  const slope = typeof t.slope_per_day === "number" ? " (" + (t.slope_per_day >= 0 ? "+" : "") + t.slope_per_day.toFixed(3) + " mm/s a day)" : "";
  if (t.trend === "falling") return "Vibration is falling" + slope + ".";
  if (!t.crosses_alarm_at) return "Vibration is rising" + slope + "; it does not reach the alarm level on this course.";
  const days = (ts) => Math.max(0, Math.round((Date.parse(ts) - now) / 86400e3));
  const d = days(t.crosses_alarm_at);
  if (d === 0) return "Vibration is at or above the alarm level and rising" + slope + ".";
  let s = "At the current rate vibration reaches the alarm level in ~" + d + " day" + (d === 1 ? "" : "s");
  const iv = Array.isArray(t.interval) ? t.interval : [];
  if (iv[0] && iv[1]) s += " (" + days(iv[0]) + "–" + days(iv[1]) + ")";
  else if (iv[0]) s += " (" + days(iv[0]) + " at the earliest)";
  return s + slope + ".";
}

/** harmonics returns k·f0 for k = 1..n. */
export function harmonics(f0, n = 5) {
  const out = [];
  for (let k = 1; k <= n; k++) out.push({ k, hz: k * f0 });
  return out;
}

/** nearestPeak returns the index of the largest value within ±w bins of i. */
export function nearestPeak(amp, i, w = 4) {
  let best = Math.max(0, Math.min(amp.length - 1, i));
  for (let j = Math.max(0, i - w); j <= Math.min(amp.length - 1, i + w); j++) {
    if (amp[j] > amp[best]) best = j;
  }
  return best;
}

/** markerFamily groups a marker label for its colour and toggle: "shaft" for
 * 1x, 2x…, else the bearing line (BPFO, BPFI, BSF, FTF) of "BPFO", "2xBPFO"
 * or "BPFO x2". */
export function markerFamily(label) {
  const s = String(label);
  if (/^\d+(\.\d+)?[x×]$/.test(s)) return "shaft";
  const m = /(BPFO|BPFI|BSF|FTF)/.exec(s);
  return m ? m[1] : "other";
}

/** markerHarmonic is the harmonic number of a marker: 2 for "2x", "2xBPFO"
 * and "BPFO x2", 1 for "BPFO". */
export function markerHarmonic(label) {
  const s = String(label);
  const m = /^(\d+)[x×]/.exec(s) || / [x×](\d+)$/.exec(s);
  return m ? Number(m[1]) : 1;
}

/** markerLabel shows 1x as 1×, 2xBPFO as 2×BPFO. */
export function markerLabel(label) {
  return String(label).replace(/^(\d+(?:\.\d+)?)x/, "$1×").replace(/ x(\d+)$/, " ×$1");
}

/** FAULT_LINE is the bearing line of each bearing fault. */
export const FAULT_LINE = { bearing_outer_race: "BPFO", bearing_inner_race: "BPFI", bearing_ball: "BSF", bearing_cage: "FTF" };
