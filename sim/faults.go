package sim

import (
	"fmt"
	"math"
	"time"

	"github.com/vibemon/vibemon/dsp"
)

// FaultLubrication is a lubrication problem (starved or degraded grease):
// more friction heat and more bearing roughness, no discrete impacts. It
// is not in the diagnosis vocabulary (dsp.Fault*): the analytics see it
// through temperature and broadband level, not a spectral line.
const FaultLubrication = "lubrication"

// FaultKinds returns the fault kinds the generator models, in the
// diagnosis vocabulary of package dsp, plus FaultLubrication last.
func FaultKinds() []string {
	return []string{
		dsp.FaultImbalance, dsp.FaultMisalignment, dsp.FaultLooseness,
		dsp.FaultOuterRace, dsp.FaultInnerRace, dsp.FaultBall, dsp.FaultCage,
		FaultLubrication,
	}
}

// Severity levels used by the scenario grid. Severity 1 is calibrated to
// ISO 10816-3 zone D for group 2 machines on rigid foundations (shaft
// faults) and to a developed spall (bearing faults); see docs/simulator.md.
const (
	SeverityLow    = 0.25
	SeverityMedium = 0.5
	SeverityHigh   = 1.0
)

// Curve is the shape of a fault's growth from onset to full severity.
type Curve int

// Curves.
const (
	// Exponential growth, the usual P–F picture: slow at first, then
	// accelerating to Max at the end of the P–F interval.
	Exponential Curve = iota
	// Linear growth from 0 at the onset to Max at the end of the interval.
	Linear
	// Step jumps to Max at the onset: a fixed-severity fault, what a
	// confusion-matrix scenario wants.
	Step
)

// String returns the curve's name.
func (c Curve) String() string {
	switch c {
	case Exponential:
		return "exponential"
	case Linear:
		return "linear"
	case Step:
		return "step"
	}
	return "unknown"
}

// Growth is a fault's severity curve. The zero value is exponential growth
// to severity 1 over 24 h.
type Growth struct {
	Curve Curve
	// PF is the time from onset to full severity (the P–F interval);
	// defaults to 24 h.
	PF time.Duration
	// Max is the severity reached at the end of PF and kept afterwards;
	// defaults to 1.
	Max float64
	// Rate is the exponential curve's steepness k in
	// s(τ) = Max·(e^{kτ}-1)/(e^k-1), τ = (t-onset)/PF; defaults to 4, so
	// the fault reaches 13 % of Max half way through the interval.
	Rate float64
}

// Fault is one fault of a simulated machine.
type Fault struct {
	// Kind is one of FaultKinds: dsp.FaultImbalance, dsp.FaultOuterRace, ...
	Kind string
	// Onset is the simulated time at which the fault starts; before it
	// the fault's severity is 0.
	Onset  time.Duration
	Growth Growth
	// Gain scales the kind's amplitude at severity 1; defaults to 1.
	Gain float64
	// Cycle, when positive, repairs the machine Cycle after each onset,
	// and the fault starts again at once: a demo that never runs out of
	// faults. 0 means the fault stays.
	Cycle time.Duration
}

// OnsetAt returns the onset of the fault's current cycle at t: Onset, or
// with a Cycle the latest Onset + k·Cycle not after t.
func (f Fault) OnsetAt(t time.Duration) time.Duration {
	if f.Cycle <= 0 || t < f.Onset {
		return f.Onset
	}
	return f.Onset + (t-f.Onset)/f.Cycle*f.Cycle
}

// Severity returns the fault's severity at simulated time t: 0 before the
// onset, then following the growth curve up to Max (from the current
// cycle's onset when the fault has a Cycle).
func (f Fault) Severity(t time.Duration) float64 {
	if t < f.Onset {
		return 0
	}
	onset := f.OnsetAt(t)
	g := f.Growth
	peak := g.Max
	if peak == 0 {
		peak = 1
	}
	if g.Curve == Step {
		return peak
	}
	pf := g.PF
	if pf <= 0 {
		pf = 24 * time.Hour
	}
	tau := min(1, float64(t-onset)/float64(pf))
	switch g.Curve {
	case Linear:
		return peak * tau
	default:
		k := g.Rate
		if k <= 0 {
			k = 4
		}
		return peak * math.Expm1(k*tau) / math.Expm1(k)
	}
}

func (f Fault) gain() float64 {
	if f.Gain == 0 {
		return 1
	}
	return f.Gain
}

// validate reports a fault the generator cannot model.
func (f Fault) validate() error {
	known := false
	for _, k := range FaultKinds() {
		known = known || k == f.Kind
	}
	switch {
	case !known:
		return fmt.Errorf("fault kind %q is not one of %v", f.Kind, FaultKinds())
	case f.Gain < 0 || math.IsNaN(f.Gain):
		return fmt.Errorf("fault %s: gain %g is negative", f.Kind, f.Gain)
	case f.Cycle < 0:
		return fmt.Errorf("fault %s: cycle %v is negative", f.Kind, f.Cycle)
	case f.Growth.Max < 0 || math.IsNaN(f.Growth.Max):
		return fmt.Errorf("fault %s: growth max %g is negative", f.Kind, f.Growth.Max)
	}
	return nil
}

// isBearing reports whether kind is a rolling-element bearing defect.
func isBearing(kind string) bool {
	switch kind {
	case dsp.FaultOuterRace, dsp.FaultInnerRace, dsp.FaultBall, dsp.FaultCage:
		return true
	}
	return false
}

// Amplitudes at severity 1 and gain 1. Shaft-related faults are given as
// velocity RMS in mm/s at their orders (so severity maps onto ISO 10816-3
// zones whatever the speed); bearing impacts as the peak acceleration, g,
// of the resonance ring-down each impact starts.
const (
	imbalanceVel = 8.0 // 1× horizontal, mm/s RMS
	misalignVel  = 6.0 // 2× axial, mm/s RMS; other lines relative to it
	loosenessVel = 5.0 // 1× vertical, mm/s RMS; harmonics fall off 0.8× per order
	outerImpact  = 2.5 // g
	innerImpact  = 2.5 // g
	ballImpact   = 1.5 // g
	cageImpact   = 0.6 // g
	cageVel      = 1.5 // FTF line, mm/s RMS
)
