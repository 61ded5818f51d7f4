package sim

import (
	"math"
	"math/cmplx"
	"slices"
	"testing"

	"github.com/vibemon/vibemon/dsp"
)

// The helpers here are deliberately plain (one Hann-windowed FFT of the
// whole record, a brick-wall band-pass for the envelope) so the physics
// tests do not depend on the analytics they are meant to score.

// spectrum is a one-sided amplitude spectrum: a sine of amplitude A at a
// bin reads A.
type spectrum struct {
	amp []float64
	df  float64
}

func pow2Below(n int) int {
	p := 1
	for p*2 <= n {
		p *= 2
	}
	return p
}

func ampSpectrum(t *testing.T, x []float64, fs float64) spectrum {
	t.Helper()
	n := pow2Below(len(x))
	w := dsp.Hann(make([]float64, n))
	var mean float64
	for _, v := range x[:n] {
		mean += v
	}
	mean /= float64(n)
	buf := make([]float64, n)
	for i := range buf {
		buf[i] = (x[i] - mean) * w[i]
	}
	X := dsp.NewFFT(n).Real(make([]complex128, n/2+1), buf)
	amp := make([]float64, len(X))
	for k, c := range X {
		amp[k] = cmplx.Abs(c) * 2 / (float64(n) * 0.5)
	}
	return spectrum{amp: amp, df: fs / float64(n)}
}

// at returns the largest amplitude within tol Hz of f.
func (s spectrum) at(f, tol float64) float64 {
	lo := max(1, int(math.Floor((f-tol)/s.df)))
	hi := min(len(s.amp)-1, int(math.Ceil((f+tol)/s.df)))
	best := 0.0
	for k := lo; k <= hi; k++ {
		best = max(best, s.amp[k])
	}
	return best
}

// peak returns the frequency of the largest amplitude in [lo, hi] Hz,
// refined by parabolic interpolation.
func (s spectrum) peak(lo, hi float64) float64 {
	k0, k1 := max(1, int(lo/s.df)), min(len(s.amp)-2, int(hi/s.df))
	best := k0
	for k := k0; k <= k1; k++ {
		if s.amp[k] > s.amp[best] {
			best = k
		}
	}
	a, b, c := s.amp[best-1], s.amp[best], s.amp[best+1]
	d := 0.0
	if den := a - 2*b + c; den != 0 {
		d = 0.5 * (a - c) / den
	}
	return (float64(best) + d) * s.df
}

// floor returns the median amplitude in [lo, hi] Hz.
func (s spectrum) floor(lo, hi float64) float64 {
	k0, k1 := max(1, int(lo/s.df)), min(len(s.amp)-1, int(hi/s.df))
	v := slices.Clone(s.amp[k0 : k1+1])
	slices.Sort(v)
	return v[len(v)/2]
}

// envelopeSpectrum band-passes x to [lo, hi] Hz, takes the squared
// magnitude of the analytic signal and returns its amplitude spectrum:
// the classic demodulation for bearing diagnosis.
func envelopeSpectrum(t *testing.T, x []float64, fs, lo, hi float64) spectrum {
	t.Helper()
	n := pow2Below(len(x))
	p := dsp.NewFFT(n)
	z := make([]complex128, n)
	for i := range z {
		z[i] = complex(x[i], 0)
	}
	Z := p.Complex(make([]complex128, n), z)
	df := fs / float64(n)
	for k := range Z {
		f := float64(k) * df
		if k > n/2 || f < lo || f > hi {
			Z[k] = 0
		} else {
			Z[k] *= 2
		}
	}
	a := p.Inverse(z, Z)
	env := make([]float64, n)
	for i, c := range a {
		env[i] = real(c)*real(c) + imag(c)*imag(c)
	}
	return ampSpectrum(t, env, fs)
}

// dB returns 20·log10(a/b).
func dB(a, b float64) float64 { return 20 * math.Log10(a/b) }

// phaseAt returns the phase of x's DFT at exactly f Hz (a non-integer bin
// is fine: it is a direct sum).
func phaseAt(x []float64, fs, f float64) float64 {
	var s complex128
	for i, v := range x {
		s += complex(v, 0) * cmplx.Rect(1, -2*math.Pi*f*float64(i)/fs)
	}
	return cmplx.Phase(s)
}

func rms(x []float64) float64 {
	var mean, ms float64
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		ms += (v - mean) * (v - mean)
	}
	return math.Sqrt(ms / float64(len(x)))
}

func record(n int) [3][]float64 {
	return [3][]float64{make([]float64, n), make([]float64, n), make([]float64, n)}
}
