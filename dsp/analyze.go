package dsp

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Options are the physics the caller knows about the measurement. The
// zero value analyses with a 4096-point segment (or the largest power of
// two the signal allows), 50 % overlap, the ISO band 10–1000 Hz, machine
// group 2 on a rigid foundation, an estimated shaft speed and no bearing.
type Options struct {
	RPM        float64 // shaft speed; 0 means estimate it from the spectrum
	Bearing    Bearing // geometry; Elements 0 means unknown (no bearing analysis)
	ISOGroup   int     // 1 or 2; 0 means 2
	Flexible   bool    // flexible foundation (ISO 10816-3)
	VelBandLo  float64 // velocity band, Hz; 0 means 10
	VelBandHi  float64 // 0 means 1000 (then clipped to 0.45·fs and LowPassHz)
	LowPassHz  float64 // sensor anti-alias / low-pass corner; 0 means none
	EnvBand    Band    // demodulation band; zero means chosen by spectral kurtosis
	SegmentLen int     // FFT segment, a power of two; 0 means 4096
	Overlap    float64 // segment overlap fraction; 0 means 0.5
	// AxialAxis is the 1-based index of the axial axis among the signals;
	// 0 means every axis is radial.
	AxialAxis int
	// Baseline is the machine's normal velocity RMS in mm/s; 0 means not
	// known yet. The shaft rules (imbalance, misalignment, looseness) wait
	// for the overall velocity to reach its alarm level, ISO 10816-3's
	// baseline + 25 % of the B/C boundary (ZoneLimits.AlarmTrip), or the
	// zone A/B boundary when that is higher or the baseline unknown
	// (Result.ShaftRulesFrom).
	Baseline float64
}

// AxisResult is everything computed for one axis.
type AxisResult struct {
	Features Features  `json:"features"`
	Spectrum Spectrum  `json:"-"`
	Floor    []float64 `json:"-"` // median floor of Spectrum.Amp
	Peaks    []Peak    `json:"peaks"`
	Envelope Envelope  `json:"envelope"`
}

// Result is the analysis of one multi-axis record.
type Result struct {
	FS            float64      `json:"fs_hz"`
	RPM           float64      `json:"rpm"`
	RPMEstimated  bool         `json:"rpm_estimated"`
	RPMConfidence float64      `json:"rpm_confidence"` // 1 when given
	Orders        FaultOrders  `json:"fault_orders"`   // zero without a bearing
	FaultHz       FaultOrders  `json:"fault_hz"`
	Axes          []AxisResult `json:"axes"`
	VelRMS        float64      `json:"vel_rms_mm_s"` // highest axis velocity RMS
	Limits        ZoneLimits   `json:"limits"`
	Zone          Zone         `json:"zone"`
	// ShaftRulesFrom is the overall velocity (mm/s RMS) from which the
	// shaft rules judge: the zone A/B boundary, or the alarm level of
	// Options.Baseline when that is higher.
	ShaftRulesFrom float64 `json:"shaft_rules_from_mm_s"`
	// Findings are sorted by confidence, highest first; the first is the
	// diagnosis. "normal" is listed when no fault rule fired.
	Findings []Finding `json:"findings"`

	// evidence holds every Evidence the findings' slices point into,
	// reused by the next Analyze into this Result.
	evidence []Evidence
}

// Top returns the leading finding.
func (r *Result) Top() Finding {
	if len(r.Findings) == 0 {
		return Finding{Fault: FaultNormal}
	}
	return r.Findings[0]
}

// ErrTooShort is returned for signals shorter than 256 samples: below that
// neither a spectrum nor an envelope resolves machine frequencies.
var ErrTooShort = errors.New("signal shorter than 256 samples")

// Analyzer runs Analyze with buffers kept between calls, so analysing a
// stream of bursts of one shape allocates next to nothing. An Analyzer is
// not safe for concurrent use; use one per goroutine.
type Analyzer struct {
	welch   map[int]*Welch
	segBufs [][]complex128
	segs    [][]complex128
	env     envelopeEngine
	scratch []float64
	pk      []Peak
	// Spectra at the envelope's resolution when it differs from the
	// main one, and per axis the spectrum the shaft-order rules read
	// (whichever resolves finer) with its floor.
	fine      []Spectrum
	fineFloor [][]float64
	ord       []*Spectrum
	ordFloor  [][]float64
	expects   []expect // bearing lines predicted, for crediting found lines
	detK      float64
	detDB     [64]float64 // detection levels by window width, for detK
}

// NewAnalyzer returns an Analyzer.
func NewAnalyzer() *Analyzer { return &Analyzer{welch: map[int]*Welch{}} }

