package jobs_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/analysis"
	"github.com/vibemon/vibemon/dsp"
	"github.com/vibemon/vibemon/jobs"
	"github.com/vibemon/vibemon/sim"
	"github.com/vibemon/vibemon/sqlite"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	store  *sqlite.Store
	runner *jobs.Runner
	org    *vibemon.Org
	device *vibemon.Device
	events *eventLog
}

type eventLog struct {
	mu     sync.Mutex
	events []vibemon.Event
}

func (l *eventLog) Publish(_ context.Context, es ...vibemon.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, es...)
	return nil
}

func (l *eventLog) Subscribe(func(vibemon.Event)) func() { return func() {} }

func (l *eventLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	clock := func() time.Time { return now }
	st, err := sqlite.Open(filepath.Join(dir, "vibemon.db"), sqlite.Options{Now: clock, Synchronous: "NORMAL"})
	must(t, err)
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	e := &env{store: st, org: &vibemon.Org{Name: "acme"}, events: &eventLog{}}
	must(t, st.CreateOrg(ctx, e.org))
	asset := &vibemon.Asset{OrgID: e.org.ID, Name: "pump", RPM: 1480, ISOGroup: 2, Foundation: vibemon.FoundationRigid, Bearing: "6205"}
	must(t, st.CreateAsset(ctx, asset))
	e.device = &vibemon.Device{OrgID: e.org.ID, AssetID: asset.ID, Serial: "node-1", Name: "DE bearing"}
	_, err = st.RegisterDevice(ctx, e.device)
	must(t, err)
	e.runner, err = jobs.New(jobs.Config{Path: filepath.Join(dir, "jobs.db"), Store: st, Orgs: st, Bus: e.events, Now: clock})
	must(t, err)
	t.Cleanup(e.runner.Stop)
	must(t, e.runner.Start(ctx))
	return e
}

func outerRaceBurst(t *testing.T) *vibemon.Waveform {
	t.Helper()
	x, rate := sim.PiezoSecond(1480, dsp.FaultOuterRace, sim.SeverityHigh, 11)
	data, scale := analysis.Quantize(x[:])
	return &vibemon.Waveform{TS: now.Add(-time.Minute), SampleRateHz: rate, Axes: 3, Samples: 12800, Scale: scale, Data: data}
}

// waitDone polls the waveform until its analysis is no longer pending.
func (e *env) waitDone(t *testing.T, id int64) *vibemon.Waveform {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		w, err := e.store.GetWaveform(context.Background(), e.org.ID, id)
		must(t, err)
		if w.AnalysisStatus != vibemon.AnalysisPending {
			return w
		}
		if time.Now().After(deadline) {
			t.Fatalf("waveform %d still pending after 20 s", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSubmitAnalysesAndRaisesOneDiagnosisAlert(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	w := outerRaceBurst(t)
	w.DeviceID = e.device.ID
	must(t, e.runner.Submit(ctx, e.org.ID, w))
	if got := e.waitDone(t, w.ID); got.AnalysisStatus != vibemon.AnalysisDone {
		t.Fatalf("status = %q (%s), want done", got.AnalysisStatus, got.Analysis)
	}
	alerts := e.waitAlerts(t, 1)
	a := alerts[0]
	rule, err := e.store.GetRule(ctx, e.org.ID, a.RuleID)
	must(t, err)
	if rule.Name != jobs.DiagnosisRuleName(dsp.FaultOuterRace) || a.Status != vibemon.AlertOpen || a.DeviceID != e.device.ID {
		t.Errorf("alert %+v of rule %q, want an open outer race diagnosis alert on the device", a, rule.Name)
	}
	if !strings.Contains(a.Message, "outer race") {
		t.Errorf("message %q does not name the fault", a.Message)
	}

	// A second burst with the same fault updates the alert, and the same
	// burst analysed again (a retried job) changes nothing.
	w2 := outerRaceBurst(t)
	w2.DeviceID = e.device.ID
	w2.TS = now.Add(-30 * time.Second)
	must(t, e.runner.Submit(ctx, e.org.ID, w2))
	e.waitDone(t, w2.ID)
	must(t, e.runner.EnqueueAnalyzeWaveform(ctx, e.org.ID, w.ID))
	time.Sleep(300 * time.Millisecond)
	alerts = e.waitAlerts(t, 1)
	if len(alerts) != 1 || alerts[0].ID != a.ID {
		t.Fatalf("after a second burst: %d alerts, want the one alert updated", len(alerts))
	}
	rules, err := e.store.ListRules(ctx, e.org.ID)
	must(t, err)
	if len(rules) != 1 {
		t.Errorf("%d rules, want one diagnosis rule", len(rules))
	}
	if e.events.count() < 2 {
		t.Errorf("%d alert events published, want one per analysed burst", e.events.count())
	}
}

func (e *env) waitAlerts(t *testing.T, n int) []*vibemon.Alert {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		as, err := e.store.ListAlerts(context.Background(), e.org.ID, vibemon.AlertFilter{})
		must(t, err)
		if len(as) >= n || time.Now().After(deadline) {
			if len(as) < n {
				t.Fatalf("%d alerts, want %d", len(as), n)
			}
			return as
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSubmitRejectsAnotherOrgsDevice(t *testing.T) {
	e := newEnv(t)
	other := &vibemon.Org{Name: "bravo"}
	must(t, e.store.CreateOrg(context.Background(), other))
	w := outerRaceBurst(t)
	w.DeviceID = e.device.ID
	err := e.runner.Submit(context.Background(), other.ID, w)
	if got := vibemon.ErrorCode(err); got != vibemon.ENOTFOUND {
		t.Fatalf("submit for another org's device: code %q, want not_found", got)
	}
}

func TestTrainAllTrainsDevicesWithEnoughReadings(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var rs []vibemon.Reading
	for i := range 2 * analysis.MinBaselineRows {
		r := vibemon.NewReading(e.device.ID, int64(i), now.Add(-time.Duration(2*analysis.MinBaselineRows-i)*time.Minute))
		r.Values[vibemon.VelRMSX] = 1.5 + 0.1*float64(i%7)
		r.Values[vibemon.TempC] = 40 + float64(i%5)
		rs = append(rs, r)
	}
	_, err := e.store.InsertReadings(ctx, e.org.ID, rs)
	must(t, err)
	idle := &vibemon.Device{OrgID: e.org.ID, Serial: "idle"}
	_, err = e.store.RegisterDevice(ctx, idle)
	must(t, err)

	must(t, e.runner.TrainAll(ctx))
	m, err := e.store.GetModel(ctx, e.org.ID, e.device.ID, analysis.ModelKind)
	must(t, err)
	if m.Rows != 2*analysis.MinBaselineRows {
		t.Errorf("model trained on %d rows, want %d", m.Rows, 2*analysis.MinBaselineRows)
	}
	_, err = e.store.GetModel(ctx, e.org.ID, idle.ID, analysis.ModelKind)
	if vibemon.ErrorCode(err) != vibemon.ENOTFOUND {
		t.Errorf("device without readings got a model (err %v)", err)
	}
}

func TestStopTwice(t *testing.T) {
	e := newEnv(t)
	e.runner.Stop()
	e.runner.Stop()
}
