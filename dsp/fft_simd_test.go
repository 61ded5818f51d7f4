package dsp

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// planWith returns a plan of size n that runs the SIMD kernels when simd
// is true (and the CPU has them) and the pure-Go code otherwise.
func planWith(n int, simd bool) *FFT {
	p := NewFFT(n)
	p.half.simd = simd && haveSIMD
	p.full.simd = simd && haveSIMD
	return p
}

// TestFFTSIMDMatchesGoAndNaiveDFT runs every transform through the
// assembly kernels and through the pure-Go code on random inputs at every
// size from 4 to 65536 and checks that they agree with each other to
// rounding and with a naive DFT (up to 4096 points, where the O(n²)
// reference stays fast). Inputs and outputs sit one value off the start of
// their allocations, as sub-slices of a caller's buffers do: the kernels
// must not assume alignment.
func TestFFTSIMDMatchesGoAndNaiveDFT(t *testing.T) {
	if !haveSIMD {
		t.Log("no AVX2/FMA on this CPU or a purego/non-amd64 build: both paths are the pure-Go code")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for n := 4; n <= 65536; n *= 2 {
		simd, plain := planWith(n, true), planWith(n, false)
		x := make([]float64, n+1)[1:]
		xc := make([]complex128, n+1)[1:]
		for i := range x {
			x[i] = rng.NormFloat64()
			xc[i] = complex(rng.NormFloat64(), rng.NormFloat64())
		}
		rs := simd.Real(make([]complex128, n/2+2)[1:], x)
		rg := plain.Real(make([]complex128, n/2+1), x)
		if e := maxRelErr(rs, rg); e > 1e-13 {
			t.Errorf("n=%d: Real SIMD vs Go: max relative difference %g, want <= 1e-13", n, e)
		}
		cs := simd.Complex(make([]complex128, n+1)[1:], xc)
		cg := plain.Complex(make([]complex128, n), xc)
		if e := maxRelErr(cs, cg); e > 1e-13 {
			t.Errorf("n=%d: Complex SIMD vs Go: max relative difference %g, want <= 1e-13", n, e)
		}
		ip := append([]complex128(nil), xc...)
		simd.Complex(ip, ip)
		if e := maxRelErr(ip, cg); e > 1e-13 {
			t.Errorf("n=%d: in-place Complex SIMD vs Go: max relative difference %g", n, e)
		}
		back := simd.Inverse(make([]complex128, n), cs)
		if e := maxRelErr(back, xc); e > 1e-13 {
			t.Errorf("n=%d: SIMD Inverse(Complex(x)) differs from x by %g", n, e)
		}
		if n > 4096 {
			continue
		}
		xr := make([]complex128, n)
		for i, v := range x {
			xr[i] = complex(v, 0)
		}
		if e := maxRelErr(rs, naiveDFT(xr)[:n/2+1]); e > 1e-9 {
			t.Errorf("n=%d: SIMD Real vs naive DFT: max relative error %g", n, e)
		}
		if e := maxRelErr(cs, naiveDFT(xc)); e > 1e-9 {
			t.Errorf("n=%d: SIMD Complex vs naive DFT: max relative error %g", n, e)
		}
	}
}

// FuzzFFTSIMDMatchesGo feeds arbitrary samples (16-bit values, as an ADC
// gives) of any size from 4 to 4096 to the SIMD and the pure-Go real and
// complex transforms and requires the same spectrum to rounding.
func FuzzFFTSIMDMatchesGo(f *testing.F) {
	f.Add(uint8(0), []byte{1, 0, 255, 255, 0, 128, 7, 7})
	f.Add(uint8(5), []byte("a burst of vibration samples, any bytes at all"))
	f.Add(uint8(10), make([]byte, 64))
	f.Fuzz(func(t *testing.T, lg uint8, data []byte) {
		n := 4 << (lg % 11)
		x := make([]float64, n)
		var scale float64
		for i := range x {
			if j := 2 * (i % (len(data)/2 + 1)); j+1 < len(data) {
				x[i] = float64(int16(binary.LittleEndian.Uint16(data[j:])))
			}
			scale += math.Abs(x[i])
		}
		tol := 1e-12 * (scale + 1)
		simd, plain := planWith(n, true), planWith(n, false)
		rs := simd.Real(make([]complex128, n/2+1), x)
		rg := plain.Real(make([]complex128, n/2+1), x)
		for k := range rs {
			if d := rs[k] - rg[k]; math.Hypot(real(d), imag(d)) > tol {
				t.Fatalf("n=%d bin %d: Real SIMD %v, Go %v", n, k, rs[k], rg[k])
			}
		}
		xc := make([]complex128, n)
		for i := range xc {
			xc[i] = complex(x[i], x[n-1-i])
		}
		cs := simd.Complex(make([]complex128, n), xc)
		cg := plain.Complex(make([]complex128, n), xc)
		for k := range cs {
			if d := cs[k] - cg[k]; math.Hypot(real(d), imag(d)) > 2*tol {
				t.Fatalf("n=%d bin %d: Complex SIMD %v, Go %v", n, k, cs[k], cg[k])
			}
		}
	})
}

// BenchmarkFFTReal4096Paths times the real 4096-point transform through the
// SIMD kernels and through the pure-Go code in one binary (thread CPU time
// in cpu-ns/op; the comparison with FFTW is in internal/fftwbench).
func BenchmarkFFTReal4096Paths(b *testing.B) {
	x := make([]float64, 4096)
	for i := range x {
		x[i] = math.Sin(float64(i))
	}
	dst := make([]complex128, 2049)
	for _, path := range []struct {
		name string
		simd bool
	}{{"simd", true}, {"go", false}} {
		b.Run(path.name, func(b *testing.B) {
			p := planWith(4096, path.simd)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			c0 := threadCPU()
			for b.Loop() {
				p.Real(dst, x)
			}
			b.ReportMetric(float64(threadCPU()-c0)/float64(b.N), "cpu-ns/op")
		})
	}
}
