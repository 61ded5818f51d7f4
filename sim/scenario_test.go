package sim

import (
	"math"
	"testing"
	"time"

	"github.com/vibemon/vibemon/dsp"
)

func TestScenariosCoverTheGrid(t *testing.T) {
	all := Scenarios()
	if got, want := len(all), (7*3+1)*3*3; got != want {
		t.Fatalf("%d scenarios, want %d", got, want)
	}
	names := map[string]bool{}
	cells := map[[4]string]bool{}
	for _, sc := range all {
		if names[sc.Name] {
			t.Errorf("duplicate scenario name %q", sc.Name)
		}
		names[sc.Name] = true
		cells[[4]string{sc.Fault, sc.Level, sc.NoiseLevel, sc.Sensor.Name}] = true
	}
	rates := map[float64]bool{}
	for _, sc := range all {
		rates[sc.Sensor.Rate] = true
	}
	for _, r := range []float64{1000, 12000, 25600} {
		if !rates[r] {
			t.Errorf("no scenario samples at %g Hz", r)
		}
	}
	for _, kind := range FaultKinds()[:7] {
		for _, lv := range []string{"low", "medium", "high"} {
			for _, nz := range []string{"low", "medium", "high"} {
				for _, s := range []Sensor{MPU6050(8), Piezo(12000), Piezo(25600)} {
					if !cells[[4]string{kind, lv, nz, s.Name}] {
						t.Errorf("no scenario for %s/%s/noise-%s/%s", kind, lv, nz, s.Name)
					}
				}
			}
		}
	}
}

func TestEveryScenarioGeneratesItsGroundTruth(t *testing.T) {
	b, _ := dsp.LookupBearing("6205")
	for _, sc := range Scenarios() {
		m := sc.Model(1797, b, 3)
		if err := m.Validate(); err != nil {
			t.Fatalf("%s: %v", sc.Name, err)
		}
		x := record(int(sc.Sensor.Rate / 4))
		g := sc.Sensor.Measure(x, m, time.Minute)
		if got := g.Primary(); got != sc.Fault {
			t.Errorf("%s: ground truth primary %q, want %q", sc.Name, got, sc.Fault)
		}
		if got := g.Severity(sc.Fault); got != sc.Severity {
			t.Errorf("%s: ground truth severity %g, want %g", sc.Name, got, sc.Severity)
		}
		if g.FS != sc.Sensor.Rate || g.Clipped != 0 {
			t.Errorf("%s: fs %g, %d clipped; want %g and none", sc.Name, g.FS, g.Clipped, sc.Sensor.Rate)
		}
		for a := range x {
			if r := rms(x[a]); !(r > 0) || math.IsInf(r, 0) {
				t.Fatalf("%s axis %d: RMS %g", sc.Name, a, r)
			}
		}
	}
}
