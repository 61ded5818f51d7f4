package sim

import (
	"errors"
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"time"

	"github.com/vibemon/vibemon/dsp"
)

// Axes. Generated signals have three axes: X radial horizontal, Y radial
// vertical (the load direction), Z axial. For dsp.Options.AxialAxis
// (1-based) the axial axis is 3.
const (
	AxisX = 0 // radial, horizontal
	AxisY = 1 // radial, vertical
	AxisZ = 2 // axial
)

// Broadband noise levels (amplitude spectral density, g/√Hz) used by the
// scenario grid: a quiet machine, a typical plant floor, a noisy one
// (pumps with cavitation, nearby crushers).
const (
	NoiseLow    = 5e-5
	NoiseMedium = 2e-4
	NoiseHigh   = 1e-3
)

// Resonance is a structural mode of the machine and sensor mount that
// bearing impacts and bearing roughness excite: an impact starts a ring-down
// a·e^{-ζω t}·sin(ω√(1-ζ²)·t) seen on each axis with Gains.
type Resonance struct {
	Hz      float64    // natural frequency
	Damping float64    // damping ratio ζ, 0 < ζ < 1; 0.02–0.08 for bolted steel
	Gains   [3]float64 // response per axis for a unit impact
}

// DefaultResonances returns three modes typical of a bearing housing on a
// medium machine: a stiff housing mode at 3.4 kHz, a 1.15 kHz mode and a
// weaker 420 Hz frame mode. Modes above 0.45·fs are left out of a
// generated record (they would alias), so a record at 1 kHz shows the
// bearing impacts through the 420 Hz mode only, as a low-rate sensor does.
func DefaultResonances() []Resonance {
	return []Resonance{
		{Hz: 3400, Damping: 0.03, Gains: [3]float64{0.6, 1.0, 0.3}},
		{Hz: 1150, Damping: 0.04, Gains: [3]float64{0.4, 0.5, 0.2}},
		{Hz: 420, Damping: 0.06, Gains: [3]float64{0.25, 0.35, 0.1}},
	}
}

// GearMesh is a gear on the shaft: a mesh tone at Teeth × shaft speed and
// its second harmonic, amplitude-modulated once per revolution (a little
// eccentricity is always there), which puts sidebands at ±1× around the
// mesh lines. Teeth 0 means no gear.
type GearMesh struct {
	Teeth     int
	Amp       float64 // mesh tone peak acceleration, g
	Sidebands float64 // modulation depth at 1×, 0..1
}

// Thermal is a first-order thermal model of the bearing housing where the
// temperature probe sits: dT/dt = (Ambient + Rise - T)/Tau, with Rise =
// LoadRise·Load + FrictionRise·friction, friction being the sum of the
// squared bearing fault severities (plus a third of misalignment and
// twice lubrication).
type Thermal struct {
	Ambient      float64       // °C
	DailySwing   float64       // amplitude of the daily ambient cycle, K
	LoadRise     float64       // rise at full load, K
	FrictionRise float64       // extra rise at friction 1, K
	Tau          time.Duration // time constant; 0 means the housing follows at once
}

// DefaultThermal returns a housing of a medium motor: 25 °C ambient with a
// ±3 K daily cycle, 20 K rise at full load, 30 K more for a severe bearing
// fault, a 20 minute time constant.
func DefaultThermal() Thermal {
	return Thermal{Ambient: 25, DailySwing: 3, LoadRise: 20, FrictionRise: 30, Tau: 20 * time.Minute}
}

// SignalModel is the vibration physics of one machine: what an ideal
// accelerometer on its bearing housing would read, independent of any
// sensor. Fields hold literal values (0 means 0); NewSignalModel fills
// in typical ones. A SignalModel is read-only during Generate, so one
// model may serve several goroutines.
type SignalModel struct {
	// Seed makes every random part (phases, slip, noise) repeatable.
	Seed uint64
	// ShaftHz is the mean shaft speed, Hz (RPM/60).
	ShaftHz float64
	// SpeedWobble is the relative amplitude of slow speed fluctuations
	// (0.002 = ±0.2 %, at 0.21 Hz and 1.3 Hz).
	SpeedWobble float64
	// Load is the fraction of rated load, 0..1. It scales bearing impacts,
	// misalignment forces and the temperature rise.
	Load float64
	// Bearing is the monitored bearing's geometry; Elements 0 means none
	// (bearing faults then cannot be simulated).
	Bearing dsp.Bearing
	// Slip is the mean fraction by which the cage runs slower than pure
	// rolling (real bearings: 0.01–0.02); SlipJitter the standard
	// deviation of each impact's time around its mean grid, as a fraction
	// of the impact interval.
	Slip, SlipJitter float64
	// Baseline is the healthy 1× velocity RMS on the horizontal axis, mm/s
	// (residual imbalance); 2× and 3× and the other axes follow from it.
	Baseline float64
	// Roughness is the RMS, g, of the healthy bearing's random excitation
	// of each resonance (before the axis gains).
	Roughness float64
	// Noise is the broadband (white) noise density, g/√Hz.
	Noise      float64
	Resonances []Resonance
	Gear       GearMesh
	Thermal    Thermal
	Faults     []Fault
}

