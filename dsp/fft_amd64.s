//go:build amd64 && !purego

#include "textflag.h"

// Complex values are (re, im) float64 pairs; a Y register holds two of
// them, lanes (re0, im0, re1, im1). A product c·w is
// c·dup(re w) ∓ swap(c)·dup(im w), one VMULPD and one VFMADDSUB.

// Lanes (+0, -0, +0, -0): XOR flips the sign of the imaginary parts.
DATA negim<>+0(SB)/8, $0x0000000000000000
DATA negim<>+8(SB)/8, $0x8000000000000000
DATA negim<>+16(SB)/8, $0x0000000000000000
DATA negim<>+24(SB)/8, $0x8000000000000000
GLOBL negim<>(SB), RODATA|NOPTR, $32

// func radix4AVX2(x *complex128, n, m int, w1, w2, w3 *complex128)
TEXT ·radix4AVX2(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ m+16(FP), DX
	MOVQ w1+24(FP), R8
	MOVQ w2+32(FP), R9
	MOVQ w3+40(FP), R10
	SHLQ $4, CX              // n in bytes
	SHLQ $4, DX              // m in bytes
	LEAQ (DI)(CX*1), R11     // end of x
	VMOVUPD negim<>(SB), Y15

block:
	LEAQ (DI)(DX*1), SI      // xb
	LEAQ (SI)(DX*1), BX      // xc
	LEAQ (BX)(DX*1), R12     // xd
	XORQ AX, AX              // byte offset of k

loop:
	// b' = b·w2
	VMOVUPD  (SI)(AX*1), Y1
	VMOVDDUP (R9)(AX*1), Y4
	VMOVDDUP 8(R9)(AX*1), Y5
	VPERMILPD $5, Y1, Y6
	VMULPD   Y5, Y6, Y6
	VFMADDSUB213PD Y6, Y4, Y1

	// c' = c·w1
	VMOVUPD  (BX)(AX*1), Y2
	VMOVDDUP (R8)(AX*1), Y4
	VMOVDDUP 8(R8)(AX*1), Y5
	VPERMILPD $5, Y2, Y7
	VMULPD   Y5, Y7, Y7
	VFMADDSUB213PD Y7, Y4, Y2

	// d' = d·w3
	VMOVUPD  (R12)(AX*1), Y3
	VMOVDDUP (R10)(AX*1), Y4
	VMOVDDUP 8(R10)(AX*1), Y5
	VPERMILPD $5, Y3, Y8
	VMULPD   Y5, Y8, Y8
	VFMADDSUB213PD Y8, Y4, Y3

	VMOVUPD (DI)(AX*1), Y0
	VADDPD Y1, Y0, Y9        // t0 = a + b'
	VSUBPD Y1, Y0, Y10       // t1 = a - b'
	VADDPD Y3, Y2, Y11       // t2 = c' + d'
	VSUBPD Y3, Y2, Y12       // t3 = c' - d'

	VADDPD Y11, Y9, Y0       // t0 + t2
	VSUBPD Y11, Y9, Y2       // t0 - t2
	VMOVUPD Y0, (DI)(AX*1)
	VMOVUPD Y2, (BX)(AX*1)

	VPERMILPD $5, Y12, Y12   // (t3i, t3r)
	VADDSUBPD Y12, Y10, Y3   // t1 + j·t3 = (t1r - t3i, t1i + t3r)
	VXORPD Y15, Y12, Y12     // (t3i, -t3r)
	VADDPD Y12, Y10, Y1      // t1 - j·t3 = (t1r + t3i, t1i - t3r)
	VMOVUPD Y1, (SI)(AX*1)
	VMOVUPD Y3, (R12)(AX*1)

	ADDQ $32, AX
	CMPQ AX, DX
	JB   loop

	LEAQ (R12)(DX*1), DI     // next block
	CMPQ DI, R11
	JB   block

	VZEROUPPER
	RET

// √2/2 in every lane; (√2/2, -√2/2, ...); -√2/2 in every lane; 1/2.
DATA sqrthalf<>+0(SB)/8, $0.7071067811865476
DATA sqrthalf<>+8(SB)/8, $0.7071067811865476
DATA sqrthalf<>+16(SB)/8, $0.7071067811865476
DATA sqrthalf<>+24(SB)/8, $0.7071067811865476
GLOBL sqrthalf<>(SB), RODATA|NOPTR, $32
DATA sqrthalfalt<>+0(SB)/8, $0.7071067811865476
DATA sqrthalfalt<>+8(SB)/8, $-0.7071067811865476
DATA sqrthalfalt<>+16(SB)/8, $0.7071067811865476
DATA sqrthalfalt<>+24(SB)/8, $-0.7071067811865476
GLOBL sqrthalfalt<>(SB), RODATA|NOPTR, $32
DATA negsqrthalf<>+0(SB)/8, $-0.7071067811865476
DATA negsqrthalf<>+8(SB)/8, $-0.7071067811865476
DATA negsqrthalf<>+16(SB)/8, $-0.7071067811865476
DATA negsqrthalf<>+24(SB)/8, $-0.7071067811865476
GLOBL negsqrthalf<>(SB), RODATA|NOPTR, $32
DATA half<>+0(SB)/8, $0.5
DATA half<>+8(SB)/8, $0.5
DATA half<>+16(SB)/8, $0.5
DATA half<>+24(SB)/8, $0.5
GLOBL half<>(SB), RODATA|NOPTR, $32

// func first8AVX2(dst, src *complex128, rb *int32, nb int)
//
// Step i does blocks i (lane 0) and i+nb/2 (lane 1), whose inputs sit at
// src[j·nb + r] and src[j·nb + r + 1], r = rb[i], j = 0..7.
TEXT ·first8AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rb+16(FP), R8
	MOVQ nb+24(FP), DX
	MOVQ DX, CX
	SHRQ $1, CX              // steps
	MOVQ DX, R10
	SHLQ $6, R10             // bytes from block i's output to block i+nb/2's
	SHLQ $4, DX              // stride of the subsequences in bytes
	LEAQ (DX)(DX*2), R9      // 3 strides
	VMOVUPD negim<>(SB), Y15
	VMOVUPD sqrthalfalt<>(SB), Y14
	VMOVUPD sqrthalf<>(SB), Y13
	VMOVUPD negsqrthalf<>(SB), Y12

first8loop:
	MOVLQSX (R8), AX
	SHLQ $4, AX
	ADDQ SI, AX              // &src[r]
	LEAQ (AX)(DX*4), BX      // &src[4·nb + r]

	// Even half: 4-point DFT of a0, a2, a4, a6.
	VMOVUPD (AX), Y0
	VMOVUPD (BX), Y4
	VMOVUPD (AX)(DX*2), Y2
	VMOVUPD (BX)(DX*2), Y6
	VADDPD Y4, Y0, Y8        // s0
	VSUBPD Y4, Y0, Y9        // s1
	VADDPD Y6, Y2, Y10       // s2
	VSUBPD Y6, Y2, Y11       // s3
	VADDPD Y10, Y8, Y0       // e0
	VSUBPD Y10, Y8, Y2       // e2
	VPERMILPD $5, Y11, Y11
	VADDSUBPD Y11, Y9, Y6    // e3 = s1 + j·s3
	VXORPD Y15, Y11, Y11
	VADDPD Y11, Y9, Y4       // e1 = s1 - j·s3

	// Odd half: 4-point DFT of a1, a3, a5, a7.
	VMOVUPD (AX)(DX*1), Y1
	VMOVUPD (BX)(DX*1), Y5
	VMOVUPD (AX)(R9*1), Y3
	VMOVUPD (BX)(R9*1), Y7
	VADDPD Y5, Y1, Y8        // u0
	VSUBPD Y5, Y1, Y9        // u1
	VADDPD Y7, Y3, Y10       // u2
	VSUBPD Y7, Y3, Y11       // u3
	VADDPD Y10, Y8, Y1       // o0
	VSUBPD Y10, Y8, Y3       // o2
	VPERMILPD $5, Y11, Y11
	VADDSUBPD Y11, Y9, Y7    // o3
	VXORPD Y15, Y11, Y11
	VADDPD Y11, Y9, Y5       // o1

	// o1·W8, o2·W8², o3·W8³.
	VPERMILPD $5, Y5, Y8
	VMULPD Y13, Y5, Y5
	VFMADD231PD Y14, Y8, Y5  // h·(o1r + o1i, o1i - o1r)
	VPERMILPD $5, Y3, Y3
	VXORPD Y15, Y3, Y3       // -j·o2
	VPERMILPD $5, Y7, Y8
	VMULPD Y12, Y7, Y7
	VFMADD231PD Y14, Y8, Y7  // h·(o3i - o3r, -o3r - o3i)

	VADDPD Y1, Y0, Y8
	VSUBPD Y1, Y0, Y9
	VMOVUPD X8, (DI)
	VEXTRACTF128 $1, Y8, (DI)(R10*1)
	VMOVUPD X9, 64(DI)
	VEXTRACTF128 $1, Y9, 64(DI)(R10*1)
	VADDPD Y5, Y4, Y8
	VSUBPD Y5, Y4, Y9
	VMOVUPD X8, 16(DI)
	VEXTRACTF128 $1, Y8, 16(DI)(R10*1)
	VMOVUPD X9, 80(DI)
	VEXTRACTF128 $1, Y9, 80(DI)(R10*1)
	VADDPD Y3, Y2, Y8
	VSUBPD Y3, Y2, Y9
	VMOVUPD X8, 32(DI)
	VEXTRACTF128 $1, Y8, 32(DI)(R10*1)
	VMOVUPD X9, 96(DI)
	VEXTRACTF128 $1, Y9, 96(DI)(R10*1)
	VADDPD Y7, Y6, Y8
	VSUBPD Y7, Y6, Y9
	VMOVUPD X8, 48(DI)
	VEXTRACTF128 $1, Y8, 48(DI)(R10*1)
	VMOVUPD X9, 112(DI)
	VEXTRACTF128 $1, Y9, 112(DI)(R10*1)

	ADDQ $128, DI
	ADDQ $4, R8
	DECQ CX
	JNZ  first8loop

	VZEROUPPER
	RET

// func first4AVX2(dst, src *complex128, rb *int32, nb int)
//
// first8AVX2's pairing of blocks, for 4-point DFTs.
TEXT ·first4AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rb+16(FP), R8
	MOVQ nb+24(FP), DX
	MOVQ DX, CX
	SHRQ $1, CX
	MOVQ DX, R10
	SHLQ $5, R10
	SHLQ $4, DX
	LEAQ (DX)(DX*2), R9
	VMOVUPD negim<>(SB), Y15

first4loop:
	MOVLQSX (R8), AX
	SHLQ $4, AX
	ADDQ SI, AX
	VMOVUPD (AX), Y0         // a
	VMOVUPD (AX)(DX*1), Y1   // b
	VMOVUPD (AX)(DX*2), Y2   // c
	VMOVUPD (AX)(R9*1), Y3   // d
	VADDPD Y2, Y0, Y4        // t0
	VSUBPD Y2, Y0, Y5        // t1
	VADDPD Y3, Y1, Y6        // t2
	VSUBPD Y3, Y1, Y7        // t3
	VADDPD Y6, Y4, Y0
	VSUBPD Y6, Y4, Y2
	VPERMILPD $5, Y7, Y7
	VADDSUBPD Y7, Y5, Y3     // t1 + j·t3
	VXORPD Y15, Y7, Y7
	VADDPD Y7, Y5, Y1        // t1 - j·t3
	VMOVUPD X0, (DI)
	VEXTRACTF128 $1, Y0, (DI)(R10*1)
	VMOVUPD X1, 16(DI)
	VEXTRACTF128 $1, Y1, 16(DI)(R10*1)
	VMOVUPD X2, 32(DI)
	VEXTRACTF128 $1, Y2, 32(DI)(R10*1)
	VMOVUPD X3, 48(DI)
	VEXTRACTF128 $1, Y3, 48(DI)(R10*1)

	ADDQ $64, DI
	ADDQ $4, R8
	DECQ CX
	JNZ  first4loop

	VZEROUPPER
	RET

// func realSplitAVX2(lo, hi, post *complex128, pairs int)
TEXT ·realSplitAVX2(SB), NOSPLIT, $0-32
	MOVQ lo+0(FP), DI
	MOVQ hi+8(FP), SI
	MOVQ post+16(FP), R8
	MOVQ pairs+24(FP), CX
	VMOVUPD negim<>(SB), Y15
	VMOVUPD half<>(SB), Y14

splitloop:
	VMOVUPD (DI), Y0         // z[k], z[k+1]
	VPERMPD $0x4E, (SI), Y1  // z[h-k], z[h-k-1]
	VXORPD Y15, Y1, Y1       // conjugated
	VADDPD Y1, Y0, Y2        // A
	VSUBPD Y1, Y0, Y3        // B
	VMULPD Y14, Y2, Y2       // A/2
	VMOVDDUP (R8), Y4
	VMOVDDUP 8(R8), Y5
	VPERMILPD $5, Y3, Y6
	VMULPD Y5, Y6, Y6
	VFMADDSUB213PD Y6, Y4, Y3 // v·B
	VADDPD Y3, Y2, Y0
	VSUBPD Y3, Y2, Y1
	VXORPD Y15, Y1, Y1
	VPERMPD $0x4E, Y1, Y1
	VMOVUPD Y0, (DI)
	VMOVUPD Y1, (SI)

	ADDQ $32, DI
	SUBQ $32, SI
	ADDQ $32, R8
	DECQ CX
	JNZ  splitloop

	VZEROUPPER
	RET
