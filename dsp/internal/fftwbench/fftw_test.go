//go:build fftw

package fftwbench

import (
	"math"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/vibemon/vibemon/dsp"
	"gonum.org/v1/gonum/dsp/fourier"
)

// TestAgreesWithDSP checks that both transforms compute the same thing,
// so the benchmark compares like with like: every bin of dsp's real
// transform (the SIMD kernels where the CPU has them) matches FFTW's to
// 1e-12 of the largest bin.
func TestAgreesWithDSP(t *testing.T) {
	p := NewPlan(4096)
	p.Execute()
	x := sines()
	X := dsp.NewFFT(4096).Real(make([]complex128, 2049), x)
	var peak float64
	for k := range X {
		peak = math.Max(peak, math.Hypot(Re(k), Im(k)))
	}
	for k := range X {
		if d := math.Hypot(real(X[k])-Re(k), imag(X[k])-Im(k)); d > 1e-12*peak {
			t.Errorf("bin %d: dsp %v, fftw %v", k, X[k], complex(Re(k), Im(k)))
		}
	}
}

// cpuLoop runs op in b.Loop on a locked OS thread and reports the
// thread's CPU time per op (cpu-ns/op): on a shared machine wall time
// (ns/op) also counts the time other processes held the core.
func cpuLoop(b *testing.B, op func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.SetBytes(4096 * 8)
	c0 := threadCPU()
	for b.Loop() {
		op()
	}
	b.ReportMetric(float64(threadCPU()-c0)/float64(b.N), "cpu-ns/op")
}

func threadCPU() time.Duration {
	const rusageThread = 1 // Linux RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func sines() []float64 {
	x := make([]float64, 4096)
	for i := range x {
		x[i] = math.Sin(float64(i))
	}
	return x
}

// BenchmarkFFTWReal4096 times one execution of an FFTW_MEASURE r2c plan
// of 4096 points, cgo call included (tens of ns).
func BenchmarkFFTWReal4096(b *testing.B) {
	p := NewPlan(4096)
	cpuLoop(b, p.Execute)
}

// BenchmarkDSPReal4096 is dsp.FFT on the same input in the same run.
func BenchmarkDSPReal4096(b *testing.B) {
	p := dsp.NewFFT(4096)
	x := sines()
	dst := make([]complex128, 2049)
	cpuLoop(b, func() { p.Real(dst, x) })
}

// BenchmarkGonumReal4096 is gonum's real FFT (a port of FFTPACK) on the
// same input in the same run.
func BenchmarkGonumReal4096(b *testing.B) {
	f := fourier.NewFFT(4096)
	x := sines()
	dst := make([]complex128, 2049)
	cpuLoop(b, func() { f.Coefficients(dst, x) })
}
