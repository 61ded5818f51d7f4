package dsp

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"sync"
	"testing"
)

func naiveDFT(x []complex128) []complex128 {
	n := len(x)
	// exp(-2πij/n) for j < n, each angle exact: the sum's angles k·t are
	// reduced in integers, so the reference is accurate at every size.
	w := make([]complex128, n)
	for j := range w {
		s, c := math.Sincos(-2 * math.Pi * float64(j) / float64(n))
		w[j] = complex(c, s)
	}
	out := make([]complex128, n)
	for k := range out {
		var s complex128
		for t, v := range x {
			s += v * w[(k*t)%n]
		}
		out[k] = s
	}
	return out
}

func maxRelErr(got, want []complex128) float64 {
	var num, den float64
	for i := range want {
		num = math.Max(num, cmplx.Abs(got[i]-want[i]))
		den = math.Max(den, cmplx.Abs(want[i]))
	}
	return num / den
}

func TestFFTRealMatchesNaiveDFT(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096} {
		x := make([]float64, n)
		xc := make([]complex128, n)
		for i := range x {
			x[i] = rng.NormFloat64()
			xc[i] = complex(x[i], 0)
		}
		want := naiveDFT(xc)
		got := NewFFT(n).Real(make([]complex128, n/2+1), x)
		if e := maxRelErr(got, want[:n/2+1]); e > 1e-9 {
			t.Errorf("n=%d: real FFT max relative error %g, want <= 1e-9", n, e)
		}
	}
}

func TestFFTComplexAndInverse(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{4, 8, 32, 128, 512, 2048} {
		x := make([]complex128, n)
		for i := range x {
			x[i] = complex(rng.NormFloat64(), rng.NormFloat64())
		}
		p := NewFFT(n)
		want := naiveDFT(x)
		got := p.Complex(make([]complex128, n), x)
		if e := maxRelErr(got, want); e > 1e-9 {
			t.Errorf("n=%d: complex FFT max relative error %g", n, e)
		}
		inPlace := append([]complex128(nil), x...)
		p.Complex(inPlace, inPlace)
		if e := maxRelErr(inPlace, want); e > 1e-9 {
			t.Errorf("n=%d: in-place complex FFT max relative error %g", n, e)
		}
		back := p.Inverse(make([]complex128, n), got)
		if e := maxRelErr(back, x); e > 1e-12 {
			t.Errorf("n=%d: Inverse(Complex(x)) differs from x by %g", n, e)
		}
	}
}

func TestFFTParseval(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{16, 1024, 4096, 16384} {
		x := make([]float64, n)
		var et float64
		for i := range x {
			x[i] = rng.NormFloat64()*3 + 1
			et += x[i] * x[i]
		}
		X := NewFFT(n).Real(make([]complex128, n/2+1), x)
		ef := sqAbs(X[0]) + sqAbs(X[n/2])
		for _, v := range X[1 : n/2] {
			ef += 2 * sqAbs(v)
		}
		ef /= float64(n)
		if math.Abs(ef-et) > 1e-9*et {
			t.Errorf("n=%d: frequency-domain energy %v, time-domain %v", n, ef, et)
		}
	}
}

func TestFFTConcurrentUseOfOnePlan(t *testing.T) {
	const n = 1024
	p := NewFFT(n)
	x := make([]float64, n)
	for i := range x {
		x[i] = math.Sin(float64(i)*0.3) + 0.1*float64(i%7)
	}
	want := p.Real(make([]complex128, n/2+1), x)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := make([]complex128, n/2+1)
			for i := 0; i < 50; i++ {
				got := p.Real(dst, x)
				for k := range got {
					if got[k] != want[k] {
						t.Errorf("bin %d: got %v, want %v", k, got[k], want[k])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

func TestFFTRealAllocatesNothing(t *testing.T) {
	p := NewFFT(4096)
	x := make([]float64, 4096)
	dst := make([]complex128, 4097)
	if a := testing.AllocsPerRun(20, func() { p.Real(dst, x) }); a != 0 {
		t.Errorf("Real allocates %v times per call, want 0", a)
	}
}

func sqAbs(c complex128) float64 { return real(c)*real(c) + imag(c)*imag(c) }

func BenchmarkFFTReal4096(b *testing.B) {
	p := NewFFT(4096)
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
