package dsp

import (
	"fmt"
	"math"
	"math/bits"
)

// FFT is a precomputed plan for transforms of one power-of-two size: the
// twiddle factors and bit-reversal table are built once by NewFFT and only
// read afterwards, so one plan may be shared by any number of goroutines as
// long as each passes its own destination buffer.
//
// The complex transform is an iterative radix-2² (radix-4 arithmetic on a
// radix-2 bit-reversed order) decimation in time; the real transform packs
// the n real samples into n/2 complex ones, runs the half-size complex
// transform and separates the even and odd parts (the classic
// real-to-complex half-size trick), so a real transform costs about half a
// complex one.
type FFT struct {
	n    int
	half *cplan       // size n/2, for Real
	full *cplan       // size n, for Complex and Inverse
	post []complex128 // exp(-2πik/n), k = 0..n/4, for the real split
}

type cplan struct {
	n      int
	rev    []int32
	odd    bool // log2(n) odd: one trivial radix-2 pass first
	stages []stage
}

type stage struct {
	m      int
	w1, w2 []complex128 // W_{4m}^k and W_{4m}^{2k} for k = 0..m-1
}

// NewFFT returns a plan for transforms of size n. It panics when n is not a
// power of two of at least 4: sizes are chosen by code, not by users.
func NewFFT(n int) *FFT {
	if n < 4 || n&(n-1) != 0 {
		panic(fmt.Sprintf("dsp.NewFFT: size %d is not a power of two >= 4", n))
	}
	p := &FFT{n: n, half: newCplan(n / 2), full: newCplan(n)}
	p.post = make([]complex128, n/4+1)
	for k := range p.post {
		s, c := math.Sincos(-2 * math.Pi * float64(k) / float64(n))
		p.post[k] = complex(c, s)
	}
	return p
}

// Len returns the transform size n.
func (p *FFT) Len() int { return p.n }

func newCplan(n int) *cplan {
	p := &cplan{n: n, rev: make([]int32, n)}
	lg := bits.TrailingZeros(uint(n))
	for i := range p.rev {
		if lg == 0 {
			break
		}
		p.rev[i] = int32(bits.Reverse32(uint32(i)) >> (32 - lg))
	}
	p.odd = lg%2 == 1
	m := 1
	if p.odd {
		m = 2
	}
	for ; 4*m <= n; m *= 4 {
		st := stage{m: m}
		if m > 1 {
			st.w1, st.w2 = make([]complex128, m), make([]complex128, m)
			for k := 0; k < m; k++ {
				s1, c1 := math.Sincos(-2 * math.Pi * float64(k) / float64(4*m))
				s2, c2 := math.Sincos(-2 * math.Pi * float64(2*k) / float64(4*m))
				st.w1[k] = complex(c1, s1)
				st.w2[k] = complex(c2, s2)
			}
		}
		p.stages = append(p.stages, st)
	}
	return p
}

// run transforms x in place; x must already be in bit-reversed order.
func (p *cplan) run(x []complex128) {
	n := p.n
	x = x[:n]
	if n == 1 {
		return
	}
	if p.odd {
		for i := 0; i+1 < n; i += 2 {
			a, b := x[i], x[i+1]
			x[i], x[i+1] = a+b, a-b
		}
	}
	for _, st := range p.stages {
		m := st.m
		if m == 1 {
			for i := 0; i+3 < n; i += 4 {
				a, b, c, d := x[i], x[i+1], x[i+2], x[i+3]
				t0, t1, t2, t3 := a+b, a-b, c+d, c-d
				t3j := complex(imag(t3), -real(t3)) // -j·t3
				x[i], x[i+2] = t0+t2, t0-t2
				x[i+1], x[i+3] = t1+t3j, t1-t3j
			}
			continue
		}
		for base := 0; base+4*m <= n; base += 4 * m {
			xa := x[base : base+m]
			// Equal lengths let the compiler drop the bounds checks.
			xb := x[base+m : base+2*m][:len(xa)]
			xc := x[base+2*m : base+3*m][:len(xa)]
			xd := x[base+3*m : base+4*m][:len(xa)]
			tw1, tw2 := st.w1[:len(xa)], st.w2[:len(xa)]
			for k := range xa {
				w1, w2 := tw1[k], tw2[k]
				a, b := xa[k], w2*xb[k]
				c, d := xc[k], w2*xd[k]
				t0, t1 := a+b, a-b
				t2, t3 := w1*(c+d), w1*(c-d)
				t3j := complex(imag(t3), -real(t3))
				xa[k], xc[k] = t0+t2, t0-t2
				xb[k], xd[k] = t1+t3j, t1-t3j
			}
		}
	}
}

