//go:build fftw

package fftwbench

import (
	"math"
	"testing"

	"github.com/vibemon/vibemon/dsp"
)

// TestAgreesWithDSP checks that both transforms compute the same thing,
// so the benchmark compares like with like.
func TestAgreesWithDSP(t *testing.T) {
	p := NewPlan(4096)
	p.Execute()
	x := make([]float64, 4096)
	for i := range x {
		x[i] = math.Sin(float64(i))
	}
	X := dsp.NewFFT(4096).Real(make([]complex128, 2049), x)
	for _, k := range []int{0, 1, 651, 652, 2048} {
		if math.Abs(real(X[k])-Re(k)) > 1e-9*math.Max(1, math.Abs(Re(k))) {
			t.Errorf("bin %d: dsp %v, fftw %v", k, real(X[k]), Re(k))
		}
	}
}

// BenchmarkFFTWReal4096 times one execution of an FFTW_MEASURE r2c plan
// of 4096 points, cgo call included (tens of ns).
func BenchmarkFFTWReal4096(b *testing.B) {
	p := NewPlan(4096)
	b.ReportAllocs()
	b.SetBytes(4096 * 8)
	for b.Loop() {
		p.Execute()
	}
}

// BenchmarkDSPReal4096 is dsp.FFT on the same input in the same run.
func BenchmarkDSPReal4096(b *testing.B) {
	p := dsp.NewFFT(4096)
	x := make([]float64, 4096)
	for i := range x {
		x[i] = math.Sin(float64(i))
	}
	dst := make([]complex128, 2049)
	b.ReportAllocs()
	b.SetBytes(4096 * 8)
	for b.Loop() {
		p.Real(dst, x)
	}
}
