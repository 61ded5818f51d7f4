package evaluation

import (
	"context"
	"fmt"
	"time"

	"github.com/vibemon/vibemon/dsp"
	"github.com/vibemon/vibemon/sim"
)

// OnsetConfig is one onset-delay experiment: a machine that is healthy
// until Onset, then develops Fault along an exponential P–F curve reaching
// severity 1 after PF. Bursts are measured every Step. The zero value of
// every field but Fault and Sensor means its documented default.
type OnsetConfig struct {
	Fault   string
	Sensor  sim.Sensor
	Machine Machine // zero means DefaultMachines()[0]
	Noise   float64 // g/√Hz; 0 means sim.NoiseMedium
	Onset   time.Duration
	PF      time.Duration // 0 means 24 h
	Step    time.Duration // 0 means 30 min
	// Consecutive bursts that must name the fault with confidence >= 0.5;
	// 0 means 2.
	Consecutive int
	Window      time.Duration // burst length as in Config
	Seed        uint64
}

// Onset is the outcome of an onset experiment.
type Onset struct {
	Config OnsetConfig
	// Detected is false when the fault was not named in Consecutive bursts
	// before the end of the P–F interval.
	Detected bool
	// Delay from the onset to the first burst of the first run of
	// Consecutive correct bursts, and the severity at that burst.
	Delay    time.Duration
	Severity float64
	// EarlyCalls counts bursts before the onset that named the fault (false
	// alarms of this experiment).
	EarlyCalls, EarlyBursts int
}

// MeasureOnset runs one onset experiment.
func MeasureOnset(ctx context.Context, c OnsetConfig) (Onset, error) {
	if c.Machine.RPM == 0 {
		c.Machine = DefaultMachines()[0]
	}
	if c.Noise == 0 {
		c.Noise = sim.NoiseMedium
	}
	if c.PF == 0 {
		c.PF = 24 * time.Hour
	}
	if c.Step == 0 {
		c.Step = 30 * time.Minute
	}
	if c.Consecutive == 0 {
		c.Consecutive = 2
	}
	o, err := Options(c.Machine, c.Sensor)
	if err != nil {
		return Onset{}, fmt.Errorf("measure onset: %w", err)
	}
	m := sim.NewSignalModel(c.Machine.RPM, o.Bearing, c.Seed+17)
	m.Noise = c.Noise
	m.Faults = []sim.Fault{{Kind: c.Fault, Onset: c.Onset, Growth: sim.Growth{Curve: sim.Exponential, PF: c.PF}}}
	n := samples(c.Window, c.Sensor.Rate)
	var x [3][]float64
	for a := range x {
		x[a] = make([]float64, n)
	}
	out := Onset{Config: c}
	an := dsp.NewAnalyzer()
	var res dsp.Result
	run := 0
	var runStart time.Duration
	var runSev float64
	start := c.Onset - 3*c.Step
	if start < 0 {
		start = 0
	}
	for t := start; t <= c.Onset+c.PF; t += c.Step {
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("measure onset: %w", err)
		}
		g := c.Sensor.Measure(x, m, t)
		if err := an.Analyze(&res, x[:], c.Sensor.Rate, o); err != nil {
			return out, fmt.Errorf("measure onset: %w", err)
		}
		top := res.Top()
		hit := top.Fault == c.Fault && top.Confidence >= 0.5
		if t < c.Onset {
			out.EarlyBursts++
			if hit {
				out.EarlyCalls++
			}
			continue
		}
		if !hit {
			run = 0
			continue
		}
		if run == 0 {
			runStart, runSev = t, g.Severity(c.Fault)
		}
		run++
		if run >= c.Consecutive {
			out.Detected, out.Delay, out.Severity = true, runStart-c.Onset, runSev
			return out, nil
		}
	}
	return out, nil
}
