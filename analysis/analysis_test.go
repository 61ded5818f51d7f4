package analysis_test

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/analysis"
	"github.com/vibemon/vibemon/dsp"
	"github.com/vibemon/vibemon/sim"
	"github.com/vibemon/vibemon/sqlite"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	store  *sqlite.Store
	svc    *analysis.Service
	org    *vibemon.Org
	asset  *vibemon.Asset
	device *vibemon.Device
}

func newEnv(t *testing.T, asset vibemon.Asset) *env {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "vibemon.db"), sqlite.Options{Now: func() time.Time { return now }, Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	e := &env{store: st, svc: &analysis.Service{Store: st, Now: func() time.Time { return now }}, org: &vibemon.Org{Name: "acme"}}
	must(t, st.CreateOrg(ctx, e.org))
	asset.OrgID = e.org.ID
	e.asset = &asset
	must(t, st.CreateAsset(ctx, e.asset))
	e.device = &vibemon.Device{OrgID: e.org.ID, AssetID: e.asset.ID, Serial: "node-1"}
	if _, err := st.RegisterDevice(ctx, e.device); err != nil {
		t.Fatal(err)
	}
	return e
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var pump = vibemon.Asset{Name: "pump", RPM: 1480, ISOGroup: 2, Foundation: vibemon.FoundationRigid, Bearing: "6205"}

// burst simulates one second of a piezo sensor on a 1480 rpm machine with
// a 6205 bearing and fault (dsp.FaultNormal for none) at severity.
func burst(t *testing.T, fault string, severity float64, seed uint64) *vibemon.Waveform {
	t.Helper()
	x, rate := sim.PiezoSecond(1480, fault, severity, seed)
	data, scale := analysis.Quantize(x[:])
	return &vibemon.Waveform{TS: now.Add(-time.Minute), SampleRateHz: rate, Axes: 3, Samples: len(x[0]), Scale: scale, Data: data}
}

func (e *env) analyze(t *testing.T, w *vibemon.Waveform) (*analysis.Outcome, *vibemon.Waveform) {
	t.Helper()
	w.OrgID, w.DeviceID = e.org.ID, e.device.ID
	must(t, e.store.CreateWaveform(context.Background(), w))
	out, err := e.svc.AnalyzeWaveform(context.Background(), e.org.ID, w.ID)
	must(t, err)
	stored, err := e.store.GetWaveform(context.Background(), e.org.ID, w.ID)
	must(t, err)
	return out, stored
}

func TestAnalyzeWaveformNamesTheFault(t *testing.T) {
	tests := []struct {
		name  string
		fault string
	}{
		{"outer race", dsp.FaultOuterRace},
		{"inner race", dsp.FaultInnerRace},
		{"imbalance", dsp.FaultImbalance},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, pump)
			_, stored := e.analyze(t, burst(t, tc.fault, sim.SeverityHigh, 7))
			if stored.AnalysisStatus != vibemon.AnalysisDone {
				t.Fatalf("status = %q (%s), want done", stored.AnalysisStatus, stored.Analysis)
			}
			var doc analysis.Document
			must(t, json.Unmarshal(stored.Analysis, &doc))
			if got := doc.Diagnosis[0]; got.Fault != tc.fault || !got.Detected || got.Confidence < 0.5 {
				t.Errorf("top finding = %s (detected %v, confidence %.2f), want %s detected", got.Fault, got.Detected, got.Confidence, tc.fault)
			}
			if doc.RPM != 1480 || doc.RPMSource != "asset" {
				t.Errorf("rpm = %g from %q, want 1480 from the asset", doc.RPM, doc.RPMSource)
			}
		})
	}
}

