package dsp

import (
	"fmt"
	"math"
	"math/bits"
	"unsafe"
)

// FFT is a precomputed plan for transforms of one power-of-two size: the
// twiddle factors and index tables are built once by NewFFT and only read
// afterwards, so one plan may be shared by any number of goroutines as long
// as each passes its own destination buffer.
//
// The complex transform is an iterative decimation in time: a first pass
// of hard-coded 8-point (log2 n odd) or 4-point (even) DFTs that reads its
// input straight from the bit-reversed positions (no separate permutation
// pass), then radix-4 passes with three twiddle multiplications per
// butterfly, the twiddles of a pass stored next to each other. The real
// transform views the n real samples as n/2 complex ones, runs the
// half-size complex transform and separates the even and odd parts (the
// classic real-to-complex half-size trick), so a real transform costs about
// half a complex one.
//
// On amd64 CPUs with AVX2 and FMA the first pass, the radix-4 passes and
// the real split run as assembly kernels (fft_amd64.s) that do two
// butterflies per instruction; elsewhere, and with the purego build tag,
// the same algorithm runs in Go. The two agree to rounding (FMA rounds
// once where Go rounds twice).
type FFT struct {
	n    int
	half *cplan // size n/2, for Real
	full *cplan // size n, for Complex and Inverse
	// post[k] = -j·exp(-2πik/n)/2, k = 0..n/4, for the real split, and
	// one spare value for the SIMD kernel's unaligned loads.
	post []complex128
}

type cplan struct {
	n     int
	radix int     // 2 (n == 2), 4 or 8: size of the first-pass DFTs
	rb    []int32 // bit-reversed block offsets of the first pass, n/radix values
	rev   []int32 // full bit-reversal permutation, for in-place transforms
	simd  bool    // run the radix-4 passes with the AVX2/FMA kernel
	// stages of radix-4 passes: sub-transform size m and, per k < m,
	// the twiddles W_{4m}^k, W_{4m}^{2k}, W_{4m}^{3k}.
	stages []stage
}

type stage struct {
	m int
	// w1, w2, w3 are views of one table (w1 | w2 | w3 | one spare value),
	// so a pass reads its twiddles from one contiguous block; the spare
	// value lets the SIMD kernel load the imaginary parts of the last
	// pair with one unaligned read.
	w1, w2, w3 []complex128
}

// NewFFT returns a plan for transforms of size n. It panics when n is not a
// power of two of at least 4: sizes are chosen by code, not by users.
func NewFFT(n int) *FFT {
	if n < 4 || n&(n-1) != 0 {
		panic(fmt.Sprintf("dsp.NewFFT: size %d is not a power of two >= 4", n))
	}
	p := &FFT{n: n, half: newCplan(n / 2), full: newCplan(n)}
	p.post = make([]complex128, n/4+2)
	for k := range p.post[:n/4+1] {
		s, c := math.Sincos(-2 * math.Pi * float64(k) / float64(n))
		p.post[k] = complex(0.5*s, -0.5*c)
	}
	return p
}

// Len returns the transform size n.
func (p *FFT) Len() int { return p.n }

func bitrev(i, lg int) int32 {
	if lg == 0 {
		return 0
	}
	return int32(bits.Reverse32(uint32(i)) >> (32 - lg))
}

func newCplan(n int) *cplan {
	lg := bits.TrailingZeros(uint(n))
	p := &cplan{n: n, rev: make([]int32, n), simd: haveSIMD}
	for i := range p.rev {
		p.rev[i] = bitrev(i, lg)
	}
	switch {
	case n == 2:
		p.radix = 2
	case lg%2 == 1:
		p.radix = 8
	default:
		p.radix = 4
	}
	nb := n / p.radix
	p.rb = make([]int32, nb)
	for b := range p.rb {
		p.rb[b] = bitrev(b, bits.TrailingZeros(uint(nb)))
	}
	for m := p.radix; 4*m <= n; m *= 4 {
		tw := make([]complex128, 3*m+1)
		st := stage{m: m, w1: tw[:m:m], w2: tw[m : 2*m : 2*m], w3: tw[2*m : 3*m : 3*m+1]}
		for k := 0; k < m; k++ {
			for j, w := range [][]complex128{st.w1, st.w2, st.w3} {
				// Reduce the angle in integers for accuracy.
				s, c := math.Sincos(-2 * math.Pi * float64(((j+1)*k)%(4*m)) / float64(4*m))
				w[k] = complex(c, s)
			}
		}
		p.stages = append(p.stages, st)
	}
	return p
}