// NewSignalModel returns a healthy machine at rpm with the given bearing
// (zero for none) and typical values for everything else: 75 % load,
// ±0.2 % speed wobble, 1 % slip with 1 % jitter, 0.8 mm/s residual
// imbalance, medium noise, the default resonances and thermal model.
func NewSignalModel(rpm float64, bearing dsp.Bearing, seed uint64) *SignalModel {
	return &SignalModel{
		Seed:        seed,
		ShaftHz:     rpm / 60,
		SpeedWobble: 0.002,
		Load:        0.75,
		Bearing:     bearing,
		Slip:        0.01,
		SlipJitter:  0.01,
		Baseline:    0.8,
		Roughness:   0.005,
		Noise:       NoiseMedium,
		Resonances:  DefaultResonances(),
		Thermal:     DefaultThermal(),
	}
}

// Validate reports the first implausible field.
func (m *SignalModel) Validate() error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	switch {
	case !(m.ShaftHz > 0) || bad(m.ShaftHz):
		return fmt.Errorf("signal model: shaft speed %g Hz must be positive", m.ShaftHz)
	case m.SpeedWobble < 0 || m.SpeedWobble > 0.05:
		return fmt.Errorf("signal model: speed wobble %g outside [0, 0.05]", m.SpeedWobble)
	case m.Load < 0 || m.Load > 1.5 || bad(m.Load):
		return fmt.Errorf("signal model: load %g outside [0, 1.5]", m.Load)
	case m.Slip < 0 || m.Slip > 0.1 || m.SlipJitter < 0 || m.SlipJitter > 0.1:
		return fmt.Errorf("signal model: slip %g or slip jitter %g outside [0, 0.1]", m.Slip, m.SlipJitter)
	case m.Baseline < 0 || m.Roughness < 0 || m.Noise < 0 || bad(m.Baseline+m.Roughness+m.Noise):
		return errors.New("signal model: baseline, roughness and noise must not be negative")
	case m.Gear.Teeth < 0 || m.Gear.Amp < 0 || m.Gear.Sidebands < 0 || m.Gear.Sidebands > 1:
		return fmt.Errorf("signal model: gear %+v: teeth and amplitude must not be negative, sidebands within [0, 1]", m.Gear)
	}
	if m.Bearing.Elements != 0 {
		if err := m.Bearing.Validate(); err != nil {
			return fmt.Errorf("signal model: %w", err)
		}
	}
	for i, r := range m.Resonances {
		if !(r.Hz > 0) || !(r.Damping > 0 && r.Damping < 1) {
			return fmt.Errorf("signal model: resonance %d: %g Hz, damping %g: want a positive frequency and 0 < damping < 1", i, r.Hz, r.Damping)
		}
	}
	for _, f := range m.Faults {
		if err := f.validate(); err != nil {
			return fmt.Errorf("signal model: %w", err)
		}
		if isBearing(f.Kind) && m.Bearing.Elements == 0 {
			return fmt.Errorf("signal model: fault %s needs a bearing geometry", f.Kind)
		}
	}
	return nil
}

// FaultState is one fault of a model at one moment: the ground truth.
type FaultState struct {
	Kind     string        `json:"kind"`
	Onset    time.Duration `json:"onset"`    // of the current cycle
	Severity float64       `json:"severity"` // 0 before the onset
	// Hz is the fault's characteristic frequency in the signal: 1× for
	// imbalance and looseness, 2× for misalignment, the defect frequency
	// with slip for bearing faults (a ball defect strikes at 2·BSF), 0
	// for lubrication.
	Hz float64 `json:"hz"`
}