// A healthy machine running in zone B shows a 1x-dominant spectrum
// (residual imbalance). Until its normal is known the shaft rules call it
// imbalance from the A/B boundary; once a day of readings gives its
// baseline, they wait for its alarm level (baseline + 25 % of B/C), and a
// real imbalance above it is still found.
func TestShaftDiagnosisWaitsForTheDevicesAlarmLevel(t *testing.T) {
	healthy := func(seed uint64) *vibemon.Waveform {
		w := burst(t, dsp.FaultNormal, 0, seed)
		b, _ := dsp.LookupBearing("6205")
		m := sim.NewSignalModel(1480, b, seed)
		m.Baseline = 2.0 // zone B of group 2 rigid (1.4..2.8 mm/s)
		sensor := sim.Piezo(12800)
		var x [3][]float64
		for a := range x {
			x[a] = make([]float64, 12800)
		}
		sensor.Measure(x, m, time.Minute)
		w.Data, w.Scale = analysis.Quantize(x[:])
		return w
	}
	var from float64 // the last document's ShaftRulesFrom
	found := func(e *env, w *vibemon.Waveform) (bool, float64) {
		_, stored := e.analyze(t, w)
		var doc analysis.Document
		must(t, json.Unmarshal(stored.Analysis, &doc))
		from = doc.ShaftRulesFrom
		for _, f := range doc.Diagnosis {
			if f.Fault == dsp.FaultImbalance && f.Detected {
				return true, doc.VelRMS
			}
		}
		return false, doc.VelRMS
	}
	// Without readings: the A/B boundary, as before.
	e := newEnv(t, pump)
	if got, v := found(e, healthy(5)); !got || v < 1.4 || v > 2.8 {
		t.Fatalf("without a baseline: imbalance %v at %.2f mm/s; want the 1x-dominant zone-B burst called imbalance (the case needs zone B)", got, v)
	}
	if from != 1.4 {
		t.Errorf("without a baseline the document says the shaft rules start from %.2f mm/s, want the A/B boundary 1.4", from)
	}
	// A day of hourly readings at the machine's normal, 2 mm/s.
	e = newEnv(t, pump)
	var rs []vibemon.Reading
	for i := range 24 {
		rs = append(rs, reading(e.device.ID, int64(i), now.Add(-48*time.Hour+time.Duration(i)*time.Hour), 2.0))
	}
	_, err := e.store.InsertReadings(context.Background(), e.org.ID, rs)
	must(t, err)
	if got, v := found(e, healthy(5)); got {
		t.Errorf("at its normal (%.2f mm/s, alarm 2.7): imbalance detected, want none", v)
	}
	if math.Abs(from-2.7) > 1e-9 {
		t.Errorf("with a 2 mm/s baseline the document says the shaft rules start from %.2f mm/s, want the alarm level 2.7", from)
	}
	// The health card's diagnosis carries both, so it can say why a 1x is
	// not called imbalance.
	h, err := e.svc.AssetHealth(context.Background(), e.org.ID, e.asset.ID)
	must(t, err)
	if d := h.Diagnosis; d == nil || math.Abs(d.ShaftRulesFrom-2.7) > 1e-9 || d.VelRMS <= 0 || d.VelRMS >= 2.7 {
		t.Errorf("asset health diagnosis = %+v, want the burst's velocity below the 2.7 mm/s the shaft rules start from", d)
	}
	if got, v := found(e, burst(t, dsp.FaultImbalance, sim.SeverityHigh, 7)); !got || v < 2.7 {
		t.Errorf("a real imbalance at %.2f mm/s: detected %v, want detected above the alarm level", v, got)
	}
}

func TestAnalyzeWaveformDocument(t *testing.T) {
	e := newEnv(t, pump)
	_, stored := e.analyze(t, burst(t, dsp.FaultOuterRace, sim.SeverityMedium, 3))
	var doc analysis.Document
	must(t, json.Unmarshal(stored.Analysis, &doc))

	if doc.Bearing == nil || doc.Bearing.Designation != "6205" {
		t.Fatalf("bearing = %+v, want 6205", doc.Bearing)
	}
	// 6205 (CWRU geometry): BPFO = 3.585 x shaft.
	if want := 3.585 * 1480 / 60; math.Abs(doc.Bearing.BPFO-want) > 0.01*want {
		t.Errorf("bpfo = %.2f Hz, want %.2f", doc.Bearing.BPFO, want)
	}
	labels := map[string]float64{}
	for _, m := range doc.Markers {
		labels[m.Label] = m.Hz
	}
	for _, l := range []string{"1x", "2x", "3x", "BPFO", "2xBPFO", "3xBPFO", "BPFI", "BSF", "FTF", "3xFTF"} {
		if _, ok := labels[l]; !ok {
			t.Errorf("marker %s missing; have %v", l, labels)
		}
	}
	if got, want := labels["1x"], 1480.0/60; math.Abs(got-want) > 1e-9 {
		t.Errorf("1x marker at %g Hz, want %g", got, want)
	}
	if len(doc.AxesData) != 3 {
		t.Fatalf("%d axes, want 3", len(doc.AxesData))
	}
	for _, ax := range doc.AxesData {
		for name, s := range map[string]analysis.SpectrumDoc{"spectrum": ax.Spectrum, "envelope": ax.Envelope} {
			if len(s.Amp) == 0 || len(s.Amp) > analysis.MaxDisplayPoints || s.DF <= 0 {
				t.Errorf("axis %s %s: %d points, df %g; want 1..%d points", ax.Axis, name, len(s.Amp), s.DF, analysis.MaxDisplayPoints)
			}
		}
		if ax.VelRMS <= 0 || ax.AccRMS <= 0 || ax.Kurtosis <= 0 {
			t.Errorf("axis %s features %+v, want positive levels", ax.Axis, ax)
		}
	}
}