// Analyze analyses signals (one slice per axis, in g) sampled at fs.
func Analyze(signals [][]float64, fs float64, o Options) (*Result, error) {
	var r Result
	if err := NewAnalyzer().Analyze(&r, signals, fs, o); err != nil {
		return nil, err
	}
	return &r, nil
}

// Analyze analyses signals into dst, reusing dst's slices.
func (a *Analyzer) Analyze(dst *Result, signals [][]float64, fs float64, o Options) error {
	if len(signals) == 0 {
		return errors.New("analyze: no axes")
	}
	if !(fs > 0) || math.IsInf(fs, 0) {
		return fmt.Errorf("analyze: sample rate %v", fs)
	}
	minLen := len(signals[0])
	for _, s := range signals {
		minLen = min(minLen, len(s))
	}
	if minLen < 256 {
		return fmt.Errorf("analyze: %w", ErrTooShort)
	}
	if o.Bearing.Elements != 0 {
		if err := o.Bearing.Validate(); err != nil {
			return fmt.Errorf("analyze: %w", err)
		}
	}
	group := o.ISOGroup
	if group == 0 {
		group = 2
	}
	limits, err := ISOLimits(group, o.Flexible)
	if err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	n := o.SegmentLen
	if n == 0 {
		n = 4096
	}
	if n&(n-1) != 0 || n < 256 {
		return fmt.Errorf("analyze: segment length %d is not a power of two >= 256", n)
	}
	for n > minLen {
		n /= 2
	}
	overlap := o.Overlap
	if overlap == 0 {
		overlap = 0.5
	}
	if overlap < 0 || overlap >= 1 {
		return fmt.Errorf("analyze: overlap %v outside [0, 1)", overlap)
	}
	w := a.welch[n]
	if w == nil {
		w = NewWelch(n)
		a.welch[n] = w
	}

	dst.FS = fs
	dst.Limits = limits
	dst.ShaftRulesFrom = limits.AB
	if o.Baseline > 0 {
		alarm, _ := limits.AlarmTrip(o.Baseline, 0)
		dst.ShaftRulesFrom = max(limits.AB, alarm)
	}
	dst.Findings = dst.Findings[:0]
	dst.evidence = dst.evidence[:0]
	dst.Axes = resize(dst.Axes, len(signals))
	dst.VelRMS = 0
	band, covered := VelocityBand(o.VelBandLo, o.VelBandHi, fs, o.LowPassHz)

	// The envelope and the shaft-order rules need a finer resolution
	// than the 4096-point spectrum gives at high sample rates (6.25 Hz at
	// 25.6 kHz cannot separate 0.5× from 1× on a 25 Hz shaft), and the
	// envelope of a slow record wants averages: envelope segments are
	// nE samples, about 1 Hz resolution as far as the record allows two
	// half-overlapping segments.
	nE := envelopeLen(fs, minLen, n)
	a.ord = resize(a.ord, len(signals))
	a.ordFloor = resize(a.ordFloor, len(signals))

	// Pass 1: features and spectra; keep each axis's envelope segment
	// spectra, which need the shaft speed first.
	segStart := make([]int, 0, 4)
	a.segs = a.segs[:0]
	// keep gives each kept segment's transform its own buffer, which the
	// FFT writes straight into.
	var keepLen int
	keep := func() []complex128 {
		j := len(a.segs)
		if j == len(a.segBufs) {
			a.segBufs = append(a.segBufs, nil)
		}
		buf := resize(a.segBufs[j], keepLen)
		a.segBufs[j] = buf
		a.segs = append(a.segs, buf)
		return buf
	}
	var we *Welch
	if nE != n {
		if we = a.welch[nE]; we == nil {
			we = NewWelch(nE)
			a.welch[nE] = we
		}
		a.fine = resize(a.fine, len(signals))
		a.fineFloor = resize(a.fineFloor, len(signals))
	}
	for i, x := range signals {
		ax := &dst.Axes[i]
		TimeFeatures(&ax.Features, x)
		segStart = append(segStart, len(a.segs))
		if we == nil {
			keepLen = n/2 + 1
			w.estimate(&ax.Spectrum, x, fs, overlap, keep, nil)
		} else {
			w.Estimate(&ax.Spectrum, x, fs, overlap, nil)
		}
		ax.Features.VelBand, ax.Features.ISOBandCovered = band, covered
		ax.Features.VelRMS = VelocityRMS(&ax.Spectrum, band)
		dst.VelRMS = max(dst.VelRMS, ax.Features.VelRMS)
		a.scratch = resize(a.scratch, 64)
		ax.Floor = MedianFloor(ax.Floor, ax.Spectrum.Amp, 64, a.scratch)
		a.ord[i], a.ordFloor[i] = &ax.Spectrum, ax.Floor
		if we != nil {
			fsp := &a.fine[i]
			keepLen = nE/2 + 1
			we.estimate(fsp, x, fs, 0.5, keep, nil)
			if nE > n {
				a.fineFloor[i] = MedianFloor(a.fineFloor[i], fsp.Amp, 64, a.scratch)
				a.ord[i], a.ordFloor[i] = fsp, a.fineFloor[i]
			}
		}
	}
	segStart = append(segStart, len(a.segs))
	dst.Zone = limits.Zone(dst.VelRMS)

	// Shaft speed: given, or estimated from harmonic support.
	dst.RPM, dst.RPMEstimated, dst.RPMConfidence = o.RPM, false, 1
	if o.RPM <= 0 {
		f, conf := estimateShaft(dst.Axes)
		dst.RPM, dst.RPMEstimated, dst.RPMConfidence = f*60, true, conf
	}
	shaft := dst.RPM / 60

	dst.Orders, dst.FaultHz = FaultOrders{}, FaultOrders{}
	if o.Bearing.Elements != 0 {
		dst.Orders = o.Bearing.Orders()
		dst.FaultHz = dst.Orders.Hz(shaft)
	}

	// The demodulation band is chosen once, on the radial axis with the
	// most impulsive signal (highest kurtosis), and used on every axis:
	// the structural resonances that carry bearing impacts are transfer
	// paths shared by all axes of one housing, and one kurtogram costs a
	// third of three.
	ref := -1
	for i := range dst.Axes {
		if i == o.AxialAxis-1 && len(dst.Axes) > 1 {
			continue
		}
		if ref < 0 || dst.Axes[i].Features.Kurtosis > dst.Axes[ref].Features.Kurtosis {
			ref = i
		}
	}
	envDF := fs / float64(nE)
	k0, bw, sk, chosen := a.envelopeBand(a.segs[segStart[ref]:segStart[ref+1]], envDF, fs, shaft, dst.FaultHz, o)
	for i := range dst.Axes {
		ax := &dst.Axes[i]
		ax.Peaks = FindPeaks(ax.Peaks, ax.Spectrum.Amp, ax.Floor, ax.Spectrum.DF, PeakOptions{ShaftHz: shaft})
		ax.Envelope.SK, ax.Envelope.Chosen = sk, chosen
		a.envelope(&ax.Envelope, a.segs[segStart[i]:segStart[i+1]], envDF, shaft, k0, bw)
	}

	a.diagnose(dst, shaft, limits, o)
	return nil
}

