package sim

import (
	"time"

	"github.com/vibemon/vibemon/dsp"
)

// PiezoSecond returns one second of a 12.8 kHz piezo sensor on a machine
// at rpm with a 6205 bearing and fault (dsp.FaultNormal: none) at
// severity, measured a minute after the start: the burst tests of the
// analysis, alerting and report paths feed the server.
func PiezoSecond(rpm float64, fault string, severity float64, seed uint64) (x [3][]float64, rate float64) {
	b, _ := dsp.LookupBearing("6205")
	m := NewSignalModel(rpm, b, seed)
	if fault != dsp.FaultNormal {
		m.Faults = []Fault{{Kind: fault, Growth: Growth{Curve: Step, Max: severity}}}
	}
	s := Piezo(12800)
	for a := range x {
		x[a] = make([]float64, 12800)
	}
	s.Measure(x, m, time.Minute)
	return x, s.Rate
}