func TestAnalyzeWaveformEstimatesSpeedWithoutAsset(t *testing.T) {
	e := newEnv(t, vibemon.Asset{Name: "fan", ISOGroup: 2, Foundation: vibemon.FoundationRigid})
	_, stored := e.analyze(t, burst(t, dsp.FaultImbalance, sim.SeverityHigh, 5))
	var doc analysis.Document
	must(t, json.Unmarshal(stored.Analysis, &doc))
	if doc.RPMSource != "estimated" || doc.Bearing != nil {
		t.Errorf("rpm source %q bearing %+v, want estimated and no bearing", doc.RPMSource, doc.Bearing)
	}
	if math.Abs(doc.RPM-1480) > 30 {
		t.Errorf("estimated rpm = %.0f, want about 1480", doc.RPM)
	}
	for _, m := range doc.Markers {
		if m.Label == "BPFO" {
			t.Errorf("BPFO marker without a bearing")
		}
	}
}

func TestAnalyzeWaveformTenancy(t *testing.T) {
	e := newEnv(t, pump)
	w := burst(t, dsp.FaultNormal, 0, 1)
	w.OrgID, w.DeviceID = e.org.ID, e.device.ID
	must(t, e.store.CreateWaveform(context.Background(), w))
	other := &vibemon.Org{Name: "bravo"}
	must(t, e.store.CreateOrg(context.Background(), other))
	_, err := e.svc.AnalyzeWaveform(context.Background(), other.ID, w.ID)
	if got := vibemon.ErrorCode(err); got != vibemon.ENOTFOUND {
		t.Fatalf("another org's waveform: code %q (%v), want not_found", got, err)
	}
	got, _ := e.store.GetWaveform(context.Background(), e.org.ID, w.ID)
	if got.AnalysisStatus != vibemon.AnalysisPending {
		t.Errorf("status = %q, want pending", got.AnalysisStatus)
	}
}

// reading returns a reading of the env's device at ts with velocity v on
// x (and 0.8 v, 0.5 v on y, z), the rest at healthy levels.
func reading(dev int64, seq int64, ts time.Time, v float64) vibemon.Reading {
	r := vibemon.NewReading(dev, seq, ts)
	r.Values[vibemon.VelRMSX], r.Values[vibemon.VelRMSY], r.Values[vibemon.VelRMSZ] = v, 0.8*v, 0.5*v
	r.Values[vibemon.AccRMSX], r.Values[vibemon.AccRMSY], r.Values[vibemon.AccRMSZ] = 0.1, 0.1, 0.05
	r.Values[vibemon.KurtosisX], r.Values[vibemon.KurtosisY], r.Values[vibemon.KurtosisZ] = 3, 3, 3
	r.Values[vibemon.CrestX], r.Values[vibemon.CrestY], r.Values[vibemon.CrestZ] = 3.5, 3.5, 3.5
	r.Values[vibemon.TempC] = 45
	return r
}

