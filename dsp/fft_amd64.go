//go:build amd64 && !purego

package dsp

import "golang.org/x/sys/cpu"

// haveSIMD reports whether this CPU runs the AVX2/FMA kernels of
// fft_amd64.s. Plans read it once, in NewFFT.
var haveSIMD = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// radix4SIMD runs one radix-4 pass of sub-transform size st.m over x with
// the AVX2/FMA kernel, two butterflies per step.
func radix4SIMD(x []complex128, st *stage) {
	m := st.m
	// The kernel reads x in whole blocks of 4m values, pairs of k, and the
	// twiddle table up to one value past w3 (the spare value).
	if m < 2 || m%2 != 0 || len(x)%(4*m) != 0 || len(x) == 0 ||
		len(st.w1) != m || len(st.w2) != m || len(st.w3) != m || cap(st.w3) < m+1 {
		panic("dsp: radix4SIMD: plan and buffer do not match")
	}
	radix4AVX2(&x[0], len(x), m, &st.w1[0], &st.w2[0], &st.w3[0])
}

// radix4AVX2 is radix4Go in AVX2/FMA assembly for x[:n], n a multiple of
// 4m, m even; w1, w2, w3 hold m twiddles each and w3 one readable value
// more.
//
//go:noescape
func radix4AVX2(x *complex128, n, m int, w1, w2, w3 *complex128)

// The first pass pairs block b with block b+nb/2: their bit-reversed
// offsets are r and r+1, so each of its loads fetches two neighbouring
// values, one per block, into the two halves of a register.

// first4SIMD is first4 with the AVX2 kernel; len(rb) must be even.
func first4SIMD(dst, src []complex128, rb []int32) {
	nb := len(rb)
	if nb < 2 || nb%2 != 0 || len(src) < 4*nb || len(dst) < 4*nb {
		panic("dsp: first4SIMD: plan and buffers do not match")
	}
	first4AVX2(&dst[0], &src[0], &rb[0], nb)
}

// first8SIMD is first8 with the AVX2/FMA kernel; len(rb) must be even.
func first8SIMD(dst, src []complex128, rb []int32) {
	nb := len(rb)
	if nb < 2 || nb%2 != 0 || len(src) < 8*nb || len(dst) < 8*nb {
		panic("dsp: first8SIMD: plan and buffers do not match")
	}
	first8AVX2(&dst[0], &src[0], &rb[0], nb)
}

// realSplitSIMD is realSplitGo with the AVX2/FMA kernel, two bins of lo
// per step; len(lo) must be even and post hold one value more than lo.
func realSplitSIMD(lo, hi, post []complex128) {
	l := len(lo)
	if l < 2 || l%2 != 0 || len(hi) < l || len(post) < l+1 {
		panic("dsp: realSplitSIMD: plan and buffers do not match")
	}
	realSplitAVX2(&lo[0], &hi[l-2], &post[0], l/2)
}

// first4AVX2 is first4 for nb blocks in AVX2 assembly.
//
//go:noescape
func first4AVX2(dst, src *complex128, rb *int32, nb int)

// first8AVX2 is first8 for nb blocks in AVX2/FMA assembly.
//
//go:noescape
func first8AVX2(dst, src *complex128, rb *int32, nb int)

// realSplitAVX2 is realSplitGo in AVX2/FMA assembly: lo points at the
// first of 2·pairs bins, hi at the second-to-last of its bins (hi runs
// backwards), post at the first factor.
//
//go:noescape
func realSplitAVX2(lo, hi, post *complex128, pairs int)
