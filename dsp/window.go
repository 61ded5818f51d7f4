package dsp

import "math"

// Hann fills dst with the periodic Hann window of length len(dst),
// w[i] = 0.5 - 0.5·cos(2πi/N), and returns dst. The periodic form (not the
// symmetric one) is the right one for spectral analysis: it makes the
// window's DFT exactly three bins wide.
func Hann(dst []float64) []float64 {
	n := float64(len(dst))
	for i := range dst {
		dst[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/n)
	}
	return dst
}

// WindowGains returns the coherent gain Σw/N (what a windowed tone's
// amplitude is multiplied by; 0.5 for Hann) and the energy gain Σw²/N (what
// broadband power is multiplied by; 0.375 for Hann) of a window.
func WindowGains(w []float64) (coherent, energy float64) {
	var s, s2 float64
	for _, v := range w {
		s += v
		s2 += v * v
	}
	n := float64(len(w))
	return s / n, s2 / n
}

// hannResponse is the Hann window's normalized amplitude response at a
// frequency offset of d bins (|d| < 2), used to undo scalloping loss after
// interpolating a peak's position between bins.
func hannResponse(d float64) float64 {
	d = math.Abs(d)
	if d < 1e-9 {
		return 1
	}
	if math.Abs(d-1) < 1e-9 {
		return 0.5
	}
	return math.Abs(math.Sin(math.Pi*d)/(math.Pi*d)) / math.Abs(1-d*d)
}
