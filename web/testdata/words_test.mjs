// words_test.mjs: the plain-words analytics texts, run by TestWordsForEngineers
// with `node --test` when Node is installed.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  zoneText, findingText, topFinding, anomalyText, forecastText, evidenceLine, harmonics, nearestPeak, markerFamily, markerHarmonic, markerLabel, diagnosisStatus,
} from "../static/js/words.js";

const outer = {
  fault: "bearing_outer_race", confidence: 0.86, detected: true, evidence: [
    { what: "BPFO", spectrum: "envelope", expected_hz: 107.4, freq_hz: 107.1, db: 18.2, present: true },
    { what: "BPFO x2", spectrum: "envelope", expected_hz: 214.8, freq_hz: 214.5, db: 12.1, present: true },
    { what: "BPFO x3", spectrum: "envelope", expected_hz: 322.2, freq_hz: 322, db: 8.3, present: true },
    { what: "BPFO x4", spectrum: "envelope", expected_hz: 429.6, freq_hz: 430, db: 2, present: false },
  ],
};

test("zone words", () => {
  for (const [zone, want] of [
    ["A", "Zone A: good — as new"],
    ["C", "Zone C: restricted operation — plan maintenance"],
    ["D", "Zone D: damage likely — act now"],
    [null, "No ISO zone yet: no velocity reading"],
  ]) assert.equal(zoneText(zone), want);
});

test("a bearing finding names the fault, confidence and the harmonics found", () => {
  assert.equal(findingText(outer), "Outer race defect likely (86%): envelope peaks at 1×, 2×, 3× BPFO 107 Hz");
  assert.equal(findingText({ fault: "imbalance", confidence: 0.55, summary: "1x at 24.7 Hz +30 dB" }), "Imbalance possible (55%)");
  assert.equal(findingText({ fault: "looseness", confidence: 0.96, evidence: [
    { what: "1x", spectrum: "velocity", expected_hz: 16.5, present: true },
    { what: "2x", spectrum: "velocity", expected_hz: 33, present: true },
    { what: "3.5x", spectrum: "velocity", expected_hz: 57.75, present: true },
    { what: "4x", spectrum: "velocity", expected_hz: 66, present: false },
  ] }), "Mechanical looseness likely (96%): velocity peaks at 1×, 2×, 3.5× shaft speed 16.5 Hz");
  assert.equal(findingText({ fault: "normal", confidence: 1 }), "No fault pattern found in the last burst.");
  assert.match(findingText({ ...outer, confidence: 0.998 }), /likely \(99%\)/);
});

test("the top finding is the most confident detected fault, else normal", () => {
  const normal = { fault: "normal", confidence: 0.9 };
  const hint = { fault: "bearing_cage", confidence: 0.2, detected: false };
  assert.equal(topFinding([normal, hint, outer]), outer);
  assert.equal(topFinding([hint, normal]), normal);
  assert.equal(topFinding([]), null);
  assert.equal(diagnosisStatus(outer), "critical");
  assert.equal(diagnosisStatus(normal), "ok");
});

test("evidence reads as a sentence, strings pass through", () => {
  assert.equal(evidenceLine(outer.evidence[1]), "BPFO ×2 in the envelope spectrum at 214.5 Hz (expected 214.8 Hz) 12.1 dB over the floor");
  assert.match(evidenceLine(outer.evidence[3]), /— not found$/);
  assert.equal(evidenceLine("1× at 24.7 Hz"), "1× at 24.7 Hz");
});

test("anomaly names the metric that moved most", () => {
  const a = anomalyText({ score: 0.81, status: "anomalous", contributors: [{ metric: "acc_peak_x", share: 0.2 }, { metric: "kurtosis_x", share: 0.5 }] });
  assert.equal(a.status, "warning");
  assert.equal(a.text, "Readings are unusual for this machine (score 0.81): kurtosis_x moved most (50%), then acc_peak_x (20%).");
  assert.equal(anomalyText({ score: null, status: "learning", baseline_readings: 120 }).text, "Learning what normal looks like (120 readings so far).");
});

test("forecast in days with its interval", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  const d = (n) => new Date(now + n * 86400e3).toISOString();
  assert.equal(forecastText({ trend: "rising", slope_per_day: 0.05, crosses_alarm_at: d(12), interval: [d(8), d(19)] }, now),
    "At the current rate vibration reaches the alarm level in ~12 days (8–19) (+0.050 mm/s a day).");
  assert.equal(forecastText({ trend: "rising", slope_per_day: 0.05, crosses_alarm_at: d(30), interval: [d(20), null] }, now),
    "At the current rate vibration reaches the alarm level in ~30 days (20 at the earliest) (+0.050 mm/s a day).");
  assert.equal(forecastText({ trend: "none" }, now), "No significant trend.");
  assert.equal(forecastText(null, now), "No significant trend.");
  assert.equal(forecastText({ trend: "falling", slope_per_day: -0.01 }, now), "Vibration is falling (-0.010 mm/s a day).");
});

test("harmonic cursors and peak picking", () => {
  assert.deepEqual(harmonics(10, 3), [{ k: 1, hz: 10 }, { k: 2, hz: 20 }, { k: 3, hz: 30 }]);
  assert.equal(nearestPeak([0, 1, 5, 2, 0, 9], 1, 2), 2);
  assert.equal(nearestPeak([0, 1, 5, 2, 0, 9], 4, 1), 5);
});

test("marker families and labels", () => {
  assert.equal(markerFamily("1x"), "shaft");
  assert.equal(markerFamily("BPFO x2"), "BPFO");
  assert.equal(markerFamily("3xBSF"), "BSF");
  assert.equal(markerHarmonic("3xBSF"), 3);
  assert.equal(markerHarmonic("BPFO x2"), 2);
  assert.equal(markerHarmonic("BPFI"), 1);
  assert.equal(markerHarmonic("2x"), 2);
  assert.equal(markerLabel("2xBPFO"), "2×BPFO");
  assert.equal(markerFamily("FTF"), "FTF");
  assert.equal(markerLabel("2x"), "2×");
  assert.equal(markerLabel("BPFI x3"), "BPFI ×3");
});
