//go:build !amd64 || purego

package dsp

// haveSIMD is false where there is no assembly kernel: other
// architectures, and builds with the purego tag.
const haveSIMD = false

// radix4SIMD is radix4Go where there is no assembly kernel.
func radix4SIMD(x []complex128, st *stage) { radix4Go(x, st) }

// first4SIMD is first4 where there is no assembly kernel.
func first4SIMD(dst, src []complex128, rb []int32) { first4(dst, src, rb) }

// first8SIMD is first8 where there is no assembly kernel.
func first8SIMD(dst, src []complex128, rb []int32) { first8(dst, src, rb) }

// realSplitSIMD is realSplitGo where there is no assembly kernel.
func realSplitSIMD(lo, hi, post []complex128) { realSplitGo(lo, hi, post) }
