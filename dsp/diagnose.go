package dsp

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Fault names, the diagnosis vocabulary.
const (
	FaultNormal       = "normal"
	FaultImbalance    = "imbalance"
	FaultMisalignment = "misalignment"
	FaultLooseness    = "looseness"
	FaultOuterRace    = "bearing_outer_race"
	FaultInnerRace    = "bearing_inner_race"
	FaultBall         = "bearing_ball"
	FaultCage         = "bearing_cage"
)

// Finding is one diagnosis with the lines that support it.
type Finding struct {
	Fault string `json:"fault"`
	// Confidence is 0..1: a detected fault has at least 0.5, growing
	// with the evidence's height over the detection level; a hint that
	// did not pass its rule stays below 0.3.
	Confidence float64 `json:"confidence"`
	// Detected is true when the rule's evidence test passed; false for
	// hints listed for context.
	Detected bool       `json:"detected"`
	Axis     int        `json:"axis"` // 0-based axis with the strongest evidence
	Evidence []Evidence `json:"evidence"`
}

// Summary is the finding in one line: every present line with its
// frequency, order and height over the floor, or why there is none. It is
// built on demand (Analyze does not format text for every burst); JSON
// carries it as "summary".
func (f Finding) Summary() string {
	if f.Fault == FaultNormal {
		return "no fault rule fired"
	}
	return summarize(f.Evidence)
}

// MarshalJSON encodes the finding with its Summary.
func (f Finding) MarshalJSON() ([]byte, error) {
	type plain Finding // no methods: no recursion
	return json.Marshal(struct {
		plain
		Summary string `json:"summary"`
	}{plain(f), f.Summary()})
}

// Evidence is one spectral line a finding rests on.
type Evidence struct {
	What     string  `json:"what"`     // e.g. "BPFO x2", "1x", "BPFI-1x"
	Spectrum string  `json:"spectrum"` // "envelope" or "velocity"
	Expected float64 `json:"expected_hz"`
	Freq     float64 `json:"freq_hz"`
	Order    float64 `json:"order"`
	DB       float64 `json:"db"` // height over the median floor
	Amp      float64 `json:"amp"`
	Present  bool    `json:"present"` // DB reached the detection level and the line is this finding's
	// Ambiguous is true when another hypothesis predicts the same line or
	// one nearer to it, so the line was not counted.
	Ambiguous bool `json:"ambiguous,omitempty"`
}

// slipTol is the relative search tolerance around a kinematic bearing
// frequency: real bearings roll with 1–2 % slip, so 2 % of the expected
// frequency (plus one bin of resolution) is searched.
const slipTol = 0.02

type item struct {
	what   string
	f      float64
	core   bool // a primary line (vs. supporting)
	series bool // a harmonic of a defect frequency, not a sideband
}

// detection is detectionDB(k, m, 0.01), remembered for the last k: the
// level depends only on the averaging and the window width, and the
// bearing rules ask for the same few widths on every axis.
func (a *Analyzer) detection(k float64, m int) float64 {
	if k != a.detK {
		a.detK = k
		clear(a.detDB[:])
	}
	if m < len(a.detDB) {
		if v := a.detDB[m]; v != 0 {
			return v
		}
		a.detDB[m] = detectionDB(k, m, 0.01)
		return a.detDB[m]
	}
	return detectionDB(k, m, 0.01)
}

// diagnose applies the rules to the computed spectra.
func (a *Analyzer) diagnose(r *Result, shaft float64, limits ZoneLimits, o Options) {
	if shaft > 0 && o.Bearing.Elements != 0 {
		a.bearingFindings(r, shaft)
	}
	if shaft > 0 {
		a.shaftFindings(r, shaft, limits, o)
	}
	var worst float64
	for _, f := range r.Findings {
		worst = max(worst, f.Confidence)
	}
	sortFindings(r.Findings)
	if len(r.Findings) == 0 || !r.Findings[0].Detected {
		// No rule fired: normal, as sure as the strongest weak hint allows.
		r.Findings = append(r.Findings, Finding{})
		copy(r.Findings[1:], r.Findings)
		r.Findings[0] = Finding{Fault: FaultNormal, Confidence: 1 - worst, Axis: -1, Detected: true}
	}
}