// envelopeBand chooses the demodulation band [k0, k0+w) in bins of the
// segment spectra segs: the caller's band, or the one with the largest
// spectral kurtosis (sk, chosen true).
func (a *Analyzer) envelopeBand(segs [][]complex128, df, fs, shaft float64, hz FaultOrders, o Options) (k0, w int, sk float64, chosen bool) {
	h := len(segs[0]) - 1
	// Bearing impacts ring the structure's resonances; a sensor's
	// low-pass attenuates signal and noise above its corner alike, so
	// the envelope may use everything up to the anti-alias limit.
	top := 0.45 * fs
	kHi := min(h, int(top/df))
	if o.EnvBand.Hi > o.EnvBand.Lo && o.EnvBand.Lo >= 0 {
		k0 = int(o.EnvBand.Lo / df)
		w = 1
		for w < int((o.EnvBand.Hi-o.EnvBand.Lo)/df) {
			w *= 2
		}
		if k0+w > h {
			k0 = max(0, h-w)
		}
		return k0, w, 0, false
	}
	// The band must be wide enough to hold the defect's sidebands up
	// to its third harmonic, and sit above the shaft-harmonic region
	// (10× shaft) where deterministic low-order vibration dominates.
	maxF := max(hz.BPFI, hz.BPFO)
	need := 3*maxF + shaft
	lowEdge := max(10*shaft, 2*maxF)
	if maxF == 0 {
		need = fs / 16
		lowEdge = max(10*shaft, fs/64)
	}
	wmin := 8
	for float64(wmin)*df < need {
		wmin *= 2
	}
	kLo := int(math.Ceil(lowEdge / df))
	best, ok := a.env.kurtogram(segs, wmin, kLo, kHi)
	if ok {
		return best.k0, best.w, best.s2, true
	}
	// Too little bandwidth for the rule (a low sample rate): demodulate
	// the widest power-of-two band below the top that still clears the
	// shaft harmonics' region, 10× shaft.
	kMin := max(1, int(math.Ceil(10*shaft/df)))
	w = 8
	for w*2 <= kHi-min(kMin, kHi/2) {
		w *= 2
	}
	return max(1, kHi-w), w, 0, false
}

