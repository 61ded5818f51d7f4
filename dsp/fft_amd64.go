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
