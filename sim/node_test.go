package sim

import (
	"math"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/dsp"
)

func TestNodeImbalanceVelocityCrossesISOZones(t *testing.T) {
	limits, err := dsp.ISOLimits(2, false)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		severity float64
		want     dsp.Zone
	}{{0, dsp.ZoneA}, {SeverityLow, dsp.ZoneB}, {SeverityMedium, dsp.ZoneC}, {SeverityHigh, dsp.ZoneD}}
	for _, s := range []Sensor{MPU6050(8), Piezo(12000)} {
		for _, tt := range tests {
			kind := dsp.FaultImbalance
			if tt.severity == 0 {
				kind = dsp.FaultNormal
			}
			n := NewNode(faulty(t, 1480, kind, tt.severity), s)
			r, _ := n.Reading(1, 1, time.Now(), time.Hour)
			v := r.Values[vibemon.VelRMSX]
			if got := limits.Zone(v); got != tt.want {
				t.Errorf("%s, imbalance severity %g: velocity %.2f mm/s in zone %s, want %s (group 2, rigid)", s.Name, tt.severity, v, got, tt.want)
			}
		}
	}
}

func TestNodeFeaturesMatchTheServersAnalysis(t *testing.T) {
	// The node's summary must be what dsp.Analyze computes from the same
	// burst, or node and server disagree about the same machine.
	for _, s := range []Sensor{MPU6050(4), Piezo(25600)} {
		n := NewNode(faulty(t, 1797, dsp.FaultInnerRace, SeverityMedium), s)
		r, _ := n.Reading(1, 1, time.Now(), time.Hour)
		burst, _ := n.Burst()
		res, err := dsp.Analyze(burst[:], s.Rate, dsp.Options{RPM: 1797, LowPassHz: s.LowPassHz})
		if err != nil {
			t.Fatal(err)
		}
		for a := range 3 {
			f := res.Axes[a].Features
			for _, c := range []struct {
				m    vibemon.Metric
				want float64
			}{
				{vibemon.AccRMSX, f.AccRMS}, {vibemon.AccPeakX, f.AccPeak}, {vibemon.VelRMSX, f.VelRMS},
				{vibemon.CrestX, f.Crest}, {vibemon.KurtosisX, f.Kurtosis},
			} {
				m := c.m + vibemon.Metric(a)
				if got := r.Values[m]; math.Abs(got-c.want) > 1e-9*max(1, math.Abs(c.want)) {
					t.Errorf("%s %s: node %g, dsp.Analyze %g", s.Name, m, got, c.want)
				}
			}
		}
	}
}

func TestNodeReadingIsValidAndShowsBearingImpacts(t *testing.T) {
	now := time.Now()
	healthy := NewNode(faulty(t, 1797, dsp.FaultNormal, 0), Piezo(25600))
	rh, gh := healthy.Reading(7, 42, now, time.Hour)
	if err := rh.Validate(now); err != nil {
		t.Fatalf("healthy reading: %v", err)
	}
	if rh.DeviceID != 7 || rh.Seq != 42 || !rh.TS.Equal(now) {
		t.Errorf("reading identity %d/%d/%v, want 7/42/%v", rh.DeviceID, rh.Seq, rh.TS, now)
	}
	if got := rh.Values[vibemon.TempC]; math.Abs(got-gh.TempC) > 1.0/32 || got*16 != math.Round(got*16) {
		t.Errorf("temperature %g, truth %g: want the truth in DS18B20 steps of 1/16 °C", got, gh.TempC)
	}
	if !math.IsNaN(rh.Values[vibemon.BatteryV]) || !math.IsNaN(rh.Values[vibemon.RSSIdBm]) {
		t.Error("battery and RSSI should stay unset: they belong to the fleet")
	}

	faulty := NewNode(faulty(t, 1797, dsp.FaultOuterRace, SeverityHigh), Piezo(25600))
	rf, gf := faulty.Reading(7, 43, now, time.Hour)
	if err := rf.Validate(now); err != nil {
		t.Fatalf("faulty reading: %v", err)
	}
	for _, m := range []vibemon.Metric{vibemon.KurtosisY, vibemon.CrestY, vibemon.AccRMSY} {
		if rf.Values[m] < 1.3*rh.Values[m] {
			t.Errorf("%s: outer race fault %.2f vs healthy %.2f; impacts should raise it", m, rf.Values[m], rh.Values[m])
		}
	}
	if gf.TempC <= gh.TempC {
		t.Errorf("temperature with a bearing fault %.1f °C, healthy %.1f °C: friction should heat the housing", gf.TempC, gh.TempC)
	}
}

// BenchmarkNodeReading is the demo fleet's cost: one MPU6050 burst (1 s at
// 1 kHz, physics at 4 kHz) with features, per machine per second.
func BenchmarkNodeReading(b *testing.B) {
	bearing, _ := dsp.LookupBearing("6205")
	m := NewSignalModel(1797, bearing, 1)
	m.Faults = []Fault{{Kind: dsp.FaultInnerRace, Growth: Growth{Curve: Step, Max: 0.5}}, {Kind: dsp.FaultLooseness, Growth: Growth{Curve: Step, Max: 0.5}}}
	n := NewNode(m, MPU6050(8))
	ts := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		n.Reading(1, int64(i), ts, time.Duration(i)*time.Second)
	}
}

// BenchmarkMeasurePiezo25k is one second of a 25.6 kHz industrial record.
func BenchmarkMeasurePiezo25k(b *testing.B) {
	bearing, _ := dsp.LookupBearing("6205")
	m := NewSignalModel(1797, bearing, 1)
	m.Faults = []Fault{{Kind: dsp.FaultOuterRace, Growth: Growth{Curve: Step}}}
	s := Piezo(25600)
	x := record(25600)
	var buf measureBuffers
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.measure(x, m, time.Duration(i)*time.Second, &buf)
	}
}