// GroundTruth is what a record was generated from, to score analytics
// against.
type GroundTruth struct {
	T       time.Duration   `json:"t"`        // simulated time of the record's first sample
	FS      float64         `json:"fs_hz"`    // sample rate of the record
	ShaftHz float64         `json:"shaft_hz"` // mean shaft speed
	Orders  dsp.FaultOrders `json:"orders"`   // kinematic defect orders (no slip)
	// FaultHz are the defect frequencies actually in the signal, with slip.
	FaultHz dsp.FaultOrders `json:"fault_hz"`
	Faults  []FaultState    `json:"faults"` // every fault of the model, active or not
	TempC   float64         `json:"temp_c"` // housing temperature
	// Clipped counts samples the sensor clipped at full scale (Measure).
	Clipped int `json:"clipped"`
}

// Primary returns the kind of the most severe active fault, or
// dsp.FaultNormal when no fault has started.
func (g *GroundTruth) Primary() string {
	kind, best := dsp.FaultNormal, 0.0
	for _, f := range g.Faults {
		if f.Severity > best {
			kind, best = f.Kind, f.Severity
		}
	}
	return kind
}

// Severity returns the highest severity of the faults of a kind, 0 when
// the model has none or it has not started.
func (g *GroundTruth) Severity(kind string) float64 {
	s := 0.0
	for _, f := range g.Faults {
		if f.Kind == kind {
			s = max(s, f.Severity)
		}
	}
	return s
}

// faultHz returns the defect frequencies with slip: the cage runs Slip
// slower than pure rolling, and everything that rides on it follows.
func (m *SignalModel) faultHz() (orders, hz dsp.FaultOrders) {
	if m.Bearing.Elements == 0 {
		return
	}
	orders = m.Bearing.Orders()
	f0 := m.ShaftHz
	ftf := orders.FTF * f0 * (1 - m.Slip)
	n := float64(m.Bearing.Elements)
	hz = dsp.FaultOrders{
		BPFO: n * ftf,
		BPFI: n * (f0 - ftf),
		BSF:  orders.BSF * f0 * (1 - m.Slip),
		FTF:  ftf,
	}
	return orders, hz
}

// Truth returns the ground truth at simulated time t (FS unset).
func (m *SignalModel) Truth(t time.Duration) GroundTruth {
	g := GroundTruth{T: t, ShaftHz: m.ShaftHz, TempC: m.Temperature(t)}
	g.Orders, g.FaultHz = m.faultHz()
	g.Faults = make([]FaultState, len(m.Faults))
	for i, f := range m.Faults {
		hz := 0.0
		switch f.Kind {
		case dsp.FaultImbalance, dsp.FaultLooseness:
			hz = m.ShaftHz
		case dsp.FaultMisalignment:
			hz = 2 * m.ShaftHz
		case dsp.FaultOuterRace:
			hz = g.FaultHz.BPFO
		case dsp.FaultInnerRace:
			hz = g.FaultHz.BPFI
		case dsp.FaultBall:
			hz = 2 * g.FaultHz.BSF
		case dsp.FaultCage:
			hz = g.FaultHz.FTF
		}
		g.Faults[i] = FaultState{Kind: f.Kind, Onset: f.OnsetAt(t), Severity: f.Severity(t), Hz: hz}
	}
	return g
}

// Generate fills dst (three axes of equal length, g) with the vibration at
// simulated times t0, t0+1/fs, ... and returns the ground truth at t0.
// Severities are taken at t0 for the whole record (faults grow over hours,
// records last seconds). The result depends only on the model, fs and t0:
// records at consecutive times join up, and the same call gives the same
// samples. It panics when fs is not positive or the axes differ in length.
func (m *SignalModel) Generate(dst [3][]float64, fs float64, t0 time.Duration) GroundTruth {
	var sc scratch
	g := m.Truth(t0)
	g.FS = fs
	m.generate(dst, fs, t0.Seconds(), &g, &sc, 0)
	return g
}

// scratch holds buffers reused between records.
type scratch struct {
	u, w    []float64 // resonator forcing; unit white roughness
	impacts []impact
}

type impact struct {
	t, amp float64 // time, s, and peak acceleration, g
}

const twoPi = 2 * math.Pi