func TestAssetHealth(t *testing.T) {
	e := newEnv(t, pump)
	ctx := context.Background()
	// 30 days of readings every 10 minutes: a healthy first week around
	// 1.5 mm/s, then rising by 0.02 mm/s a day, with a little noise.
	start := now.Add(-30 * 24 * time.Hour)
	var rs []vibemon.Reading
	seq := int64(0)
	for ts := start; ts.Before(now); ts = ts.Add(10 * time.Minute) {
		days := ts.Sub(start).Hours() / 24
		v := 1.5 + 0.02*math.Sin(float64(seq)*1.7)
		if days > 7 {
			v += 0.02 * (days - 7)
		}
		rs = append(rs, reading(e.device.ID, seq, ts, v))
		seq++
	}
	_, err := e.store.InsertReadings(ctx, e.org.ID, rs)
	must(t, err)

	h, err := e.svc.AssetHealth(ctx, e.org.ID, e.asset.ID)
	must(t, err)
	if !slices.Equal(h.Devices, []int64{e.device.ID}) {
		t.Errorf("devices = %v, want [%d]", h.Devices, e.device.ID)
	}
	// Latest level about 1.5 + 0.02*23 = 1.96 mm/s: zone B (1.4..2.8) of
	// group 2 rigid.
	if h.ISO.Zone == nil || *h.ISO.Zone != "B" || math.Abs(*h.ISO.VelRMS-1.96) > 0.05 {
		t.Errorf("iso = zone %v at %v mm/s, want B at about 1.96", deref(h.ISO.Zone), deref(h.ISO.VelRMS))
	}
	if h.ISO.Baseline == nil || math.Abs(*h.ISO.Baseline-1.5) > 0.05 {
		t.Errorf("baseline = %v, want about 1.5", deref(h.ISO.Baseline))
	}
	// ALARM = baseline + 0.25 x B/C = 1.5 + 0.7 = 2.2 mm/s.
	if math.Abs(h.ISO.Alarm-2.2) > 0.05 || h.ISO.Trip != 4.5 {
		t.Errorf("alarm %.2f trip %.2f, want 2.2 and 4.5", h.ISO.Alarm, h.ISO.Trip)
	}
	if h.Anomaly.Status != "learning" || h.Anomaly.Score != nil {
		t.Errorf("anomaly before training = %+v, want learning without a score", h.Anomaly)
	}
	if h.Diagnosis != nil {
		t.Errorf("diagnosis without bursts = %+v, want null", h.Diagnosis)
	}
	if h.Trend == nil || h.Trend.Trend != "rising" || h.Trend.SlopePerDay == nil || *h.Trend.SlopePerDay < 0.01 {
		t.Fatalf("trend = %+v, want rising", h.Trend)
	}
	// The daily level (with the healthy week at the start) meets 2.2 mm/s
	// in about two weeks.
	if c := h.Trend.CrossesAlarmAt; c == nil || c.Before(now.Add(5*24*time.Hour)) || c.After(now.Add(30*24*time.Hour)) {
		t.Errorf("crosses alarm at %v, want 5 to 30 days from now", deref(c))
	}

	// The model learns the first week; today's level is far outside it.
	trained, err := e.svc.TrainBaseline(ctx, e.org.ID, e.device.ID)
	must(t, err)
	if !trained {
		t.Fatal("TrainBaseline did not train on a week of readings")
	}
	again, err := e.svc.TrainBaseline(ctx, e.org.ID, e.device.ID)
	must(t, err)
	if again {
		t.Error("TrainBaseline trained again at once, want it to keep the fresh model")
	}
	h, err = e.svc.AssetHealth(ctx, e.org.ID, e.asset.ID)
	must(t, err)
	if h.Anomaly.Status != "anomalous" || h.Anomaly.Score == nil || *h.Anomaly.Score <= 0.5 {
		t.Errorf("anomaly = %+v (score %v), want anomalous", h.Anomaly, deref(h.Anomaly.Score))
	}
	if len(h.Anomaly.Contributors) == 0 || h.Anomaly.Contributors[0].Metric[:3] != "vel" {
		t.Errorf("contributors = %+v, want a velocity metric first", h.Anomaly.Contributors)
	}
	if h.Anomaly.BaselineReadings < 7*24*6-10 {
		t.Errorf("baseline readings = %d, want about a week of 1-minute rows", h.Anomaly.BaselineReadings)
	}

	// A burst analysed: the health shows its diagnosis.
	e.analyze(t, burst(t, dsp.FaultOuterRace, sim.SeverityHigh, 9))
	h, err = e.svc.AssetHealth(ctx, e.org.ID, e.asset.ID)
	must(t, err)
	if h.Diagnosis == nil || len(h.Diagnosis.Findings) == 0 || h.Diagnosis.Findings[0].Fault != dsp.FaultOuterRace {
		t.Fatalf("diagnosis = %+v, want the outer race finding", h.Diagnosis)
	}
	if h.Diagnosis.Summary == "" {
		t.Error("diagnosis has no summary")
	}
	if _, err := json.Marshal(h); err != nil {
		t.Errorf("health does not encode: %v", err)
	}
}

func TestAssetHealthWithoutData(t *testing.T) {
	e := newEnv(t, pump)
	h, err := e.svc.AssetHealth(context.Background(), e.org.ID, e.asset.ID)
	must(t, err)
	if h.ISO.Zone != nil || h.Trend != nil || h.Diagnosis != nil || h.Anomaly.Status != "learning" {
		t.Errorf("health without data = %+v, want no zone, trend or diagnosis", h)
	}
	if h.ISO.Alarm != 2.8 { // no baseline: ALARM = B/C
		t.Errorf("alarm = %g, want the B/C boundary 2.8", h.ISO.Alarm)
	}
	_, err = e.svc.AssetHealth(context.Background(), e.org.ID+1, e.asset.ID)
	if got := vibemon.ErrorCode(err); got != vibemon.ENOTFOUND {
		t.Errorf("another org's asset: code %q, want not_found", got)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