// transform computes the DFT of src into dst (n values each, distinct
// slices).
func (p *cplan) transform(dst, src []complex128) {
	n := p.n
	dst, src = dst[:n], src[:n]
	switch p.radix {
	case 2:
		a, b := src[0], src[1]
		dst[0], dst[1] = a+b, a-b
		return
	case 4:
		if p.simd && len(p.rb) >= 2 {
			first4SIMD(dst, src, p.rb)
		} else {
			first4(dst, src, p.rb)
		}
	case 8:
		if p.simd && len(p.rb) >= 2 {
			first8SIMD(dst, src, p.rb)
		} else {
			first8(dst, src, p.rb)
		}
	}
	p.passes(dst)
}

// first4 writes the 4-point DFTs of the stride-n/4 subsequences of src,
// in bit-reversed block order, into dst.
func first4(dst, src []complex128, rb []int32) {
	q := len(rb)
	x0 := src[:q]
	x1, x2, x3 := src[q : 2*q][:len(x0)], src[2*q : 3*q][:len(x0)], src[3*q : 4*q][:len(x0)]
	for b, rv := range rb {
		r := int(rv) & (len(x0) - 1) // always rv; lets the compiler drop bounds checks
		out := dst[4*b : 4*b+4 : 4*b+4]
		a, bb, c, d := x0[r], x1[r], x2[r], x3[r]
		t0, t1, t2, t3 := a+c, a-c, bb+d, bb-d
		out[0] = t0 + t2
		out[2] = t0 - t2
		out[1] = complex(real(t1)+imag(t3), imag(t1)-real(t3)) // t1 - j·t3
		out[3] = complex(real(t1)-imag(t3), imag(t1)+real(t3)) // t1 + j·t3
	}
}

// first8 writes the 8-point DFTs of the stride-n/8 subsequences of src,
// in bit-reversed block order, into dst.
func first8(dst, src []complex128, rb []int32) {
	const h = math.Sqrt2 / 2
	q := len(rb)
	x0 := src[:q]
	x1, x2, x3 := src[q : 2*q][:len(x0)], src[2*q : 3*q][:len(x0)], src[3*q : 4*q][:len(x0)]
	x4, x5, x6, x7 := src[4*q : 5*q][:len(x0)], src[5*q : 6*q][:len(x0)], src[6*q : 7*q][:len(x0)], src[7*q : 8*q][:len(x0)]
	for b, rv := range rb {
		r := int(rv) & (len(x0) - 1) // always rv; lets the compiler drop bounds checks
		out := dst[8*b : 8*b+8 : 8*b+8]
		// Even half: 4-point DFT of x0, x2, x4, x6.
		a0, a2, a4, a6 := x0[r], x2[r], x4[r], x6[r]
		s0, s1, s2, s3 := a0+a4, a0-a4, a2+a6, a2-a6
		e0 := s0 + s2
		e2 := s0 - s2
		e1 := complex(real(s1)+imag(s3), imag(s1)-real(s3))
		e3 := complex(real(s1)-imag(s3), imag(s1)+real(s3))
		// Odd half: 4-point DFT of x1, x3, x5, x7.
		b1, b3, b5, b7 := x1[r], x3[r], x5[r], x7[r]
		u0, u1, u2, u3 := b1+b5, b1-b5, b3+b7, b3-b7
		o0 := u0 + u2
		o2 := u0 - u2
		o1 := complex(real(u1)+imag(u3), imag(u1)-real(u3))
		o3 := complex(real(u1)-imag(u3), imag(u1)+real(u3))
		// Twiddles W8^1 = (1-j)/√2, W8^2 = -j, W8^3 = -(1+j)/√2.
		w1 := complex(h*(real(o1)+imag(o1)), h*(imag(o1)-real(o1)))
		w2 := complex(imag(o2), -real(o2))
		w3 := complex(h*(imag(o3)-real(o3)), -h*(real(o3)+imag(o3)))
		out[0], out[4] = e0+o0, e0-o0
		out[1], out[5] = e1+w1, e1-w1
		out[2], out[6] = e2+w2, e2-w2
		out[3], out[7] = e3+w3, e3-w3
	}
}