// velAmp converts a velocity RMS in mm/s at hz to a peak acceleration in g.
func velAmp(vel, hz float64) float64 {
	return vel * math.Sqrt2 * twoPi * hz / (dsp.StandardGravity * 1000)
}

// Speed wobble: two slow sinusoids (relative weights 1 and 0.3).
const (
	wobbleHz1, wobbleHz2 = 0.21, 1.3
	wobbleW2             = 0.3
)

// phase returns the shaft angle at time t, s: the integral of
// 2π·f0·(1 + a·cos 2πf1t + 0.3a·cos 2πf2t).
func (m *SignalModel) phase(t float64) float64 {
	f0, a := m.ShaftHz, m.SpeedWobble
	p := twoPi * f0 * t
	if a != 0 {
		p += f0 * a * (math.Sin(twoPi*wobbleHz1*t)/wobbleHz1 + wobbleW2*math.Sin(twoPi*wobbleHz2*t)/wobbleHz2)
	}
	return p
}

// hashUnit returns a uniform value in [0, 1) fixed by (seed, a, b).
func hashUnit(seed, a, b uint64) float64 {
	p := rand.NewPCG(mixSeed(seed, a), b)
	return float64(p.Uint64()>>11) / (1 << 53)
}

// hashNorm returns two independent standard normal values fixed by
// (seed, a, b), by the Box–Muller transform.
func hashNorm(seed, a, b uint64) (float64, float64) {
	p := rand.NewPCG(mixSeed(seed, a), b)
	u1 := (float64(p.Uint64()>>11) + 0.5) / (1 << 53)
	u2 := float64(p.Uint64()>>11) / (1 << 53)
	r := math.Sqrt(-2 * math.Log(u1))
	s, c := math.Sincos(twoPi * u2)
	return r * c, r * s
}

// Salts for hashUnit/hashNorm streams.
const (
	saltPhase uint64 = iota + 1
	saltImpact
	saltNoise
	saltRough
)

// Highest half order synthesised: 10×.
const maxHalfOrder = 20

// lines holds a complex amplitude (g, phase) per axis and half order:
// the axis reads Σ Re(C[a][h]·e^{ihθ/2}).
type lines [3][maxHalfOrder + 1]complex128

func (l *lines) add(a, h int, amp, phase float64) {
	l[a][h] += cmplx.Rect(amp, phase)
}

