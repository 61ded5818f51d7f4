package firmware

import "math"

// Moments accumulates one axis's time-domain features sample by sample
// (Welford/Terriberry updates of the central moments in float32), so the
// node never needs a second pass: mean, RMS, peak about the mean, crest
// factor and kurtosis, the same definitions as the server's dsp.TimeFeatures.
type Moments struct {
	n              int
	mean, m2, m3   float32
	m4, minV, maxV float32
}

// Reset starts a new window.
func (m *Moments) Reset() { *m = Moments{} }

// Add accumulates one sample (g).
func (m *Moments) Add(x float32) {
	if m.n == 0 {
		m.minV, m.maxV = x, x
	}
	m.minV, m.maxV = min(m.minV, x), max(m.maxV, x)
	n1 := float32(m.n)
	m.n++
	n := float32(m.n)
	d := x - m.mean
	dn := d / n
	dn2 := dn * dn
	t := d * dn * n1
	m.mean += dn
	m.m4 += t*dn2*(n*n-3*n+3) + 6*dn2*m.m2 - 4*dn*m.m3
	m.m3 += t*dn*(n-2) - 3*dn*m.m2
	m.m2 += t
}

// AxisFeatures are one axis's condition indicators over a window.
type AxisFeatures struct {
	AccRMS, AccPeak, Crest, Kurtosis float32 // g, g, -, -
	VelRMS                           float32 // mm/s over the band
}

// Features returns RMS (mean removed), peak |x - mean|, crest and kurtosis;
// VelRMS is left 0. A constant signal has crest and kurtosis 0, as in dsp.
func (m *Moments) Features() AxisFeatures {
	if m.n == 0 {
		return AxisFeatures{}
	}
	n := float32(m.n)
	v := m.m2 / n
	f := AxisFeatures{AccRMS: float32(math.Sqrt(float64(v))), AccPeak: max(m.maxV-m.mean, m.mean-m.minV)}
	if v > 0 {
		f.Crest = f.AccPeak / f.AccRMS
		f.Kurtosis = (m.m4 / n) / (v * v)
	}
	return f
}

// standardGravityMM converts g/(rad/s) to mm/s.
const standardGravityMM = 9806.65

// Velocity computes velocity RMS by frequency-domain integration, the
// definition of dsp.VelocityRMS: Welch segments of FFT size with 50 %
// overlap, mean removed, periodic Hann window, one-sided PSD scaled so
// that it sums to the mean square, each line divided by (2πf)². A 1024-point
// float32 FFT takes about 1 ms on an ESP32-S3 and 3 ms on a C3, once per
// axis per window. It allocates only in NewVelocity.
type Velocity struct {
	n      int
	fft    *fft32
	win    []float32
	eg     float64 // energy gain Σw²/n
	re, im []float32
	psd    []float32
}

// NewVelocity returns an integrator for FFT segments of n samples (a
// power of two, 256..4096).
func NewVelocity(n int) *Velocity {
	v := &Velocity{n: n, fft: newFFT32(n), win: make([]float32, n), re: make([]float32, n), im: make([]float32, n), psd: make([]float32, n/2+1)}
	var s2 float64
	for i := range v.win {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n))
		v.win[i] = float32(w)
		s2 += w * w
	}
	v.eg = s2 / float64(n)
	return v
}

// RMS returns the velocity RMS (mm/s) of x (g) sampled at fs over the band
// [lo, hi] Hz. Shorter signals than one segment are zero-padded, as in dsp.
func (v *Velocity) RMS(x []float32, fs, lo, hi float32) float32 {
	n, h := v.n, v.n/2
	clear(v.psd)
	hop := n / 2
	segs := 0
	for start := 0; segs == 0 || start+n <= len(x); start += hop {
		m := min(n, len(x)-start)
		var mean float32
		for _, s := range x[start : start+m] {
			mean += s
		}
		if m > 0 {
			mean /= float32(m)
		}
		for i := 0; i < m; i++ {
			v.re[i] = (x[start+i] - mean) * v.win[i]
		}
		clear(v.re[m:])
		clear(v.im)
		v.fft.transform(v.re, v.im)
		for k := 0; k <= h; k++ {
			v.psd[k] += v.re[k]*v.re[k] + v.im[k]*v.im[k]
		}
		segs++
	}
	df := fs / float32(n)
	scale := float32(2 / (float64(fs) * float64(n) * v.eg * float64(segs)))
	kLo := max(1, int(math.Ceil(float64(lo/df))))
	kHi := min(h, int(math.Floor(float64(hi/df))))
	var sum float32
	for k := kLo; k <= kHi; k++ {
		p := v.psd[k] * scale
		if k == h {
			p /= 2
		}
		g := standardGravityMM / (2 * math.Pi * float32(k) * df)
		sum += p * g * g
	}
	return float32(math.Sqrt(float64(sum * df)))
}

// VelocityBand is the band a node integrates velocity over: ISO 10816-3's
// 10–1000 Hz clipped to 0.45·fs and the sensor's low-pass corner (0: none),
// as dsp.VelocityBand does. covered reports the full ISO band.
func VelocityBand(fs, lowPass float32) (lo, hi float32, covered bool) {
	lo, hi = 10, 1000
	hi = min(hi, 0.45*fs)
	if lowPass > 0 {
		hi = min(hi, lowPass)
	}
	hi = max(hi, lo)
	return lo, hi, hi >= 1000
}
