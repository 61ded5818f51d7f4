package evaluation

import (
	"context"
	"flag"
	"strings"
	"testing"

	"github.com/vibemon/vibemon/dsp"
	"github.com/vibemon/vibemon/sim"
)

var debugCell = flag.String("cell", "", "scenario name prefix to explain burst by burst")

// TestExplainCell logs every finding of every burst of the scenarios
// whose name starts with -cell; it is a diagnostic aid, skipped without
// the flag.
func TestExplainCell(t *testing.T) {
	if *debugCell == "" {
		t.Skip("use -cell=<scenario name prefix>")
	}
	for _, sc := range sim.Scenarios() {
		if !strings.HasPrefix(sc.Name, *debugCell) {
			continue
		}
		for _, m := range DefaultMachines() {
			o, _ := Options(m, sc.Sensor)
			model := sc.Model(m.RPM, o.Bearing, 5)
			n := samples(0, sc.Sensor.Rate)
			x := [3][]float64{make([]float64, n), make([]float64, n), make([]float64, n)}
			g := sc.Sensor.Measure(x, model, 60e9)
			r, err := dsp.Analyze(x[:], sc.Sensor.Rate, o)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s %v rpm %s: fault Hz %+v vel %.2f", sc.Name, m.RPM, m.Bearing, g.FaultHz, r.VelRMS)
			for ai, ax := range r.Axes {
				t.Logf("   axis %d env band %.0f-%.0f SK %.2f kurt %.2f", ai, ax.Envelope.Band.Lo, ax.Envelope.Band.Hi, ax.Envelope.SK, ax.Features.Kurtosis)
			}
			_ = context.Background
			for _, f := range r.Findings {
				t.Logf("   %-20s %.2f det=%v axis %d %s", f.Fault, f.Confidence, f.Detected, f.Axis, f.Summary())
				if testing.Verbose() && strings.HasPrefix(f.Fault, "bearing") {
					for _, e := range f.Evidence {
						t.Logf("        %+v", e)
					}
				}
			}
		}
	}
}
