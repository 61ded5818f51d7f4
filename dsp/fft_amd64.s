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