// bearingFindings looks for each defect frequency's harmonic series in
// every axis's envelope spectrum. A defect is reported when its primary
// line and at least one supporting line (a further harmonic; for the inner
// race also a sideband at ±1× shaft, as the defect turns in and out of
// the load zone once per revolution; for a ball also FTF sidebands, as the
// ball travels with the cage) reach the detection level. One line alone
// can be coincidence; a harmonic family at a kinematic frequency is not.
// The confidence grows with the summed dB beyond the detection level:
// 1 - exp(-excess/10), so 10 dB of excess gives 0.63 and 20 dB 0.86.
func (a *Analyzer) bearingFindings(r *Result, shaft float64) {
	hz := r.FaultHz
	// Lines per rule in fixed arrays (n used): slices of them would be
	// allocated on every call.
	type rule struct {
		fault string
		n     int
		items [5]item
	}
	rules := [...]rule{
		{FaultOuterRace, 3, [5]item{{"BPFO", hz.BPFO, true, true}, {"BPFO x2", 2 * hz.BPFO, false, true}, {"BPFO x3", 3 * hz.BPFO, false, true}}},
		{FaultInnerRace, 5, [5]item{{"BPFI", hz.BPFI, true, true}, {"BPFI x2", 2 * hz.BPFI, false, true}, {"BPFI x3", 3 * hz.BPFI, false, true},
			{"BPFI-1x", hz.BPFI - shaft, false, false}, {"BPFI+1x", hz.BPFI + shaft, false, false}}},
		// A ball defect strikes both races once per spin: its series is
		// at 2×BSF, with BSF itself weaker, and the cage's rotation
		// modulates it (FTF sidebands).
		{FaultBall, 5, [5]item{{"2xBSF", 2 * hz.BSF, true, true}, {"BSF", hz.BSF, true, true}, {"4xBSF", 4 * hz.BSF, false, true},
			{"2xBSF-FTF", 2*hz.BSF - hz.FTF, false, false}, {"2xBSF+FTF", 2*hz.BSF + hz.FTF, false, false}}},
		{FaultCage, 3, [5]item{{"FTF", hz.FTF, true, true}, {"FTF x2", 2 * hz.FTF, false, true}, {"FTF x3", 3 * hz.FTF, false, true}}},
	}
	// Every line any hypothesis predicts, so that a found line is credited
	// only to the hypothesis that predicts it best, with the range its
	// hypothesis's slip allows (see newExpect).
	all := a.expects[:0]
	for ri := range rules {
		ru := &rules[ri]
		for _, it := range ru.items[:ru.n] {
			all = append(all, newExpect(ri, ru.fault, it.f, it.series))
		}
	}
	for h := 1; h <= 2; h++ {
		for _, sb := range []float64{-2, 2} {
			all = append(all, newExpect(1, FaultInnerRace, float64(h)*hz.BPFI+sb*shaft, false))
		}
	}
	a.expects = all
	// Shaft harmonics 1..nShaft compete only by distance: they are in
	// nearly every envelope spectrum, so a bearing line a bin away from
	// one is decided by where the line actually is. Only the harmonics
	// around the found line can be nearer to it; they are looked up
	// directly instead of scanning the series.
	nShaft := 0
	for h := 1.0; h*shaft <= 4*hz.BPFI+shaft; h++ {
		nShaft++
	}
	for ri := range rules {
		ru := &rules[ri]
		best := Finding{Fault: ru.fault, Axis: -1}
		for ai := range r.Axes {
			env := &r.Axes[ai].Envelope
			if len(env.Amp) == 0 {
				continue
			}
			k := effectiveSegments(env.Segments, 0.5)
			start := len(r.evidence)
			var excess float64
			core, support := false, 0
			for _, it := range ru.items[:ru.n] {
				tol := slipTol*it.f + env.DF
				m := int(2*tol/env.DF) + 1
				thr := a.detection(k, m)
				bin, db, ok := lineAt(env.Amp, env.Floor, env.DF, it.f, tol)
				if !ok {
					continue
				}
				f := refinePeak(env.Amp, bin, env.DF).Freq
				e := Evidence{What: it.what, Spectrum: "envelope", Expected: it.f, Freq: f, Order: f / shaft,
					DB: db, Amp: env.Amp[bin], Present: db >= thr}
				// A line another hypothesis predicts as well (closer
				// than one bin, so unresolvable) cannot tell them apart,
				// and a line nearer to another hypothesis's line belongs
				// to it: neither counts here.
				own := newExpect(ri, ru.fault, it.f, it.series).distance(f)
				stolen := false
				for _, x := range all {
					if x.rule == ri {
						continue
					}
					if (x.series && it.series && math.Abs(x.f-it.f) < env.DF) || x.distance(f) < own {
						stolen = true
						break
					}
				}
				if !stolen && own > 0 {
					// A shaft harmonic closer than 1.5 bins to the
					// predicted line cannot be told from it by where the
					// peak sits (the peak of two unresolved lines lies
					// between them); the defect's own family, whose
					// higher members drift away from the shaft orders,
					// decides instead.
					hLo := max(1, int(math.Floor((f-own)/shaft))-1)
					hHi := min(nShaft, int(math.Ceil((f+own)/shaft))+1)
					for h := hLo; h <= hHi; h++ {
						xf := float64(h) * shaft
						if math.Abs(xf-it.f) < 1.5*env.DF {
							continue
						}
						if math.Abs(f-xf) < own {
							stolen = true
							break
						}
					}
				}
				if stolen {
					e.Present, e.Ambiguous = false, true
				}
				r.evidence = append(r.evidence, e)
				if e.Present {
					excess += db - thr
					if it.core && !core {
						core = true
					} else {
						support++
					}
				}
			}
			detected := core && support > 0
			conf := 1 - math.Exp(-excess/10)
			if detected {
				conf = 0.5 + 0.5*conf
			} else {
				conf *= 0.3 // a single line: a hint, never a diagnosis
			}
			if conf > best.Confidence || best.Axis < 0 {
				end := len(r.evidence)
				best.Confidence, best.Axis, best.Evidence, best.Detected = conf, ai, r.evidence[start:end:end], detected
			}
		}
		if best.Axis < 0 || best.Confidence <= 0 {
			continue
		}
		r.Findings = append(r.Findings, best)
	}
}