// Real computes the transform X[k] = Σ src[t]·exp(-2πikt/n) of n real
// samples for k = 0..n/2 into dst, which must hold at least n/2+1 values,
// and returns dst[:n/2+1]. The other half is the conjugate mirror. It
// allocates nothing.
func (p *FFT) Real(dst []complex128, src []float64) []complex128 {
	n, h := p.n, p.n/2
	if len(src) < n || len(dst) < h+1 {
		panic(fmt.Sprintf("dsp.FFT.Real: size %d needs src >= %d and dst >= %d, got %d and %d", n, n, h+1, len(src), len(dst)))
	}
	dst = dst[:h+1]
	src = src[:n]
	rev := p.half.rev[:h]
	for k, r := range rev {
		dst[r] = complex(src[2*k], src[2*k+1])
	}
	p.half.run(dst[:h])
	z0 := dst[0]
	dst[0] = complex(real(z0)+imag(z0), 0)
	dst[h] = complex(real(z0)-imag(z0), 0)
	post := p.post
	for k := 1; k <= h/2; k++ {
		zk, zc := dst[k], dst[h-k]
		zc = complex(real(zc), -imag(zc))
		e := (zk + zc) * 0.5
		d := zk - zc
		o := complex(imag(d)*0.5, -real(d)*0.5) // (zk - zc) / 2j
		wo := post[k] * o
		dst[k] = e + wo
		r := e - wo
		dst[h-k] = complex(real(r), -imag(r))
	}
	return dst
}

// Complex computes the forward complex transform of src (n values) into
// dst (n values) and returns dst[:n]. dst and src may be the same slice
// only when the caller accepts that src is overwritten; distinct slices are
// read and written without allocation.
func (p *FFT) Complex(dst, src []complex128) []complex128 {
	n := p.n
	if len(src) < n || len(dst) < n {
		panic(fmt.Sprintf("dsp.FFT.Complex: size %d needs %d values, got src %d dst %d", n, n, len(src), len(dst)))
	}
	dst = dst[:n]
	if &dst[0] == &src[0] {
		bitReverseInPlace(dst, p.full.rev)
	} else {
		for i, r := range p.full.rev {
			dst[r] = src[i]
		}
	}
	p.full.run(dst)
	return dst
}

// Inverse computes the inverse complex transform, scaled by 1/n so that
// Inverse(Complex(x)) == x, with the same buffer rules as Complex.
func (p *FFT) Inverse(dst, src []complex128) []complex128 {
	n := p.n
	if len(src) < n || len(dst) < n {
		panic(fmt.Sprintf("dsp.FFT.Inverse: size %d needs %d values, got src %d dst %d", n, n, len(src), len(dst)))
	}
	dst = dst[:n]
	// ifft(x) = conj(fft(conj(x)))/n.
	if &dst[0] == &src[0] {
		for i, v := range dst {
			dst[i] = complex(real(v), -imag(v))
		}
		bitReverseInPlace(dst, p.full.rev)
	} else {
		for i, r := range p.full.rev {
			v := src[i]
			dst[r] = complex(real(v), -imag(v))
		}
	}
	p.full.run(dst)
	s := 1 / float64(n)
	for i, v := range dst {
		dst[i] = complex(real(v)*s, -imag(v)*s)
	}
	return dst
}

func bitReverseInPlace(x []complex128, rev []int32) {
	for i, r := range rev {
		if int(r) > i {
			x[i], x[r] = x[r], x[i]
		}
	}
}