// generate writes the record starting at time ts (s) into dst, with the
// severities of g. extraNoise is more white noise (g/√Hz) to add, a
// sensor's own: one pass of random numbers serves both.
func (m *SignalModel) generate(dst [3][]float64, fs, ts float64, g *GroundTruth, sc *scratch, extraNoise float64) {
	n := len(dst[0])
	if !(fs > 0) || len(dst[1]) != n || len(dst[2]) != n {
		panic(fmt.Sprintf("sim: generate: fs %g, axis lengths %d/%d/%d", fs, len(dst[0]), len(dst[1]), len(dst[2])))
	}
	for a := range dst {
		clear(dst[a])
	}
	f0 := m.ShaftHz
	seed := m.Seed
	ph := func(i, j uint64) float64 { return twoPi * hashUnit(seed, saltPhase, i<<16|j) }

	// Shaft-synchronous lines: healthy baseline, imbalance, misalignment.
	var lin, loose lines
	b := m.Baseline
	for k, w := range []float64{1, 0.3, 0.15} {
		h := 2 * (k + 1)
		hz := float64(k+1) * f0
		p := ph(0, uint64(h))
		lin.add(AxisX, h, velAmp(b*w, hz), p)
		lin.add(AxisY, h, velAmp(0.8*b*w, hz), p-math.Pi/2)
		lin.add(AxisZ, h, velAmp(0.3*b*w, hz), ph(0, 100+uint64(h)))
	}
	hasLoose := false
	var cage []float64 // FTF tone amplitude per axis
	var cagePhase float64
	rough := m.Roughness
	for i, f := range m.Faults {
		s := g.Faults[i].Severity * f.gain()
		if s == 0 {
			continue
		}
		fi := uint64(i + 1)
		switch f.Kind {
		case dsp.FaultImbalance:
			v, p := imbalanceVel*s, ph(fi, 2)
			lin.add(AxisX, 2, velAmp(v, f0), p)
			lin.add(AxisY, 2, velAmp(0.8*v, f0), p-math.Pi/2)
			lin.add(AxisZ, 2, velAmp(0.1*v, f0), p+0.3)
		case dsp.FaultMisalignment:
			v := misalignVel * s * (0.5 + 0.5*m.Load)
			rel := [3][3]float64{{0.4, 0.8, 0.2}, {0.35, 0.7, 0.2}, {0.8, 1.0, 0.25}}
			for a := range 3 {
				for k := range 3 {
					h := 2 * (k + 1)
					lin.add(a, h, velAmp(v*rel[a][k], float64(k+1)*f0), ph(fi, uint64(a*32+h)))
				}
			}
		case dsp.FaultLooseness:
			hasLoose = true
			v := loosenessVel * s
			axis := [3]float64{0.5, 1, 0.2}
			for h := 1; h <= maxHalfOrder; h++ {
				var vh float64
				if h%2 == 0 {
					vh = v * math.Pow(0.8, float64(h/2-1))
				} else if h <= 9 {
					vh = 0.3 * v * math.Pow(0.8, float64(h/2))
				}
				if vh == 0 {
					continue
				}
				p := ph(fi, uint64(h))
				for a := range 3 {
					loose.add(a, h, velAmp(vh*axis[a], float64(h)*f0/2), p+0.4*float64(a))
				}
			}
		case dsp.FaultCage:
			cage = []float64{velAmp(cageVel*s, g.FaultHz.FTF), velAmp(0.8*cageVel*s, g.FaultHz.FTF), velAmp(0.2*cageVel*s, g.FaultHz.FTF)}
			cagePhase = ph(fi, 1)
			rough += m.Roughness * 3 * s
		case dsp.FaultOuterRace, dsp.FaultInnerRace, dsp.FaultBall:
			rough += m.Roughness * 3 * s
		case FaultLubrication:
			rough += m.Roughness * 4 * s
		}
	}
	// Lines at or above Nyquist would fold back into the record, an
	// artefact of the simulation rate, not of the machine: leave them out.
	for h := 1; h <= maxHalfOrder; h++ {
		if float64(h)*f0/2 >= fs/2 {
			for a := range 3 {
				lin[a][h], loose[a][h] = 0, 0
			}
		}
	}
	// The clip level of the truncated (looseness) response: its RMS, so
	// the peaks on one side are cut as a foot lifting off its base would.
	var clip [3]float64
	if hasLoose {
		for a := range 3 {
			var ms float64
			for h := 1; h <= maxHalfOrder; h++ {
				ms += cmplx.Abs(loose[a][h]) * cmplx.Abs(loose[a][h]) / 2
			}
			clip[a] = math.Sqrt(ms)
		}
	}

	gear := m.Gear
	var gearPh [3]float64
	var gear1, gear2 float64 // mesh tone and second harmonic, g
	if gear.Teeth > 0 {
		gearPh = [3]float64{ph(1000, 1), ph(1000, 2), ph(1000, 3)}
		mesh := float64(gear.Teeth) * f0
		if (mesh+f0)*(1+m.SpeedWobble) < fs/2 {
			gear1 = gear.Amp
		}
		if (2*mesh+f0)*(1+m.SpeedWobble) < fs/2 {
			gear2 = 0.3 * gear.Amp
		}
	}
	var linRe, linIm, looseRe, looseIm [3][maxHalfOrder + 1]float64
	linMax, looseMax := 0, 0
	for a := range 3 {
		for h := 1; h <= maxHalfOrder; h++ {
			linRe[a][h], linIm[a][h] = real(lin[a][h]), imag(lin[a][h])
			looseRe[a][h], looseIm[a][h] = real(loose[a][h]), imag(loose[a][h])
			if lin[a][h] != 0 {
				linMax = max(linMax, h)
			}
			if loose[a][h] != 0 {
				looseMax = max(looseMax, h)
			}
		}
	}
	hMax := max(linMax, looseMax)
	var pr, pi [maxHalfOrder + 1]float64

	dt := 1 / fs
	// The speed wobble's sines, rotated sample by sample (m.phase does the
	// same with two math.Sin calls).
	var w1, w2, r1, r2 complex128
	var k1, k2 float64
	if a := m.SpeedWobble; a != 0 {
		w1, r1 = cmplx.Rect(1, twoPi*wobbleHz1*ts), cmplx.Rect(1, twoPi*wobbleHz1*dt)
		w2, r2 = cmplx.Rect(1, twoPi*wobbleHz2*ts), cmplx.Rect(1, twoPi*wobbleHz2*dt)
		k1, k2 = f0*a/wobbleHz1, f0*a*wobbleW2/wobbleHz2
	}
	for i := 0; i < n; i++ {
		t := ts + float64(i)*dt
		theta := twoPi*f0*t + k1*imag(w1) + k2*imag(w2)
		w1 *= r1
		w2 *= r2
		// Powers of e^{iθ/2} give every half order; the sums below are
		// Re(C·e^{ihθ/2}) = Re C·cos − Im C·sin, in real arithmetic.
		s, c := math.Sincos(theta / 2)
		wr, wi := c, s
		for h := 1; h <= hMax; h++ {
			pr[h], pi[h] = wr, wi
			wr, wi = wr*c-wi*s, wr*s+wi*c
		}
		var x [3]float64
		for a := range 3 {
			cr, ci := &linRe[a], &linIm[a]
			var v float64
			for h := 1; h <= linMax; h++ {
				v += cr[h]*pr[h] - ci[h]*pi[h]
			}
			if looseMax > 0 {
				lr, li := &looseRe[a], &looseIm[a]
				var l float64
				for h := 1; h <= looseMax; h++ {
					l += lr[h]*pr[h] - li[h]*pi[h]
				}
				v += min(l, clip[a])
			}
			x[a] = v
		}
		if cage != nil {
			sc := math.Sin(twoPi*g.FaultHz.FTF*t + cagePhase)
			for a := range 3 {
				x[a] += cage[a] * sc
			}
		}
		if gear.Teeth > 0 {
			zt := float64(gear.Teeth) * theta
			mod := 1 + gear.Sidebands*math.Cos(theta+gearPh[0])
			tone := mod * (gear1*math.Sin(zt+gearPh[1]) + gear2*math.Sin(2*zt+gearPh[2]))
			x[0] += tone
			x[1] += 0.8 * tone
			x[2] += 0.5 * tone
		}
		for a := range 3 {
			dst[a][i] = x[a]
		}
	}

	m.resonances(dst, fs, ts, g, sc, rough)

	if density := math.Hypot(m.Noise, extraNoise); density > 0 {
		sigma := density * math.Sqrt(fs/2)
		rng := rand.New(rand.NewPCG(mixSeed(seed, saltNoise), math.Float64bits(ts)^math.Float64bits(fs)*31))
		for a := range 3 {
			for i := range dst[a] {
				dst[a][i] += sigma * rng.NormFloat64()
			}
		}
	}
}