// expect is a line a bearing hypothesis predicts, with the range of
// frequencies its slip allows.
type expect struct {
	rule   int // index of the hypothesis
	f      float64
	lo, hi float64
	series bool // a harmonic of the defect frequency (not a sideband)
}

// newExpect is the kinematic line at f of hypothesis fault (rule is its
// index); distance is how far (Hz) a found line lies from what it
// predicts. Real bearings slip: the cage and what rides on it (outer-race passes, ball spin, cage) run up to
// slipTol slower than kinematics, the inner-race passes a little faster
// (BPFI = n·(shaft − FTF)); shaft harmonics sit where the given speed puts
// them (range of width 0). A line inside the predicted range is at distance 0, so a line 1 %
// below BPFO is the outer race's, not a shaft harmonic's that happens to
// be nearer the kinematic value.
func newExpect(rule int, fault string, f float64, series bool) expect {
	e := expect{rule: rule, f: f, lo: f, hi: f, series: series}
	switch fault {
	case FaultOuterRace, FaultBall, FaultCage:
		e.lo = f * (1 - slipTol)
	case FaultInnerRace:
		e.hi = f * (1 + slipTol/2)
	}
	return e
}

// distance is how far (Hz) f lies outside the expected range.
func (e expect) distance(f float64) float64 {
	switch {
	case f < e.lo:
		return e.lo - f
	case f > e.hi:
		return f - e.hi
	}
	return 0
}

