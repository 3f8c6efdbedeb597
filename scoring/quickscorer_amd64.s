#include "textflag.h"

// The QuickScorer kernels (see quickscorer.go), AVX-512 (F, CD, VL).
//
// func qsScore64(nodes *qsNode, trees *qsTree, nTrees int, leaves *float32, x *float32, margin *float32)
// func qsScore32(nodes *qsNode, trees *qsTree, nTrees int, leaves *float32, x *float32, margin *float32)
//
// x is a block of rows feature-major, qsRows (64) values a feature (a
// node's off is its feature's byte offset, f × 256); the kernels score its
// first 64 or 32 rows, 16 rows a vector. For each tree in order: Z0-Z3
// hold the low 32 bits of the leaf sets of rows 0-15, 16-31, 32-47, 48-63
// (all ones at the start), Z4-Z7 the high 32 bits; every node compares its
// condition with each vector's 16 values (K1-K4: the lanes that go right)
// and clears its left subtree from those lanes' sets, in the halves its
// run says it touches. The lowest set bit is the exit leaf: its index from
// the tree's first leaf is min(31 - lzcnt(lo & -lo), 63 - lzcnt(hi & -hi))
// in unsigned 32 bits (the first is 2^32-1 when lo is 0); its value is
// gathered and added to the rows' margins at margin + mOff (64 float32, in
// row order).
//
// Registers: AX nodes, BX node byte cursor, CX end of a node run, DX x, R8
// a node's feature offset, R11 tree cursor, R12 end of trees, R13 leaves,
// SI margin; Z8 a node's condition, Z9 and Z10 its leaf set's low and high
// halves, Z12 the tree's first leaf, Z28 31, Z29 63, Z30 0, Z31 ones.

// Compare predicates: a node's lanes that go right. Missing goes left:
// cond <= x (LE_OQ, false for NaN); missing goes right: !(cond > x)
// (NGT_UQ, true for NaN).
#define LEFTNAN $0x12
#define RIGHTNAN $0x1a

// LOAD loads the node at BX: feature offset, condition, the halves of its
// leaf set its run touches.
#define LOAD \
	MOVL         (AX)(BX*1), R8 \
	VBROADCASTSS 4(AX)(BX*1), Z8
#define LOADLO \
	LOAD \
	VPBROADCASTD 8(AX)(BX*1), Z9
#define LOADHI \
	LOAD \
	VPBROADCASTD 12(AX)(BX*1), Z10
#define LOADBOTH \
	LOADLO \
	VPBROADCASTD 12(AX)(BX*1), Z10

// CMP* test rows d/4 to d/4+15 (byte displacement d in a column) against
// the node with predicate pred and clear the lanes that go right from the
// leaf set halves lo and hi.
#define CMPLO(pred, d, k, lo) \
	VCMPPS pred, d(DX)(R8*1), Z8, k \
	VPANDD Z9, lo, k, lo
#define CMPHI(pred, d, k, hi) \
	VCMPPS pred, d(DX)(R8*1), Z8, k \
	VPANDD Z10, hi, k, hi
#define CMPBOTH(pred, d, k, lo, hi) \
	VCMPPS pred, d(DX)(R8*1), Z8, k \
	VPANDD Z9, lo, k, lo \
	VPANDD Z10, hi, k, hi

#define LO32(pred) \
	CMPLO(pred, 0, K1, Z0) \
	CMPLO(pred, 64, K2, Z1)
#define LO64(pred) \
	LO32(pred) \
	CMPLO(pred, 128, K3, Z2) \
	CMPLO(pred, 192, K4, Z3)
#define HI32(pred) \
	CMPHI(pred, 0, K1, Z4) \
	CMPHI(pred, 64, K2, Z5)
#define HI64(pred) \
	HI32(pred) \
	CMPHI(pred, 128, K3, Z6) \
	CMPHI(pred, 192, K4, Z7)
#define BOTH32(pred) \
	CMPBOTH(pred, 0, K1, Z0, Z4) \
	CMPBOTH(pred, 64, K2, Z1, Z5)
#define BOTH64(pred) \
	BOTH32(pred) \
	CMPBOTH(pred, 128, K3, Z2, Z6) \
	CMPBOTH(pred, 192, K4, Z3, Z7)

// RUNEND sets CX to the end of the tree's run at byte offset off of its
// qsTree and compares BX with it.
#define RUNEND(off) \
	MOVL off(R11), CX \
	SHLQ $4, CX \
	CMPQ BX, CX

// NEXT moves BX to the next node and compares it with the run's end.
#define NEXT \
	ADDQ $16, BX \
	CMPQ BX, CX

