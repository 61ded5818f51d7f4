package sim

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vibemon/vibemon/dsp"
)

func bearing6205(t *testing.T) dsp.Bearing {
	t.Helper()
	b, ok := dsp.LookupBearing("6205")
	if !ok {
		t.Fatal("6205 not in the dsp catalogue")
	}
	return b
}

// faulty returns a model at rpm with one fault of kind at fixed severity.
func faulty(t *testing.T, rpm float64, kind string, severity float64) *SignalModel {
	t.Helper()
	m := NewSignalModel(rpm, bearing6205(t), 7)
	if kind != dsp.FaultNormal {
		m.Faults = []Fault{{Kind: kind, Growth: Growth{Curve: Step, Max: severity}}}
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestImbalancePeaksAtOneTimesInQuadrature(t *testing.T) {
	const fs, rpm = 5000.0, 1797.0
	m := faulty(t, rpm, dsp.FaultImbalance, SeverityHigh)
	x := record(1 << 15)
	m.Generate(x, fs, time.Minute)
	f0 := rpm / 60

	for _, a := range []int{AxisX, AxisY} {
		s := ampSpectrum(t, x[a], fs)
		if got := s.peak(2, 1000); math.Abs(got-f0) > s.df {
			t.Errorf("axis %d: highest line at %.2f Hz, want 1× = %.2f Hz", a, got, f0)
		}
	}
	// Imbalance is a rotating force: the two radial axes see it a quarter
	// turn apart.
	d := math.Mod(phaseAt(x[AxisX], fs, f0)-phaseAt(x[AxisY], fs, f0)+3*math.Pi, 2*math.Pi) - math.Pi
	if got := math.Abs(d) * 180 / math.Pi; math.Abs(got-90) > 15 {
		t.Errorf("phase between X and Y at 1× = %.0f°, want 90° ± 15°", got)
	}
	sx, sz := ampSpectrum(t, x[AxisX], fs), ampSpectrum(t, x[AxisZ], fs)
	if ax, rad := sz.at(f0, 0.5), sx.at(f0, 0.5); ax > 0.25*rad {
		t.Errorf("axial 1× %.4f g, radial %.4f g: imbalance should be mostly radial", ax, rad)
	}
}

func TestMisalignmentTwoTimesAxial(t *testing.T) {
	const fs, rpm = 5000.0, 1480.0
	m := faulty(t, rpm, dsp.FaultMisalignment, SeverityHigh)
	x := record(1 << 15)
	m.Generate(x, fs, time.Minute)
	f0 := rpm / 60
	var s [3]spectrum
	for a := range s {
		s[a] = ampSpectrum(t, x[a], fs)
	}
	for _, a := range []int{AxisX, AxisY} {
		if ax, rad := s[AxisZ].at(2*f0, 0.5), s[a].at(2*f0, 0.5); ax <= rad {
			t.Errorf("2× axial %.4f g <= 2× radial (axis %d) %.4f g; misalignment is strongest axially", ax, a, rad)
		}
		if two, one := s[a].at(2*f0, 0.5), s[a].at(f0, 0.5); two <= one {
			t.Errorf("axis %d: 2× %.4f g <= 1× %.4f g; misalignment's 2× should dominate", a, two, one)
		}
	}
	// An imbalanced machine is the opposite: axial well below radial.
	h := faulty(t, rpm, dsp.FaultImbalance, SeverityHigh)
	h.Generate(x, fs, time.Minute)
	if ax, rad := ampSpectrum(t, x[AxisZ], fs).at(f0, 0.5), ampSpectrum(t, x[AxisX], fs).at(f0, 0.5); ax >= rad {
		t.Errorf("imbalance: axial 1× %.4f g >= radial %.4f g", ax, rad)
	}
}

func TestLoosenessHarmonicsAndHalfOrders(t *testing.T) {
	const fs, rpm = 5000.0, 1480.0
	f0 := rpm / 60
	count := func(kind string) (harmonics, halves int) {
		m := faulty(t, rpm, kind, SeverityHigh)
		x := record(1 << 15)
		m.Generate(x, fs, time.Minute)
		s := ampSpectrum(t, x[AxisY], fs)
		fl := s.floor(5, 1000)
		for k := 1; k <= 20; k++ {
			if dB(s.at(float64(k)*f0/2, 0.3), fl) < 20 {
				continue
			}
			if k%2 == 0 {
				harmonics++
			} else {
				halves++
			}
		}
		return
	}
	h, half := count(dsp.FaultLooseness)
	if h < 9 || half < 3 {
		t.Errorf("looseness: %d of 10 harmonics and %d of 10 half orders stand 20 dB over the floor, want >= 9 and >= 3", h, half)
	}
	if _, half := count(dsp.FaultImbalance); half != 0 {
		t.Errorf("imbalance: %d half orders over the floor, want 0", half)
	}
}

// envelopeOf generates a 6205 at 1797 rpm with one bearing fault, through
// the 25.6 kHz piezo chain, and returns the vertical axis's envelope
// spectrum over the housing resonance band, and the ground truth.
func envelopeOf(t *testing.T, kind string, severity, noise float64) (spectrum, GroundTruth) {
	t.Helper()
	m := faulty(t, 1797, kind, severity)
	m.Noise = noise
	s := Piezo(25600)
	x := record(1 << 16)
	g := s.Measure(x, m, time.Hour)
	return envelopeSpectrum(t, x[AxisY], s.Rate, 2500, 4500), g
}

func TestOuterRaceEnvelopeShowsBPFO(t *testing.T) {
	env, g := envelopeOf(t, dsp.FaultOuterRace, SeverityMedium, NoiseMedium)
	// CWRU's 6205 at 1797 rpm: BPFO = 3.5848 × 29.95 Hz = 107.4 Hz; real
	// bearings slip, so the line sits 1–2 % lower.
	got := env.peak(20, 400)
	if got < 107.4*0.98 || got > 107.4*1.001 {
		t.Errorf("highest envelope line at %.2f Hz, want BPFO 107.4 Hz less 0–2 %% slip", got)
	}
	if math.Abs(got-g.FaultHz.BPFO) > env.df {
		t.Errorf("envelope line at %.2f Hz, ground truth BPFO with slip %.2f Hz", got, g.FaultHz.BPFO)
	}
	fl := env.floor(20, 400)
	if h := dB(env.at(g.FaultHz.BPFO, env.df), fl); h < 20 {
		t.Errorf("BPFO line %.1f dB over the envelope floor, want >= 20", h)
	}
	// The outer race stands still in the load zone: no 1× modulation.
	line := env.at(g.FaultHz.BPFO, env.df)
	for _, sb := range []float64{-1, 1} {
		if a := env.at(g.FaultHz.BPFO+sb*g.ShaftHz, env.df); a > 0.2*line {
			t.Errorf("sideband BPFO%+.0f× %.3g, line %.3g: an outer race fault should not be modulated by the shaft", sb, a, line)
		}
	}
}

func TestInnerRaceEnvelopeShowsBPFIWithShaftSidebands(t *testing.T) {
	env, g := envelopeOf(t, dsp.FaultInnerRace, SeverityMedium, NoiseMedium)
	bpfi := g.FaultHz.BPFI
	if want := 5.4152 * 1797 / 60; math.Abs(bpfi-want)/want > 0.02 {
		t.Fatalf("ground truth BPFI %.2f Hz, want %.2f Hz within slip", bpfi, want)
	}
	fl := env.floor(20, 400)
	line := env.at(bpfi, env.df)
	if h := dB(line, fl); h < 15 {
		t.Errorf("BPFI line %.1f dB over the floor, want >= 15", h)
	}
	for _, sb := range []float64{-1, 1} {
		f := bpfi + sb*g.ShaftHz
		if h := dB(env.at(f, env.df), fl); h < 10 {
			t.Errorf("sideband at BPFI%+.0f× (%.1f Hz) %.1f dB over the floor, want >= 10: the defect passes the load zone once a turn", sb, f, h)
		}
	}
	if h := dB(env.at(g.ShaftHz, env.df), fl); h < 10 {
		t.Errorf("1× in the envelope %.1f dB over the floor, want >= 10", h)
	}
}

func TestBallAndCageEnvelopeLines(t *testing.T) {
	tests := []struct {
		kind string
		line func(g GroundTruth) float64
		what string
	}{
		{dsp.FaultBall, func(g GroundTruth) float64 { return 2 * g.FaultHz.BSF }, "2×BSF"},
		{dsp.FaultBall, func(g GroundTruth) float64 { return g.FaultHz.BSF }, "BSF (alternate strikes on inner and outer race)"},
		{dsp.FaultCage, func(g GroundTruth) float64 { return g.FaultHz.FTF }, "FTF"},
	}
	for _, tt := range tests {
		t.Run(tt.kind+" "+tt.what, func(t *testing.T) {
			env, g := envelopeOf(t, tt.kind, SeverityHigh, NoiseLow)
			f := tt.line(g)
			if h := dB(env.at(f, env.df), env.floor(5, 400)); h < 10 {
				t.Errorf("%s (%.2f Hz) %.1f dB over the envelope floor, want >= 10", tt.what, f, h)
			}
		})
	}
}

func TestHealthyEnvelopeHasNoBearingLines(t *testing.T) {
	env, g := envelopeOf(t, dsp.FaultNormal, 0, NoiseMedium)
	fl := env.floor(20, 400)
	for name, f := range map[string]float64{"BPFO": g.FaultHz.BPFO, "BPFI": g.FaultHz.BPFI, "2×BSF": 2 * g.FaultHz.BSF} {
		if h := dB(env.at(f, env.df), fl); h > 10 {
			t.Errorf("healthy bearing: %s %.1f dB over the envelope floor, want < 10", name, h)
		}
	}
}

func TestGearMeshSidebands(t *testing.T) {
	const fs, rpm = 10000.0, 1500.0
	m := NewSignalModel(rpm, dsp.Bearing{}, 3)
	m.Gear = GearMesh{Teeth: 31, Amp: 0.3, Sidebands: 0.3}
	x := record(1 << 15)
	m.Generate(x, fs, 0)
	s := ampSpectrum(t, x[AxisX], fs)
	f0 := rpm / 60
	mesh := 31 * f0
	// The ±0.2 % speed wobble spreads a 31st order by ±0.2 % too.
	tol := mesh*m.SpeedWobble + s.df
	if got := s.peak(100, 2000); math.Abs(got-mesh) > tol {
		t.Errorf("highest line %.1f Hz, want gear mesh %.1f Hz", got, mesh)
	}
	fl := s.floor(100, 2000)
	for _, f := range []float64{mesh - f0, mesh + f0, 2 * mesh} {
		if h := dB(s.at(f, tol), fl); h < 20 {
			t.Errorf("line at %.1f Hz %.1f dB over floor, want >= 20", f, h)
		}
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	m := faulty(t, 1797, dsp.FaultInnerRace, SeverityMedium)
	a, b := record(4096), record(4096)
	m.Generate(a, 12000, 90*time.Second)
	m.Generate(b, 12000, 90*time.Second)
	for ax := range a {
		if !slices.Equal(a[ax], b[ax]) {
			t.Fatalf("axis %d differs between two calls with the same seed and time", ax)
		}
	}
	m2 := *m
	m2.Seed++
	m2.Generate(b, 12000, 90*time.Second)
	if slices.Equal(a[0], b[0]) {
		t.Error("a different seed gave the same record")
	}
	// Through a sensor too.
	s := MPU6050(4)
	s.Measure(a, m, time.Hour)
	s.Measure(b, m, time.Hour)
	if !slices.Equal(a[1], b[1]) {
		t.Error("Measure differs between two calls with the same seed and time")
	}
}

func TestConsecutiveRecordsJoinUp(t *testing.T) {
	// Without random noise, two half records equal one whole record: phases,
	// impacts and ring-downs are functions of absolute time.
	m := faulty(t, 1797, dsp.FaultOuterRace, SeverityHigh)
	m.Noise, m.Roughness = 0, 0
	m.Faults = append(m.Faults, Fault{Kind: dsp.FaultLooseness, Growth: Growth{Curve: Step}})
	const fs, n = 10000.0, 5000
	whole, first, second := record(2*n), record(n), record(n)
	t0 := 3 * time.Second
	m.Generate(whole, fs, t0)
	m.Generate(first, fs, t0)
	m.Generate(second, fs, t0+time.Duration(n/fs*float64(time.Second)))
	peak := 0.0
	for _, v := range whole[AxisY] {
		peak = max(peak, math.Abs(v))
	}
	for ax := range whole {
		for i := range n {
			if d := math.Abs(first[ax][i] - whole[ax][i]); d > 1e-9 {
				t.Fatalf("axis %d sample %d: first half differs by %g", ax, i, d)
			}
			// A ring-down crossing the joint is truncated to e^-6 by the
			// warm-up; allow 1 % of the peak.
			if d := math.Abs(second[ax][i] - whole[ax][n+i]); d > 0.01*peak {
				t.Fatalf("axis %d sample %d: second half differs by %g (peak %g)", ax, n+i, d, peak)
			}
		}
	}
}

func TestSeverityCurves(t *testing.T) {
	onset, pf := time.Hour, 10*time.Hour
	tests := []struct {
		name  string
		curve Curve
		max   float64
		at    time.Duration // after onset
		want  float64
	}{
		{"before onset", Exponential, 1, -time.Minute, 0},
		{"exponential at onset", Exponential, 1, 0, 0},
		{"exponential half way", Exponential, 1, pf / 2, math.Expm1(2) / math.Expm1(4)},
		{"exponential at P-F", Exponential, 0.8, pf, 0.8},
		{"exponential after P-F holds max", Exponential, 0.8, 3 * pf, 0.8},
		{"linear half way", Linear, 1, pf / 2, 0.5},
		{"step right after onset", Step, 0.5, time.Nanosecond, 0.5},
		{"step before onset", Step, 0.5, -time.Nanosecond, 0},
		{"cycle: repaired and growing again", Linear, 1, 2*pf + pf/4, 0.25},
		{"cycle: just repaired", Linear, 1, 2 * pf, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Fault{Kind: dsp.FaultImbalance, Onset: onset, Growth: Growth{Curve: tt.curve, PF: pf, Max: tt.max}}
			if strings.HasPrefix(tt.name, "cycle") {
				f.Cycle = pf
			}
			if got := f.Severity(onset + tt.at); math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("severity = %g, want %g", got, tt.want)
			}
		})
	}
}

func TestFaultGrowsInTheSignalAfterOnset(t *testing.T) {
	m := NewSignalModel(1797, bearing6205(t), 11)
	m.Faults = []Fault{{Kind: dsp.FaultOuterRace, Onset: 2 * time.Hour, Growth: Growth{PF: 10 * time.Hour}}}
	x := record(1 << 13)
	var prevSev, prevRMS float64
	for i, at := range []time.Duration{time.Hour, 4 * time.Hour, 7 * time.Hour, 10 * time.Hour, 12 * time.Hour} {
		g := m.Generate(x, 12000, at)
		sev, r := g.Severity(dsp.FaultOuterRace), rms(x[AxisY])
		switch {
		case i == 0 && (sev != 0 || g.Primary() != dsp.FaultNormal):
			t.Errorf("before onset: severity %g, primary %q; want 0, normal", sev, g.Primary())
		case i > 0 && (sev <= prevSev || r <= prevRMS):
			t.Errorf("at %v: severity %g (before %g), RMS %.4f g (before %.4f); both should grow", at, sev, prevSev, r, prevRMS)
		case i > 0 && g.Primary() != dsp.FaultOuterRace:
			t.Errorf("at %v: primary %q, want %q", at, g.Primary(), dsp.FaultOuterRace)
		}
		prevSev, prevRMS = sev, r
	}
}

func TestTemperatureFollowsLoadAndFriction(t *testing.T) {
	m := NewSignalModel(1480, bearing6205(t), 1)
	m.Thermal.DailySwing = 0
	th := m.Thermal
	if got, want := m.Temperature(10*time.Hour), th.Ambient+th.LoadRise*m.Load; math.Abs(got-want) > 0.05 {
		t.Errorf("healthy steady state %.2f °C, want ambient + load rise %.2f °C", got, want)
	}
	idle := *m
	idle.Load = 0.2
	if a, b := idle.Temperature(10*time.Hour), m.Temperature(10*time.Hour); a >= b {
		t.Errorf("at 20 %% load %.1f °C, at 75 %% %.1f °C: temperature should follow load", a, b)
	}

	// A friction step at the onset: a first-order system covers 63 % of
	// the step after one time constant and 95 % after three.
	onset := 10 * time.Hour
	m.Faults = []Fault{{Kind: dsp.FaultInnerRace, Onset: onset, Growth: Growth{Curve: Step}}}
	base := th.Ambient + th.LoadRise*m.Load
	for _, tt := range []struct {
		after time.Duration
		share float64
	}{{0, 0}, {th.Tau, 1 - math.Exp(-1)}, {3 * th.Tau, 1 - math.Exp(-3)}} {
		got := (m.Temperature(onset+tt.after) - base) / th.FrictionRise
		if math.Abs(got-tt.share) > 0.03 {
			t.Errorf("%v after a friction step: %.3f of the rise, want %.3f", tt.after, got, tt.share)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(m *SignalModel)
	}{
		{"zero speed", func(m *SignalModel) { m.ShaftHz = 0 }},
		{"negative noise", func(m *SignalModel) { m.Noise = -1 }},
		{"slip 20 %", func(m *SignalModel) { m.Slip = 0.2 }},
		{"unknown fault", func(m *SignalModel) { m.Faults = []Fault{{Kind: "gremlins"}} }},
		{"bearing fault without bearing", func(m *SignalModel) {
			m.Bearing = dsp.Bearing{}
			m.Faults = []Fault{{Kind: dsp.FaultCage}}
		}},
		{"overdamped resonance", func(m *SignalModel) { m.Resonances = []Resonance{{Hz: 1000, Damping: 1.5}} }},
	}
	if err := NewSignalModel(1797, bearing6205(t), 1).Validate(); err != nil {
		t.Fatalf("default model: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewSignalModel(1797, bearing6205(t), 1)
			tt.change(m)
			if err := m.Validate(); err == nil {
				t.Error("Validate() = nil, want an error")
			}
		})
	}
}