// shaftFindings applies the rules on the velocity spectrum's shaft orders.
// They fire only when the machine's overall velocity is at least the ISO
// zone A/B boundary and its alarm level when its baseline is known
// (Result.ShaftRulesFrom): a machine running in zone A, or at its own
// normal level, is healthy whatever the shape of its spectrum — a 1× is in
// every rotating machine, and it dominates a healthy one's spectrum
// (residual imbalance).
func (a *Analyzer) shaftFindings(r *Result, shaft float64, limits ZoneLimits, o Options) {
	if r.VelRMS < r.ShaftRulesFrom {
		return
	}
	type orders struct {
		v       [11]float64 // velocity amplitude at 1..10×, mm/s
		db      [11]float64
		present [11]bool
		half    int // half orders present
		harms   int // harmonics 1..10 present
		ev      []Evidence
		vrms    float64
	}
	measure := func(ai int) orders {
		ax := &r.Axes[ai]
		var out orders
		start := len(r.evidence)
		s, floor := a.ord[ai], a.ordFloor[ai]
		thr := detectionDB(effectiveSegments(s.Segments, 0.5), 3, 0.01)
		out.vrms = ax.Features.VelRMS
		for h := 1; h <= 10; h++ {
			f := float64(h) * shaft
			bin, db, ok := lineAt(s.Amp, floor, s.DF, f, max(s.DF, 0.01*f))
			if !ok {
				break
			}
			fb := float64(bin) * s.DF
			out.v[h] = s.Amp[bin] * StandardGravity * 1000 / (2 * math.Pi * fb)
			out.db[h] = db
			if db >= thr {
				out.present[h] = true
				out.harms++
				if h <= 3 {
					r.evidence = append(r.evidence, Evidence{What: shaftOrderNames[h], Spectrum: "velocity", Expected: f,
						Freq: fb, Order: fb / shaft, DB: db, Amp: out.v[h], Present: true})
				}
			}
		}
		for i, ho := range halfOrders {
			f := ho * shaft
			bin, db, ok := lineAt(s.Amp, floor, s.DF, f, max(s.DF, 0.01*f))
			if ok && db >= thr {
				out.half++
				r.evidence = append(r.evidence, Evidence{What: halfOrderNames[i], Spectrum: "velocity", Expected: f,
					Freq: float64(bin) * s.DF, Order: float64(bin) * s.DF / shaft, DB: db, Present: true})
			}
		}
		end := len(r.evidence)
		out.ev = r.evidence[start:end:end]
		return out
	}
	var imb, mis, loose Finding
	imb.Fault, mis.Fault, loose.Fault = FaultImbalance, FaultMisalignment, FaultLooseness
	var axial *orders
	if o.AxialAxis > 0 && o.AxialAxis <= len(r.Axes) {
		m := measure(o.AxialAxis - 1)
		axial = &m
	}
	for ai := range r.Axes {
		if ai == o.AxialAxis-1 {
			continue
		}
		m := measure(ai)
		if m.vrms <= 0 {
			continue
		}
		// 1× RMS share of the band's velocity power.
		share1 := m.v[1] * m.v[1] / 2 / (m.vrms * m.vrms)
		ratio := 0.0
		if m.v[1] > 0 {
			ratio = m.v[2] / m.v[1]
		}
		// Imbalance: a rotating force at 1×: the 1× line carries at least
		// half the band's velocity power and 2× stays below half of 1×.
		if m.present[1] && share1 >= 0.5 && ratio < 0.5 {
			c := 0.5 + 0.5*clamp01((share1-0.5)/0.4)
			if c > imb.Confidence {
				imb.Confidence, imb.Axis, imb.Evidence = c, ai, m.ev
			}
		}
		// Misalignment: 2× at least half of 1× (the usual field rule), or
		// an axial 1×/2× at least half of the radial one.
		c := 0.0
		if m.present[2] && ratio >= 0.5 {
			c = 0.5 + 0.5*clamp01(ratio-0.5)
		}
		if axial != nil && m.v[1] > 0 {
			if ax := max(axial.v[1], axial.v[2]) / max(m.v[1], m.v[2]); ax >= 0.5 && (axial.present[1] || axial.present[2]) {
				c = max(c, 0.5+0.5*clamp01(ax-0.5))
			}
		}
		if c > mis.Confidence {
			mis.Confidence, mis.Axis, mis.Evidence = c, ai, m.ev
		}
		// Looseness: a long harmonic series (4 or more of 1..10×) with
		// half orders, from the non-linear, truncated response of a loose
		// joint.
		if m.harms >= 4 && m.half >= 1 {
			c := 0.5 + 0.5*clamp01(float64(m.harms-4)/4)*clamp01(float64(m.half)/2)
			if c > loose.Confidence {
				loose.Confidence, loose.Axis, loose.Evidence = c, ai, m.ev
			}
		}
	}
	for _, f := range []Finding{imb, mis, loose} {
		f.Detected = f.Confidence >= 0.5
		if f.Confidence > 0 {
			r.Findings = append(r.Findings, f)
		}
	}
}

// Names of the shaft-order evidence lines.
var (
	shaftOrderNames = [...]string{"", "1x", "2x", "3x"}
	halfOrders      = [...]float64{0.5, 1.5, 2.5, 3.5}
	halfOrderNames  = [...]string{"0.5x", "1.5x", "2.5x", "3.5x"}
)

func clamp01(x float64) float64 { return max(0, min(1, x)) }

func summarize(ev []Evidence) string {
	var b strings.Builder
	for _, e := range ev {
		if !e.Present {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s at %.1f Hz (%.2f×) +%.1f dB", e.What, e.Freq, e.Order, e.DB)
	}
	if b.Len() == 0 {
		return "no line above the detection level"
	}
	return b.String()
}
