//go:build !amd64 || purego

package dsp

// haveSIMD is false where there is no assembly kernel: other
// architectures, and builds with the purego tag.
const haveSIMD = false

// radix4SIMD is radix4Go where there is no assembly kernel.
func radix4SIMD(x []complex128, st *stage) { radix4Go(x, st) }