// LEAVES adds the exit leaves of 16 rows (leaf sets lo and hi) to their
// margins at off(SI)(CX*1).
#define LEAVES(lo, hi, off) \
	VPSUBD     lo, Z30, Z13 \
	VPANDD     lo, Z13, Z13 \
	VPLZCNTD   Z13, Z13 \
	VPSUBD     Z13, Z28, Z13 \
	VPSUBD     hi, Z30, Z14 \
	VPANDD     hi, Z14, Z14 \
	VPLZCNTD   Z14, Z14 \
	VPSUBD     Z14, Z29, Z14 \
	VPMINUD    Z14, Z13, Z13 \
	VPADDD     Z12, Z13, Z13 \
	KXNORW     K5, K5, K5 \
	VPXORD     Z15, Z15, Z15 \
	VGATHERDPS (R13)(Z13*4), K5, Z15 \
	VADDPS     off(SI)(CX*1), Z15, Z15 \
	VMOVUPS    Z15, off(SI)(CX*1)

#define PROLOGUE \
	MOVQ nodes+0(FP), AX \
	MOVQ trees+8(FP), R11 \
	MOVQ nTrees+16(FP), R12 \
	MOVQ leaves+24(FP), R13 \
	MOVQ x+32(FP), DX \
	MOVQ margin+40(FP), SI \
	SHLQ $5, R12 \
	ADDQ R11, R12 \
	XORQ BX, BX \
	VPTERNLOGD $0xff, Z31, Z31, Z31 \
	VPXORD     Z30, Z30, Z30 \
	MOVL       $31, CX \
	VPBROADCASTD CX, Z28 \
	MOVL       $63, CX \
	VPBROADCASTD CX, Z29

// SETS sets the leaf sets to all ones.
#define SETS \
	VMOVDQA32 Z31, Z0 \
	VMOVDQA32 Z31, Z1 \
	VMOVDQA32 Z31, Z2 \
	VMOVDQA32 Z31, Z3 \
	VMOVDQA32 Z31, Z4 \
	VMOVDQA32 Z31, Z5 \
	VMOVDQA32 Z31, Z6 \
	VMOVDQA32 Z31, Z7

// LEAFSTART: Z12 = the tree's first leaf, CX its margins' offset.
#define LEAFSTART \
	VPBROADCASTD 24(R11), Z12 \
	MOVL         28(R11), CX

TEXT ·qsScore64(SB), NOSPLIT, $0-48
	PROLOGUE
	CMPQ R11, R12
	JAE  done64

tree64:
	SETS
	RUNEND(0)
	JAE leftlo64end

leftlo64:
	LOADLO
	LO64(LEFTNAN)
	NEXT
	JB leftlo64

leftlo64end:
	RUNEND(4)
	JAE lefthi64end

lefthi64:
	LOADHI
	HI64(LEFTNAN)
	NEXT
	JB lefthi64

lefthi64end:
	RUNEND(8)
	JAE leftboth64end

leftboth64:
	LOADBOTH
	BOTH64(LEFTNAN)
	NEXT
	JB leftboth64

leftboth64end:
	RUNEND(12)
	JAE rightlo64end

rightlo64:
	LOADLO
	LO64(RIGHTNAN)
	NEXT
	JB rightlo64

rightlo64end:
	RUNEND(16)
	JAE righthi64end

righthi64:
	LOADHI
	HI64(RIGHTNAN)
	NEXT
	JB righthi64

righthi64end:
	RUNEND(20)
	JAE rightboth64end

rightboth64:
	LOADBOTH
	BOTH64(RIGHTNAN)
	NEXT
	JB rightboth64

rightboth64end:
	LEAFSTART
	LEAVES(Z0, Z4, 0)
	LEAVES(Z1, Z5, 64)
	LEAVES(Z2, Z6, 128)
	LEAVES(Z3, Z7, 192)
	ADDQ $32, R11
	CMPQ R11, R12
	JB   tree64

done64:
	VZEROUPPER
	RET

TEXT ·qsScore32(SB), NOSPLIT, $0-48
	PROLOGUE
	CMPQ R11, R12
	JAE  done32

tree32:
	SETS
	RUNEND(0)
	JAE leftlo32end

leftlo32:
	LOADLO
	LO32(LEFTNAN)
	NEXT
	JB leftlo32

leftlo32end:
	RUNEND(4)
	JAE lefthi32end

lefthi32:
	LOADHI
	HI32(LEFTNAN)
	NEXT
	JB lefthi32

lefthi32end:
	RUNEND(8)
	JAE leftboth32end

leftboth32:
	LOADBOTH
	BOTH32(LEFTNAN)
	NEXT
	JB leftboth32

leftboth32end:
	RUNEND(12)
	JAE rightlo32end

rightlo32:
	LOADLO
	LO32(RIGHTNAN)
	NEXT
	JB rightlo32

rightlo32end:
	RUNEND(16)
	JAE righthi32end

righthi32:
	LOADHI
	HI32(RIGHTNAN)
	NEXT
	JB righthi32

righthi32end:
	RUNEND(20)
	JAE rightboth32end

rightboth32:
	LOADBOTH
	BOTH32(RIGHTNAN)
	NEXT
	JB rightboth32

rightboth32end:
	LEAFSTART
	LEAVES(Z0, Z4, 0)
	LEAVES(Z1, Z5, 64)
	ADDQ $32, R11
	CMPQ R11, R12
	JB   tree32

done32:
	VZEROUPPER
	RET
