package evaluation

import (
	"context"
	"testing"
	"time"

	"github.com/vibemon/vibemon/dsp"
	"github.com/vibemon/vibemon/sim"
)

func pick(keep func(sim.Scenario) bool) []sim.Scenario {
	var out []sim.Scenario
	for _, sc := range sim.Scenarios() {
		if keep(sc) {
			out = append(out, sc)
		}
	}
	return out
}

func piezo(sc sim.Scenario) bool { return sc.Sensor.Rate >= 12000 }

// TestDiagnosisOnTheSimulator is the specification of what the analytics
// must see with a piezo accelerometer (12 and 25.6 kHz): shaft faults and
// race defects of medium and high severity named correctly in at least
// 90 % of 1 s bursts, over three machines (speeds and bearings) and every
// noise level, and healthy machines called faulty in at most 5 % of
// bursts at any rate. Fault kinds and severities the physics does not
// support (see docs/analytics.md) are logged, not asserted.
func TestDiagnosisOnTheSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("simulator grid takes a few seconds")
	}
	must := map[string]bool{dsp.FaultImbalance: true, dsp.FaultMisalignment: true, dsp.FaultOuterRace: true, dsp.FaultInnerRace: true}
	scs := pick(func(sc sim.Scenario) bool {
		return sc.Fault == dsp.FaultNormal || (piezo(sc) && must[sc.Fault] && sc.Level != "low")
	})
	rep, err := Run(context.Background(), Config{Scenarios: scs, Bursts: 1, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bursts in %v", rep.Bursts, rep.Elapsed.Round(time.Millisecond))
	for fault := range must {
		got, n := rep.Rate(func(sc sim.Scenario) bool { return sc.Fault == fault })
		if got < 0.9 {
			t.Errorf("%s (medium/high, piezo): %.0f %% of %d bursts correct, want >= 90 %%", fault, 100*got, n)
		}
	}
	got, n := rep.Rate(func(sc sim.Scenario) bool { return sc.Fault == dsp.FaultNormal })
	if fa := 1 - got; fa > 0.05 {
		t.Errorf("healthy machines: %.0f %% of %d bursts called faulty, want <= 5 %%", 100*fa, n)
	}
	for _, c := range rep.Misses(func(sim.Scenario) bool { return true }) {
		t.Logf("miss: %s %d/%d %v", c.Scenario.Name, c.Correct(), c.N, c.Got)
	}
}

// TestOnsetIsDetectedBeforeFailure checks that a growing outer-race
// defect seen by a 25.6 kHz piezo is named (two consecutive bursts,
// confidence >= 0.5) before the end of its P–F interval, and never before
// it starts.
func TestOnsetIsDetectedBeforeFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("onset run takes a few seconds")
	}
	for _, fault := range []string{dsp.FaultOuterRace, dsp.FaultImbalance} {
		o, err := MeasureOnset(context.Background(), OnsetConfig{Fault: fault, Sensor: sim.Piezo(25600),
			Onset: 2 * time.Hour, Step: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if !o.Detected {
			t.Errorf("%s: not detected within the 24 h P–F interval", fault)
			continue
		}
		if o.EarlyCalls != 0 {
			t.Errorf("%s: named in %d of %d bursts before the onset, want 0", fault, o.EarlyCalls, o.EarlyBursts)
		}
		t.Logf("%s: detected %.0f h after onset at severity %.2f", fault, o.Delay.Hours(), o.Severity)
	}
}

func TestRunRejectsUnknownBearing(t *testing.T) {
	_, err := Run(context.Background(), Config{Machines: []Machine{{1500, "nope"}}, Scenarios: sim.Scenarios()[:1]})
	if err == nil {
		t.Error("Run with an unknown bearing: got nil error, want one")
	}
}