// passes runs the radix-4 passes over x, which holds the first pass's
// DFTs: with the AVX2/FMA kernel when the plan uses it, else in Go.
func (p *cplan) passes(x []complex128) {
	x = x[:p.n]
	for i := range p.stages {
		if p.simd {
			radix4SIMD(x, &p.stages[i])
		} else {
			radix4Go(x, &p.stages[i])
		}
	}
}

// radix4Go runs one radix-4 pass of sub-transform size st.m over x.
func radix4Go(x []complex128, st *stage) {
	n, m := len(x), st.m
	for base := 0; base+4*m <= n; base += 4 * m {
		xa := x[base : base+m]
		// Equal lengths let the compiler drop the bounds checks.
		xb := x[base+m : base+2*m][:len(xa)]
		xc := x[base+2*m : base+3*m][:len(xa)]
		xd := x[base+3*m : base+4*m][:len(xa)]
		tw1, tw2, tw3 := st.w1[:len(xa)], st.w2[:len(xa)], st.w3[:len(xa)]
		for k := range xa {
			a := xa[k]
			b, c, d := xb[k], xc[k], xd[k]
			w1, w2, w3 := tw1[k], tw2[k], tw3[k]
			// b·W^{2k}, c·W^k, d·W^{3k} by hand: real arithmetic the
			// compiler schedules freely.
			br := real(b)*real(w2) - imag(b)*imag(w2)
			bi := real(b)*imag(w2) + imag(b)*real(w2)
			cr := real(c)*real(w1) - imag(c)*imag(w1)
			ci := real(c)*imag(w1) + imag(c)*real(w1)
			dr := real(d)*real(w3) - imag(d)*imag(w3)
			di := real(d)*imag(w3) + imag(d)*real(w3)
			t0r, t0i := real(a)+br, imag(a)+bi
			t1r, t1i := real(a)-br, imag(a)-bi
			t2r, t2i := cr+dr, ci+di
			t3r, t3i := cr-dr, ci-di
			xa[k] = complex(t0r+t2r, t0i+t2i)
			xc[k] = complex(t0r-t2r, t0i-t2i)
			// t1 ∓ j·t3
			xb[k] = complex(t1r+t3i, t1i-t3r)
			xd[k] = complex(t1r-t3i, t1i+t3r)
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
	// n reals are n/2 complex values in memory (a complex128 is its real
	// and imaginary float64 in that order, with float64 alignment).
	z := unsafe.Slice((*complex128)(unsafe.Pointer(&src[0])), h)
	p.half.transform(dst[:h], z)
	z0 := dst[0]
	dst[0] = complex(real(z0)+imag(z0), 0)
	dst[h] = complex(real(z0)-imag(z0), 0)
	// Pair bin k (in lo) with bin h-k (in hi, read backwards); equal
	// lengths let the compiler drop the bounds checks.
	lo := dst[1 : h/2+1]
	hi := dst[h/2 : h][:len(lo)]
	post := p.post[1 : h/2+2]
	if p.half.simd && len(lo)%2 == 0 {
		realSplitSIMD(lo, hi, post)
		return dst
	}
	realSplitGo(lo, hi, post[:len(lo)])
	return dst
}

// realSplitGo turns the half-size transform z into the real transform's
// bins 1..h/2: lo holds z[1..h/2], hi z[h/2..h-1] (the same length), post
// the factors v_k = -j·exp(-2πik/n)/2 for k = 1..h/2. With zc = z[h-k],
// A = z[k] + conj(zc) and B = z[k] - conj(zc), the even part is A/2 and
// the odd part times exp(-2πik/n) is v_k·B, so X[k] = A/2 + v_k·B and
// X[h-k] = conj(A/2 - v_k·B).
func realSplitGo(lo, hi, post []complex128) {
	post = post[:len(lo)]
	hi = hi[:len(lo)]
	for i := range lo {
		j := len(hi) - 1 - i
		zk, zc := lo[i], hi[j]
		er, ei := 0.5*(real(zk)+real(zc)), 0.5*(imag(zk)-imag(zc))
		br, bi := real(zk)-real(zc), imag(zk)+imag(zc)
		v := post[i]
		wr := real(v)*br - imag(v)*bi
		wi := real(v)*bi + imag(v)*br
		// At k = h/2 both refer to one bin; the second store (the
		// conjugate) is the right value there.
		lo[i] = complex(er+wr, ei+wi)
		hi[j] = complex(er-wr, wi-ei)
	}
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
		p.full.inPlace(dst)
		return dst
	}
	p.full.transform(dst, src)
	return dst
}

// inPlace transforms x in place: a bit-reversal permutation, then the
// first pass on consecutive blocks, then the radix-4 passes.
func (p *cplan) inPlace(x []complex128) {
	x = x[:p.n]
	for i, r := range p.rev {
		if int(r) > i {
			x[i], x[r] = x[r], x[i]
		}
	}
	// After the permutation, block b's natural-order inputs sit at
	// radix·b + bitrev(t); the first pass expects stride-q subsequences,
	// which the identity block table and a transposed view give.
	switch p.radix {
	case 2:
		a, b := x[0], x[1]
		x[0], x[1] = a+b, a-b
		return
	case 4:
		for b := 0; b < p.n; b += 4 {
			a, bb, c, d := x[b], x[b+2], x[b+1], x[b+3] // natural order 0,1,2,3
			t0, t1, t2, t3 := a+c, a-c, bb+d, bb-d
			x[b] = t0 + t2
			x[b+2] = t0 - t2
			x[b+1] = complex(real(t1)+imag(t3), imag(t1)-real(t3))
			x[b+3] = complex(real(t1)-imag(t3), imag(t1)+real(t3))
		}
	case 8:
		var blk [8]complex128
		for b := 0; b < p.n; b += 8 {
			// Natural order t sits at bitrev3(t).
			in := [8]complex128{x[b], x[b+4], x[b+2], x[b+6], x[b+1], x[b+5], x[b+3], x[b+7]}
			first8(blk[:], in[:], identity1[:])
			copy(x[b:b+8], blk[:])
		}
	}
	p.passes(x)
}

var identity1 = [1]int32{0}

// Inverse computes the inverse complex transform, scaled by 1/n so that
// Inverse(Complex(x)) == x, with the same buffer rules as Complex.
func (p *FFT) Inverse(dst, src []complex128) []complex128 {
	n := p.n
	if len(src) < n || len(dst) < n {
		panic(fmt.Sprintf("dsp.FFT.Inverse: size %d needs %d values, got src %d dst %d", n, n, len(src), len(dst)))
	}
	dst = dst[:n]
	// ifft(x) = conj(fft(conj(x)))/n.
	for i, v := range src[:n] {
		dst[i] = complex(real(v), -imag(v))
	}
	p.full.inPlace(dst)
	s := 1 / float64(n)
	for i, v := range dst {
		dst[i] = complex(real(v)*s, -imag(v)*s)
	}
	return dst
}
