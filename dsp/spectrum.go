package dsp

import "math"

// Spectrum is a one-sided averaged spectrum: bin k is at frequency k·DF.
// Amp holds the amplitude (peak, not RMS) a stationary sine at that bin
// would have, in the input's unit; PSD holds the power spectral density in
// unit²/Hz, which sums to the signal's mean-square (Parseval) and is what
// band RMS values and velocity integration are computed from.
type Spectrum struct {
	FS       float64   // sample rate, Hz
	N        int       // segment length (FFT size)
	DF       float64   // bin spacing, Hz
	Segments int       // how many segments were averaged
	Amp      []float64 // amplitude per bin, N/2+1 values
	PSD      []float64 // one-sided power spectral density per bin
}

// Freq returns the frequency of bin k.
func (s *Spectrum) Freq(k int) float64 { return float64(k) * s.DF }

// Bin returns the bin nearest to frequency f, clipped to the spectrum.
func (s *Spectrum) Bin(f float64) int {
	k := int(math.Round(f / s.DF))
	return max(0, min(k, len(s.Amp)-1))
}

// Welch is a reusable Welch-method spectrum estimator: the signal is cut
// into segments of N samples overlapping by Overlap (0.5 by default), each
// segment has its mean removed and a Hann window applied, and the segment
// power spectra are averaged. Averaging power (not complex values) is what
// lowers the variance of the noise floor without needing phase coherence.
// A Welch is not safe for concurrent use; its FFT plan is.
type Welch struct {
	n    int
	plan *FFT
	win  []float64
	cg   float64 // coherent gain
	eg   float64 // energy gain
	seg  []float64
	spec []complex128
}

// NewWelch returns an estimator for segments of n samples (a power of two).
func NewWelch(n int) *Welch {
	w := &Welch{n: n, plan: NewFFT(n), win: Hann(make([]float64, n)), seg: make([]float64, n), spec: make([]complex128, n/2+1)}
	w.cg, w.eg = WindowGains(w.win)
	return w
}

// Estimate computes the spectrum of x sampled at fs into dst, reusing
// dst's slices, and returns dst. overlap is the fraction of a segment
// shared with the next one (0 <= overlap < 1; 0.5 is usual for Hann).
// Signals shorter than one segment are zero-padded. visit, when not nil, is
// called with every windowed segment's transform, so other analyses can
// share the FFT.
func (w *Welch) Estimate(dst *Spectrum, x []float64, fs, overlap float64, visit func(X []complex128)) *Spectrum {
	return w.estimate(dst, x, fs, overlap, nil, visit)
}

