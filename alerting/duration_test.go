package alerting_test

import (
	"context"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

// feedAt evaluates one reading per value for f.dev, step apart from the
// fixture's t0 + start. Time comes only from the readings (a frozen clock).
func (f *fixture) feedAt(t *testing.T, start, step time.Duration, values ...float64) []*vibemon.Alert {
	t.Helper()
	var rs []vibemon.Reading
	for i, v := range values {
		at := start + time.Duration(i)*step
		r := vibemon.NewReading(f.dev.ID, int64(at/time.Second), f.t0.Add(at))
		r.Values[vibemon.VelRMSX] = v
		rs = append(rs, r)
	}
	changed, err := f.engine.Evaluate(context.Background(), f.org.ID, map[int64]*vibemon.Device{f.dev.ID: f.dev}, rs)
	must(t, err)
	return changed
}

func (f *fixture) setDurations(t *testing.T, forS, clearForS int) {
	t.Helper()
	f.rule.ForSeconds, f.rule.ClearForSeconds = forS, clearForS
	must(t, f.store.UpdateRule(context.Background(), f.rule))
}

// flapping is 20 minutes of a reading every 10 s that breaches (5.0) for
// 2 minutes, then drops below clear (3.5) for 1 minute, over and over.
func flapping() []float64 {
	var vs []float64
	for len(vs) < 120 {
		for i := 0; i < 12; i++ {
			vs = append(vs, 5.0)
		}
		for i := 0; i < 6; i++ {
			vs = append(vs, 3.5)
		}
	}
	return vs[:120]
}

func TestFlappingSignal(t *testing.T) {
	tests := []struct {
		name            string
		forS, clearForS int
		want            int
	}{
		// Without durations every swing opens a new alert: the test can fail.
		{"no durations: one alert per swing", 0, 0, 7},
		{"for 60 s, clear for 5 min: one alert", 60, 300, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.setDurations(t, tc.forS, tc.clearForS)
			// Delivered in 2-minute batches, as a gateway would.
			vs := flapping()
			for i := 0; i < len(vs); i += 12 {
				f.feedAt(t, time.Duration(i)*10*time.Second, 10*time.Second, vs[i:i+12]...)
			}
			if got := len(f.alerts(t)); got != tc.want {
				t.Fatalf("20 minutes of flapping made %d alerts, want %d", got, tc.want)
			}
		})
	}
}

func TestForSecondsOpensAfterContinuousBreach(t *testing.T) {
	f := newFixture(t)
	f.setDurations(t, 60, 0)
	// A 30 s spike (4 readings, 10 s apart) is shorter than for_seconds.
	if got := f.feedAt(t, 0, 10*time.Second, 1, 6, 6, 6, 6, 1, 1); len(got) != 0 {
		t.Fatalf("30 s spike: %d alert changes, want none", len(got))
	}
	// Two 40 s breaches split by a cleared reading are not one 60 s breach.
	if got := f.feedAt(t, 100*time.Second, 10*time.Second, 6, 6, 6, 6, 6, 3, 6, 6, 6, 6, 6, 3); len(got) != 0 {
		t.Fatalf("interrupted breach: %d alert changes, want none", len(got))
	}
	if got := f.alerts(t); len(got) != 0 {
		t.Fatalf("%d alerts stored, want none", len(got))
	}
	// A breach that lasts 60 s opens one alert, dated from its start, with
	// the worst value seen while it was pending; spread over two batches.
	f.feedAt(t, 300*time.Second, 10*time.Second, 6, 8, 6)
	changed := f.feedAt(t, 330*time.Second, 10*time.Second, 6, 6, 6, 6)
	if len(changed) != 1 || changed[0].Status != vibemon.AlertOpen {
		t.Fatalf("60 s breach: %+v, want one opened alert", changed)
	}
	a := changed[0]
	if !a.OpenedAt.Equal(f.t0.Add(300*time.Second)) || a.Peak != 8 {
		t.Errorf("opened_at %s peak %g, want %s and 8", a.OpenedAt, a.Peak, f.t0.Add(300*time.Second))
	}
}

func TestClearForSecondsResolvesAfterStayingClear(t *testing.T) {
	f := newFixture(t)
	f.setDurations(t, 0, 120)
	f.feedAt(t, 0, 10*time.Second, 6)
	// 60 s below clear, a reading between clear and threshold (4.2) resets
	// the clear time, then another 110 s below: still open.
	if got := f.feedAt(t, 10*time.Second, 10*time.Second, 3, 3, 3, 3, 3, 3, 4.2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3); len(got) != 0 {
		t.Fatalf("cleared for less than 120 s at a stretch: %+v, want no change", got)
	}
	changed := f.feedAt(t, 200*time.Second, 10*time.Second, 3)
	if len(changed) != 1 || changed[0].Status != vibemon.AlertResolved {
		t.Fatalf("cleared for 120 s: %+v, want the alert resolved", changed)
	}
	if !changed[0].ResolvedAt.Equal(f.t0.Add(200 * time.Second)) {
		t.Errorf("resolved_at = %s, want %s", changed[0].ResolvedAt, f.t0.Add(200*time.Second))
	}
}

func TestManualResolveDuringPendingClear(t *testing.T) {
	f := newFixture(t)
	f.setDurations(t, 30, 300)
	f.feedAt(t, 0, 10*time.Second, 6, 6, 6, 6, 3) // opens at 30 s, clear pending from 40 s
	as := f.alerts(t)
	if len(as) != 1 {
		t.Fatalf("%d alerts, want 1", len(as))
	}
	if _, err := f.store.ResolveAlert(context.Background(), f.org.ID, as[0].ID, 1, f.t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// The pending clear must not count as a pending breach: a new breach
	// needs its own 30 s.
	if got := f.feedAt(t, 70*time.Second, 10*time.Second, 6, 6); len(got) != 0 {
		t.Fatalf("10 s breach after a manual resolve: %+v, want none", got)
	}
}

func TestThresholdEngineSkipsDiagnosisRules(t *testing.T) {
	f := newFixture(t)
	f.rule.Enabled = false
	must(t, f.store.UpdateRule(context.Background(), f.rule))
	diag := &vibemon.Rule{OrgID: f.org.ID, Name: "Diagnosis: imbalance", Kind: vibemon.RuleDiagnosis, Fault: "imbalance",
		Severity: vibemon.SeverityWarning, Enabled: true}
	must(t, f.store.CreateRule(context.Background(), diag))
	if got := f.feedAt(t, 0, time.Second, 0, 1e6, -1e6); len(got) != 0 {
		t.Fatalf("diagnosis rule in the threshold engine: %+v, want no alerts", got)
	}
}
