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

// RUN scores the nodes of the tree's run at byte offset off of its qsTree,
// the loop at label loop, ending at label done: each node is loaded with
// load and its rows compared with cmp.
#define RUN(off, loop, done, load, cmp) \
	RUNEND(off) \
	JAE done \
loop: \
	load \
	cmp \
	NEXT \
	JB loop \
done:

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
	RUN(0, leftlo64, leftlo64end, LOADLO, LO64(LEFTNAN))
	RUN(4, lefthi64, lefthi64end, LOADHI, HI64(LEFTNAN))
	RUN(8, leftboth64, leftboth64end, LOADBOTH, BOTH64(LEFTNAN))
	RUN(12, rightlo64, rightlo64end, LOADLO, LO64(RIGHTNAN))
	RUN(16, righthi64, righthi64end, LOADHI, HI64(RIGHTNAN))
	RUN(20, rightboth64, rightboth64end, LOADBOTH, BOTH64(RIGHTNAN))
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
	RUN(0, leftlo32, leftlo32end, LOADLO, LO32(LEFTNAN))
	RUN(4, lefthi32, lefthi32end, LOADHI, HI32(LEFTNAN))
	RUN(8, leftboth32, leftboth32end, LOADBOTH, BOTH32(LEFTNAN))
	RUN(12, rightlo32, rightlo32end, LOADLO, LO32(RIGHTNAN))
	RUN(16, righthi32, righthi32end, LOADHI, HI32(RIGHTNAN))
	RUN(20, rightboth32, rightboth32end, LOADBOTH, BOTH32(RIGHTNAN))
	LEAFSTART
	LEAVES(Z0, Z4, 0)
	LEAVES(Z1, Z5, 64)
	ADDQ $32, R11
	CMPQ R11, R12
	JB   tree32

done32:
	VZEROUPPER
	RET

// The AVX2 kernel, for CPUs without AVX-512: the same algorithm on 32 rows
// (4 vectors of 8), without mask registers.
//
// func qsScore32AVX2(nodes *qsNode, trees *qsTree, nTrees int, leaves *float32, x *float32, margin *float32)
//
// Y0-Y3 hold the low halves of the leaf sets of rows 0-7, 8-15, 16-23,
// 24-31, Y4-Y7 the high halves. A node's compare gives each lane all ones
// when the row goes right (Y11); t = right & ~set clears a half: set &= ~t.
// The exit leaf: for a half h, the lowest set bit h & -h converted to
// float32 has exponent 127 + its index (bit 31 converts to -2^31, whose
// exponent is the same); 0 converts to 0, exponent 0, so the index from
// the low half is negative exactly when the low half is empty, and the
// blend on its sign picks the high half's (exponent - 95) instead.
//
// Registers: as the AVX-512 kernels for the general ones; Y8 a node's
// condition, Y9 and Y10 its leaf set's halves.

#define ALOAD \
	MOVL         (AX)(BX*1), R8 \
	VBROADCASTSS 4(AX)(BX*1), Y8
#define ALOADLO \
	ALOAD \
	VPBROADCASTD 8(AX)(BX*1), Y9
#define ALOADHI \
	ALOAD \
	VPBROADCASTD 12(AX)(BX*1), Y10
#define ALOADBOTH \
	ALOADLO \
	VPBROADCASTD 12(AX)(BX*1), Y10

// ACMP* test rows d/4 to d/4+7 against the node with predicate pred and
// clear the lanes that go right from the halves lo and hi.
#define ACMP(pred, d) \
	VCMPPS pred, d(DX)(R8*1), Y8, Y11
#define ACLEAR(m, s) \
	VPANDN Y11, m, Y12 \
	VPANDN s, Y12, s
#define ACMPLO(pred, d, lo) \
	ACMP(pred, d) \
	ACLEAR(Y9, lo)
#define ACMPHI(pred, d, hi) \
	ACMP(pred, d) \
	ACLEAR(Y10, hi)
#define ACMPBOTH(pred, d, lo, hi) \
	ACMP(pred, d) \
	ACLEAR(Y9, lo) \
	ACLEAR(Y10, hi)

#define ALO(pred) \
	ACMPLO(pred, 0, Y0) \
	ACMPLO(pred, 32, Y1) \
	ACMPLO(pred, 64, Y2) \
	ACMPLO(pred, 96, Y3)
