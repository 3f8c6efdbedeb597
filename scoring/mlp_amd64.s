#include "textflag.h"

// AVX2 + FMA micro-kernels of the mlp kind (see mlp.go: dense). Each computes
// a tile of 4 rows x one panel of units: for every row r and unit u of the
// panel, c[r][u] = sum over i < k of x[r][i] * w[i][u], one fused
// multiply-add per i, in i order. x rows are xs bytes apart, c rows cs bytes
// apart; w is the panel packed input-major (16 float32 or 8 float64 per i).

// GEMM4 is the kernel for one element type: its instructions movu (load or
// store a vector), bcast (broadcast an element), fma and zero (clear a
// vector), size its bytes, loop and store the kernel's labels.
#define GEMM4(movu, bcast, fma, zero, size, loop, store) \
	MOVQ   x+0(FP), SI \
	MOVQ   xs+8(FP), R8 \
	MOVQ   w+16(FP), DI \
	MOVQ   k+24(FP), CX \
	MOVQ   c+32(FP), DX \
	MOVQ   cs+40(FP), R9 \
	LEAQ   (SI)(R8*1), R10 \
	LEAQ   (R10)(R8*1), R11 \
	LEAQ   (R11)(R8*1), R12 \
	zero   Y0, Y0, Y0 \
	zero   Y1, Y1, Y1 \
	zero   Y2, Y2, Y2 \
	zero   Y3, Y3, Y3 \
	zero   Y4, Y4, Y4 \
	zero   Y5, Y5, Y5 \
	zero   Y6, Y6, Y6 \
	zero   Y7, Y7, Y7 \
	TESTQ  CX, CX \
	JLE    store \
loop: \
	movu   (DI), Y8 \
	movu   32(DI), Y9 \
	bcast  (SI), Y10 \
	fma    Y8, Y10, Y0 \
	fma    Y9, Y10, Y1 \
	bcast  (R10), Y11 \
	fma    Y8, Y11, Y2 \
	fma    Y9, Y11, Y3 \
	bcast  (R11), Y12 \
	fma    Y8, Y12, Y4 \
	fma    Y9, Y12, Y5 \
	bcast  (R12), Y13 \
	fma    Y8, Y13, Y6 \
	fma    Y9, Y13, Y7 \
	ADDQ   $64, DI \
	ADDQ   $size, SI \
	ADDQ   $size, R10 \
	ADDQ   $size, R11 \
	ADDQ   $size, R12 \
	DECQ   CX \
	JNZ    loop \
store: \
	movu   Y0, (DX) \
	movu   Y1, 32(DX) \
	ADDQ   R9, DX \
	movu   Y2, (DX) \
	movu   Y3, 32(DX) \
	ADDQ   R9, DX \
	movu   Y4, (DX) \
	movu   Y5, 32(DX) \
	ADDQ   R9, DX \
	movu   Y6, (DX) \
	movu   Y7, 32(DX) \
	VZEROUPPER \
	RET

// func sgemm4x16(x *float32, xs uintptr, w *float32, k int, c *float32, cs uintptr)
TEXT ·sgemm4x16(SB), NOSPLIT, $0-48
	GEMM4(VMOVUPS, VBROADCASTSS, VFMADD231PS, VXORPS, 4, sloop, sstore)

// func dgemm4x8(x *float64, xs uintptr, w *float64, k int, c *float64, cs uintptr)
TEXT ·dgemm4x8(SB), NOSPLIT, $0-48
	GEMM4(VMOVUPD, VBROADCASTSD, VFMADD231PD, VXORPD, 8, dloop, dstore)
