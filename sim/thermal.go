package sim

import (
	"math"
	"time"

	"github.com/vibemon/vibemon/dsp"
)

// friction returns the friction heat source at t, 1 for a severe bearing
// fault: bearing faults count with their severity squared, misalignment
// (overloaded bearings) a third, lubrication problems twice.
func (m *SignalModel) friction(t time.Duration) float64 {
	var f float64
	for _, fl := range m.Faults {
		s := fl.Severity(t) * fl.gain()
		switch {
		case isBearing(fl.Kind):
			f += s * s // like the impacts: heat is a late symptom
		case fl.Kind == dsp.FaultMisalignment:
			f += s / 3
		case fl.Kind == FaultLubrication:
			f += 2 * s
		}
	}
	return f
}

// Temperature returns the housing temperature at simulated time t, °C.
//
// The housing is one thermal mass: dΔ/dt = (G(t) - Δ)/τ for the rise Δ over
// ambient, driven by G = LoadRise·Load + FrictionRise·friction(t). Because
// the rise forgets its past with e^{-t/τ}, it is computed without state by
// integrating only the last 8τ (e^{-8} ≈ 0.03 % of the past left), starting
// from the steady state there, in 64 exact exponential steps with G held at
// each step's midpoint. So Temperature, like Generate, depends on t alone.
func (m *SignalModel) Temperature(t time.Duration) float64 {
	th := m.Thermal
	amb := th.Ambient + th.DailySwing*math.Sin(twoPi*t.Hours()/24)
	drive := func(t time.Duration) float64 {
		return th.LoadRise*m.Load + th.FrictionRise*m.friction(t)
	}
	if th.Tau <= 0 {
		return amb + drive(t)
	}
	const steps = 64
	span := 8 * th.Tau
	h := span / steps
	decay := math.Exp(-float64(h) / float64(th.Tau))
	tt := t - span
	rise := drive(tt)
	for range steps {
		g := drive(tt + h/2)
		rise = g + (rise-g)*decay
		tt += h
	}
	return amb + rise
}