// envelope computes the envelope spectrum of one axis over band
// [k0, k0+w) of its segment spectra.
func (a *Analyzer) envelope(dst *Envelope, segs [][]complex128, df, shaft float64, k0, w int) {
	h := len(segs[0]) - 1
	if k0+w > h {
		k0 = max(0, h-w)
	}
	dst.Band = Band{float64(k0) * df, float64(k0+w) * df}
	a.env.spectrum(dst, segs, k0, w, df)
	a.scratch = resize(a.scratch, 64)
	dst.Floor = MedianFloor(dst.Floor, dst.Amp, 32, a.scratch)
	dst.Peaks = FindPeaks(dst.Peaks, dst.Amp, dst.Floor, df, PeakOptions{ShaftHz: shaft, Max: 12})
}

// envelopeLen is the envelope's segment length for a record of length
// samples at fs whose spectrum uses n-point segments: the power of two of
// about 1 Hz resolution (fs/1 Hz rounded up), but short enough for two
// half-overlapping segments. When that is shorter than n only because the
// record is short, n is kept (the main spectrum's segments are reused).
func envelopeLen(fs float64, length, n int) int {
	target := 256
	for float64(target) < fs {
		target *= 2
	}
	fit := 256
	for 3*fit <= length {
		fit *= 2
	}
	nE := min(target, fit)
	if nE < n && target >= n {
		return n
	}
	return max(nE, 256)
}

// detectionDB is the height over the median floor that the strongest bin
// in a search window of m bins must reach to count as a line, when the
// spectrum averages k independent periodograms: the level that noise
// alone exceeds with probability pfa, from the chi-square distribution of
// averaged periodogram bins (2k degrees of freedom, Wilson–Hilferty
// approximation), but never less than 6 dB, because machine spectra have
// more structure than noise and a line of less than twice the floor's
// amplitude is not evidence anyone would act on.
func detectionDB(k float64, m int, pfa float64) float64 {
	k = max(1, k)
	p := pfa / float64(max(1, m))
	z := math.Sqrt2 * math.Erfinv(1-2*p)
	nu := 2 * k
	c := 2 / (9 * nu)
	q := math.Pow(1-c+z*math.Sqrt(c), 3)
	med := math.Pow(1-c, 3)
	db := 10 * math.Log10(q/med)
	return max(6, db)
}

// effectiveSegments is the number of independent averages equivalent to
// segs Hann segments at the given overlap (Welch 1967: 50 % overlap keeps
// about 95 % of the independent count; more overlap, less).
func effectiveSegments(segs int, overlap float64) float64 {
	if segs <= 1 {
		return 1
	}
	if overlap <= 0 {
		return float64(segs)
	}
	return 1 + float64(segs-1)*min(1, 2*(1-overlap))*0.95
}

// estimateShaft finds the shaft frequency as the spectral line in 5–120 Hz
// with the most harmonic support: each candidate peak is scored by the sum
// over its first five harmonics of the height over the floor beyond the
// detection level, summed over all axes. A subharmonic candidate gets
// support only from every other harmonic, and a harmonic candidate misses
// its fundamental, so the true shaft rate wins. The confidence is the
// fraction of the five harmonics present, scaled by how strong the
// fundamental is.
func estimateShaft(axes []AxisResult) (hz, conf float64) {
	var all []Peak
	for i := range axes {
		ax := &axes[i]
		all = append(all, FindPeaks(nil, ax.Spectrum.Amp, ax.Floor, ax.Spectrum.DF, PeakOptions{MinHz: 5, MaxHz: 120, Max: 8})...)
	}
	bestScore := 0.0
	for _, c := range all {
		var score float64
		present := 0
		for i := range axes {
			ax := &axes[i]
			s := &ax.Spectrum
			thr := detectionDB(float64(s.Segments), 3, 0.01)
			axPresent := 0
			for h := 1; h <= 5; h++ {
				f := c.Freq * float64(h)
				_, db, ok := lineAt(s.Amp, ax.Floor, s.DF, f, max(s.DF, 0.01*f))
				if ok && db >= thr {
					score += db - thr
					axPresent++
				}
			}
			present = max(present, axPresent)
		}
		if score > bestScore {
			bestScore, hz = score, c.Freq
			conf = float64(present) / 5 * (1 - math.Exp(-c.DB/10))
		}
	}
	return hz, conf
}

func sortFindings(f []Finding) {
	slices.SortStableFunc(f, func(a, b Finding) int {
		switch {
		case a.Confidence > b.Confidence:
			return -1
		case a.Confidence < b.Confidence:
			return 1
		}
		return 0
	})
}