#define AHI(pred) \
	ACMPHI(pred, 0, Y4) \
	ACMPHI(pred, 32, Y5) \
	ACMPHI(pred, 64, Y6) \
	ACMPHI(pred, 96, Y7)
#define ABOTH(pred) \
	ACMPBOTH(pred, 0, Y0, Y4) \
	ACMPBOTH(pred, 32, Y1, Y5) \
	ACMPBOTH(pred, 64, Y2, Y6) \
	ACMPBOTH(pred, 96, Y3, Y7)

// AINDEX sets Y10 to the exit leaf's index from the tree's first leaf for
// the 8 rows of halves lo and hi (Y15 zero, Y13 127, Y14 95).
#define AINDEX(lo, hi) \
	VPSUBD    lo, Y15, Y8 \
	VPAND     lo, Y8, Y8 \
	VCVTDQ2PS Y8, Y8 \
	VPSLLD    $1, Y8, Y8 \
	VPSRLD    $24, Y8, Y8 \
	VPSUBD    Y13, Y8, Y8 \
	VPSUBD    hi, Y15, Y9 \
	VPAND     hi, Y9, Y9 \
	VCVTDQ2PS Y9, Y9 \
	VPSLLD    $1, Y9, Y9 \
	VPSRLD    $24, Y9, Y9 \
	VPSUBD    Y14, Y9, Y9 \
	VBLENDVPS Y8, Y9, Y8, Y10

// ALEAVES adds the exit leaves of 8 rows to their margins at off(SI)(CX*1)
// (Y12 the tree's first leaf).
#define ALEAVES(lo, hi, off) \
	AINDEX(lo, hi) \
	VPADDD     Y12, Y10, Y10 \
	VPCMPEQD   Y11, Y11, Y11 \
	VXORPS     Y9, Y9, Y9 \
	VGATHERDPS Y11, (R13)(Y10*4), Y9 \
	VADDPS     off(SI)(CX*1), Y9, Y9 \
	VMOVUPS    Y9, off(SI)(CX*1)

#define ASETS \
	VPCMPEQD Y0, Y0, Y0 \
	VPCMPEQD Y1, Y1, Y1 \
	VPCMPEQD Y2, Y2, Y2 \
	VPCMPEQD Y3, Y3, Y3 \
	VPCMPEQD Y4, Y4, Y4 \
	VPCMPEQD Y5, Y5, Y5 \
	VPCMPEQD Y6, Y6, Y6 \
	VPCMPEQD Y7, Y7, Y7

#define ALEAFSTART \
	VPXOR        Y15, Y15, Y15 \
	MOVL         $127, CX \
	MOVQ         CX, X13 \
	VPBROADCASTD X13, Y13 \
	MOVL         $95, CX \
	MOVQ         CX, X14 \
	VPBROADCASTD X14, Y14 \
	VPBROADCASTD 24(R11), Y12 \
	MOVL         28(R11), CX

#define APROLOGUE \
	MOVQ nodes+0(FP), AX \
	MOVQ trees+8(FP), R11 \
	MOVQ nTrees+16(FP), R12 \
	MOVQ leaves+24(FP), R13 \
	MOVQ x+32(FP), DX \
	MOVQ margin+40(FP), SI \
	SHLQ $5, R12 \
	ADDQ R11, R12 \
	XORQ BX, BX

TEXT ·qsScore32AVX2(SB), NOSPLIT, $0-48
	APROLOGUE
	CMPQ R11, R12
	JAE  doneavx2

treeavx2:
	ASETS
	RUN(0, leftloavx2, leftloavx2end, ALOADLO, ALO(LEFTNAN))
	RUN(4, lefthiavx2, lefthiavx2end, ALOADHI, AHI(LEFTNAN))
	RUN(8, leftbothavx2, leftbothavx2end, ALOADBOTH, ABOTH(LEFTNAN))
	RUN(12, rightloavx2, rightloavx2end, ALOADLO, ALO(RIGHTNAN))
	RUN(16, righthiavx2, righthiavx2end, ALOADHI, AHI(RIGHTNAN))
	RUN(20, rightbothavx2, rightbothavx2end, ALOADBOTH, ABOTH(RIGHTNAN))
	ALEAFSTART
	ALEAVES(Y0, Y4, 0)
	ALEAVES(Y1, Y5, 32)
	ALEAVES(Y2, Y6, 64)
	ALEAVES(Y3, Y7, 96)
	ADDQ $32, R11
	CMPQ R11, R12
	JB   treeavx2

doneavx2:
	VZEROUPPER
	RET
