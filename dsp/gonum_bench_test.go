package dsp_test

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/dsp/fourier"
)

// BenchmarkGonumFFTReal4096 is the reference point for BenchmarkFFTReal4096:
// gonum's real FFT (a port of FFTPACK) on the same input size.
func BenchmarkGonumFFTReal4096(b *testing.B) {
	f := fourier.NewFFT(4096)
	x := make([]float64, 4096)
	for i := range x {
		x[i] = math.Sin(float64(i))
	}
	dst := make([]complex128, 2049)
	b.ReportAllocs()
	b.SetBytes(4096 * 8)
	for b.Loop() {
		f.Coefficients(dst, x)
	}
}