// estimate is Estimate; out, when not nil, gives the buffer (n/2+1
// values) each segment's transform is written to and kept in, which saves
// a visitor's copy.
func (w *Welch) estimate(dst *Spectrum, x []float64, fs, overlap float64, out func() []complex128, visit func(X []complex128)) *Spectrum {
	n, h := w.n, w.n/2
	dst.FS, dst.N, dst.DF = fs, n, fs/float64(n)
	dst.Amp = resize(dst.Amp, h+1)
	dst.PSD = resize(dst.PSD, h+1)
	clear(dst.PSD)
	hop := int(float64(n) * (1 - overlap))
	if hop < 1 || overlap < 0 || overlap >= 1 {
		hop = n / 2
	}
	// Locals and equal-length reslices keep the loops below in registers
	// and free of bounds checks (through w and dst, every store could
	// alias the slice headers).
	psd, amp, win, segBuf := dst.PSD[:h+1], dst.Amp[:h+1], w.win[:n], w.seg[:n]
	segs := 0
	for start := 0; segs == 0 || start+n <= len(x); start += hop {
		m := min(n, len(x)-start)
		xs := x[start : start+m]
		var mean float64
		if m > 0 {
			mean = sum(xs) / float64(m)
		}
		seg, wn := segBuf[:len(xs)], win[:len(xs)]
		for i, v := range xs {
			seg[i] = (v - mean) * wn[i]
		}
		clear(segBuf[m:])
		buf := w.spec
		if out != nil {
			buf = out()
		}
		X := w.plan.Real(buf, segBuf)
		ps := psd[:len(X)]
		for k, v := range X {
			ps[k] += real(v)*real(v) + imag(v)*imag(v)
		}
		if visit != nil {
			visit(X)
		}
		segs++
	}
	dst.Segments = segs
	// |X|² of a windowed tone of amplitude A is (A·N·cg/2)²; noise power
	// per bin is σ²·N·eg·... scaled so ΣPSD·DF = σ².
	ampScale := 2 / (float64(n) * w.cg)
	psdScale := 2 / (fs * float64(n) * w.eg * float64(segs))
	// sqrt(p/segs)·ampScale with the division folded into the scale: a
	// division per bin costs as much as the square root.
	ampScale /= math.Sqrt(float64(segs))
	amp = amp[:len(psd)]
	for k, p := range psd {
		amp[k] = math.Sqrt(p) * ampScale
		psd[k] = p * psdScale
	}
	dst.Amp[0] /= 2
	dst.PSD[0] /= 2
	dst.Amp[h] /= 2
	dst.PSD[h] /= 2
	return dst
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// MedianFloor estimates the noise floor of an amplitude (or power)
// spectrum into dst: the spectrum is cut into blocks of block bins, each
// block's median is taken, and the floor is interpolated linearly between
// block centres. A median ignores the few bins that hold tones, which is
// why it estimates the floor under them; blocks let the floor follow the
// slope real machine spectra have. scratch must hold block values.
func MedianFloor(dst, spec []float64, block int, scratch []float64) []float64 {
	n := len(spec)
	dst = resize(dst, n)
	if n == 0 {
		return dst
	}
	block = max(3, min(block, n))
	nb := (n + block - 1) / block
	// Store block medians temporarily at dst[b*block].
	var prevC, prevM float64
	for b := 0; b < nb; b++ {
		lo, hi := b*block, min(n, (b+1)*block)
		s := append(scratch[:0], spec[lo:hi]...)
		m := median(s)
		c := float64(lo+hi-1) / 2
		if b == 0 {
			for i := lo; i < hi && float64(i) <= c; i++ {
				dst[i] = m
			}
		} else {
			slope := (m - prevM) / (c - prevC)
			for i := int(math.Ceil(prevC)); i <= int(c) && i < n; i++ {
				dst[i] = prevM + (float64(i)-prevC)*slope
			}
		}
		if b == nb-1 {
			for i := int(c); i < n; i++ {
				dst[i] = m
			}
		}
		prevC, prevM = c, m
	}
	return dst
}

// median returns the median of s, reordering s. It selects rather than
// sorts (Hoare's quickselect), which keeps floor estimation linear.
func median(s []float64) float64 {
	n := len(s)
	if n == 0 {
		return 0
	}
	hi := selectKth(s, n/2)
	if n%2 == 1 {
		return hi
	}
	// After selection every value below n/2 is <= hi; the lower middle is
	// their maximum.
	lo := s[0]
	for _, v := range s[1 : n/2] {
		if v > lo { // not max: its NaN handling costs more than the compare
			lo = v
		}
	}
	return (lo + hi) / 2
}

// selectKth reorders s so that s[k] is the k-th smallest value, with
// smaller or equal values before it, and returns it.
func selectKth(s []float64, k int) float64 {
	lo, hi := 0, len(s)-1
	for hi-lo > 8 {
		// Median of three as pivot keeps sorted input linear; on longer
		// ranges each of the three is first the median of a triple (a
		// ninther), a pivot nearer the median: fewer, shorter passes
		// (a quarter faster on 64 values).
		mid := lo + (hi-lo)/2
		if hi-lo > 24 {
			q := (hi - lo) / 8
			order3(s, lo, lo+q, lo+2*q)
			order3(s, mid-q, mid, mid+q)
			order3(s, hi-2*q, hi-q, hi)
			s[lo], s[lo+q] = s[lo+q], s[lo]
			s[hi], s[hi-q] = s[hi-q], s[hi]
		}
		if s[mid] < s[lo] {
			s[mid], s[lo] = s[lo], s[mid]
		}
		if s[hi] < s[lo] {
			s[hi], s[lo] = s[lo], s[hi]
		}
		if s[hi] < s[mid] {
			s[hi], s[mid] = s[mid], s[hi]
		}
		pivot := s[mid]
		i, j := lo, hi
		for i <= j {
			for s[i] < pivot {
				i++
			}
			for s[j] > pivot {
				j--
			}
			if i <= j {
				s[i], s[j] = s[j], s[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return s[k]
		}
	}
	// A short range: insertion sort beats further partitioning.
	for i := lo + 1; i <= hi; i++ {
		v := s[i]
		j := i
		for ; j > lo && s[j-1] > v; j-- {
			s[j] = s[j-1]
		}
		s[j] = v
	}
	return s[k]
}

// order3 orders s[a] <= s[b] <= s[c].
func order3(s []float64, a, b, c int) {
	if s[b] < s[a] {
		s[a], s[b] = s[b], s[a]
	}
	if s[c] < s[b] {
		s[b], s[c] = s[c], s[b]
		if s[b] < s[a] {
			s[a], s[b] = s[b], s[a]
		}
	}
}