// loadZone is the share of the maximum rolling-element load at angle psi
// from the load direction: Stribeck's q(ψ) = (1 - (1-cos ψ)/(2ε))^{3/2}
// with ε = 0.5 (a load zone of ±90°, normal clearance), never below 0.1
// (preload and centrifugal force keep some contact everywhere).
func loadZone(psi float64) float64 {
	return 0.1 + 0.9*math.Pow(max(0, math.Cos(psi)), 1.5)
}

// resonances adds the bearing's response: roughness and defect impacts,
// each exciting every structural mode the sample rate can represent.
func (m *SignalModel) resonances(dst [3][]float64, fs, ts float64, g *GroundTruth, sc *scratch, rough float64) {
	n := len(dst[0])
	seed := m.Seed
	// Warm-up: start each resonator early enough that its state at ts is
	// what it would be in an endless record (e^{-6} of a ring-down left).
	warm := 0
	for _, r := range m.Resonances {
		if r.Hz < 0.45*fs {
			warm = max(warm, int(math.Ceil(6/(r.Damping*twoPi*r.Hz)*fs)))
		}
	}
	if warm == 0 {
		return // no mode below Nyquist
	}
	start := ts - float64(warm)/fs
	end := ts + float64(n)/fs

	// Impacts of every bearing fault in [start, end).
	sc.impacts = sc.impacts[:0]
	loadF := 0.4 + 0.6*m.Load
	for i, f := range m.Faults {
		s := g.Faults[i].Severity * f.gain()
		if s == 0 || !isBearing(f.Kind) {
			continue
		}
		var rate, amp float64
		switch f.Kind {
		case dsp.FaultOuterRace:
			rate, amp = g.FaultHz.BPFO, outerImpact
		case dsp.FaultInnerRace:
			rate, amp = g.FaultHz.BPFI, innerImpact
		case dsp.FaultBall:
			rate, amp = 2*g.FaultHz.BSF, ballImpact
		case dsp.FaultCage:
			rate, amp = g.FaultHz.FTF, cageImpact
		}
		// Severity is read as the defect's size; the impact grows with its
		// square (a deeper, longer spall drops the element further), so
		// early defects sit near the noise and late ones dominate.
		amp *= s * s * loadF
		fi := uint64(i + 1)
		period := 1 / rate
		off := period * hashUnit(seed, saltImpact, fi<<40)
		defAngle := twoPi * hashUnit(seed, saltImpact, fi<<40|1)
		k0 := int64(math.Floor((start-off)/period)) - 1
		k1 := int64(math.Ceil((end-off)/period)) + 1
		for k := k0; k <= k1; k++ {
			j1, j2 := hashNorm(seed, saltImpact^fi<<8, uint64(k))
			t := off + (float64(k)+m.SlipJitter*j1)*period
			if t < start || t >= end {
				continue
			}
			a := amp * (1 + 0.1*j2)
			switch f.Kind {
			case dsp.FaultInnerRace:
				// The defect turns with the shaft through the load zone.
				a *= loadZone(m.phase(t) + defAngle)
			case dsp.FaultBall:
				// The ball rides with the cage through the load zone, and
				// strikes the outer race (near the sensor) harder than
				// the inner one.
				a *= loadZone(twoPi*g.FaultHz.FTF*t + defAngle)
				if k&1 == 1 {
					a *= 0.5
				}
			}
			sc.impacts = append(sc.impacts, impact{t: t, amp: a})
		}
	}

	total := warm + n
	sc.u = grow(sc.u, total)
	if rough > 0 {
		// One roughness force drives every mode (they are transfer paths
		// of the same contact), so one white sequence serves them all.
		sc.w = grow(sc.w, total)
		rng := rand.New(rand.NewPCG(mixSeed(seed, saltRough), math.Float64bits(ts)^math.Float64bits(fs)*31))
		for j := range sc.w {
			sc.w[j] = rng.NormFloat64()
		}
	}
	for _, r := range m.Resonances {
		if r.Hz >= 0.45*fs {
			continue
		}
		wn := twoPi * r.Hz
		sigma := r.Damping * wn
		wd := wn * math.Sqrt(1-r.Damping*r.Damping)
		rr := math.Exp(-sigma / fs)
		a1, a2 := 2*rr*math.Cos(wd/fs), -rr*rr
		u := sc.u[:total]
		clear(u)
		if rough > 0 {
			// White forcing scaled so the AR(2) output has RMS rough.
			v := (1 - a2) / ((1 + a2) * ((1-a2)*(1-a2) - a1*a1))
			su := rough / math.Sqrt(v)
			for j, w := range sc.w[:total] {
				u[j] = su * w
			}
		}
		// An impact at time τ contributes A·h(t-τ), h(t) = e^{-σt}·sin(ωd t),
		// to every sample after it. The recurrence y[j] = a1·y[j-1] +
		// a2·y[j-2] + u[j] continues any such h exactly once started with
		// its first two values, so each impact is injected with sub-sample
		// timing through two forcing terms.
		for _, im := range sc.impacts {
			p := (im.t - start) * fs
			j := int(math.Ceil(p))
			if j >= total {
				continue
			}
			d0 := (float64(j) - p) / fs
			h0 := im.amp * math.Exp(-sigma*d0) * math.Sin(wd*d0)
			d1 := d0 + 1/fs
			h1 := im.amp * math.Exp(-sigma*d1) * math.Sin(wd*d1)
			u[j] += h0
			if j+1 < total {
				u[j+1] += h1 - a1*h0
			}
		}
		var y1, y2 float64
		for j := range u {
			y := a1*y1 + a2*y2 + u[j]
			y2, y1 = y1, y
			if j >= warm {
				i := j - warm
				dst[0][i] += r.Gains[0] * y
				dst[1][i] += r.Gains[1] * y
				dst[2][i] += r.Gains[2] * y
			}
		}
	}
}

// grow returns s with length n, reallocating only when its capacity is short.
func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// mixSeed derives the seed of one random stream from the model's seed.
func mixSeed(seed, salt uint64) uint64 { return seed ^ salt*0x9e3779b97f4a7c15 }
