#include "textflag.h"

// The QuickScorer kernel (see quickscorer.go), AVX-512 (F, CD, VL).
//
// func qsScore4(nodes *qsNode, trees *qsTree, nTrees int, leaves *float32, x *float32, gstride uintptr, margin *float32)
//
// x holds 4 groups of 8 rows, gstride bytes apart, feature-major (a node's
// off is its feature's byte offset in a group). For each tree in order:
// Z0-Z3 hold the leaf sets of the 4 groups (8 uint64 lanes each, all ones
// at the start); every node compares its condition with the 8 values of
// each group (K1-K4: the lanes that go right) and clears its left subtree
// from those lanes' sets. The lowest set bit is the exit leaf: its index
// is 63 - lzcnt(set & -set) from the tree's first leaf; its value is
// gathered and added to the margins at margin + mOff (32 float32, the 4
// groups in order).
//
// Registers: AX nodes, BX node byte cursor, CX end of a node run, DX DI R9
// R10 the 4 groups, R8 a node's feature offset, R11 tree cursor, R12 end
// of trees, R13 leaves, SI margin, Z30 zero, Z31 all ones.
// NODE tests the node at BX against the 4 groups with compare predicate
// pred (K1-K4: the lanes that go right), clears its left subtree from
// those lanes' leaf sets, and moves BX on, comparing it with the run's end.
#define NODE(pred) \
	MOVL         (AX)(BX*1), R8 \
	VBROADCASTSS 4(AX)(BX*1), Y4 \
	VCMPPS       pred, (DX)(R8*1), Y4, K1 \
	VCMPPS       pred, (DI)(R8*1), Y4, K2 \
	VCMPPS       pred, (R9)(R8*1), Y4, K3 \
	VCMPPS       pred, (R10)(R8*1), Y4, K4 \
	VPANDQ.BCST  8(AX)(BX*1), Z0, K1, Z0 \
	VPANDQ.BCST  8(AX)(BX*1), Z1, K2, Z1 \
	VPANDQ.BCST  8(AX)(BX*1), Z2, K3, Z2 \
	VPANDQ.BCST  8(AX)(BX*1), Z3, K4, Z3 \
	ADDQ         $16, BX \
	CMPQ         BX, CX

// LEAVES adds the exit leaves of two groups (leaf sets za and zb) to the
// 16 margins at off(SI)(CX*1); Z7 holds the tree's leafTop, k and zo are
// scratch.
#define LEAVES(za, zb, k, zo, off) \
	VPSUBQ       za, Z30, Z5 \
	VPANDQ       za, Z5, Z5 \
	VPLZCNTQ     Z5, Z5 \
	VPMOVQD      Z5, Y5 \
	VPSUBQ       zb, Z30, Z6 \
	VPANDQ       zb, Z6, Z6 \
	VPLZCNTQ     Z6, Z6 \
	VPMOVQD      Z6, Y6 \
	VINSERTI64X4 $1, Y6, Z5, Z5 \
	VPSUBD       Z5, Z7, Z5 \
	KXNORW       k, k, k \
	VPXORD       zo, zo, zo \
	VGATHERDPS   (R13)(Z5*4), k, zo \
	VADDPS       off(SI)(CX*1), zo, zo \
	VMOVUPS      zo, off(SI)(CX*1)

TEXT ·qsScore4(SB), NOSPLIT, $0-56
	MOVQ nodes+0(FP), AX
	MOVQ trees+8(FP), R11
	MOVQ nTrees+16(FP), R12
	MOVQ leaves+24(FP), R13
	MOVQ x+32(FP), DX
	MOVQ gstride+40(FP), R8
	MOVQ margin+48(FP), SI
	LEAQ (DX)(R8*1), DI
	LEAQ (DI)(R8*1), R9
	LEAQ (R9)(R8*1), R10
	SHLQ $4, R12
	ADDQ R11, R12
	XORQ BX, BX
	VPTERNLOGQ $0xff, Z31, Z31, Z31
	VPXORQ     Z30, Z30, Z30
	CMPQ R11, R12
	JAE  done

tree:
	VMOVDQA64 Z31, Z0
	VMOVDQA64 Z31, Z1
	VMOVDQA64 Z31, Z2
	VMOVDQA64 Z31, Z3
	MOVL (R11), CX
	SHLQ $4, CX
	CMPQ BX, CX
	JAE  rstart

lloop:
	// missing goes left: right when cond <= x (LE_OQ: false for NaN)
	NODE($0x12)
	JB lloop

rstart:
	MOVL 4(R11), CX
	SHLQ $4, CX
	CMPQ BX, CX
	JAE  leaves

rloop:
	// missing goes right: right when !(cond > x) (NGT_UQ: true for NaN)
	NODE($0x1a)
	JB rloop

leaves:
	VPBROADCASTD 8(R11), Z7
	MOVL         12(R11), CX
	LEAVES(Z0, Z1, K5, Z8, 0)
	LEAVES(Z2, Z3, K6, Z9, 64)
	ADDQ $16, R11
	CMPQ R11, R12
	JB   tree

done:
	VZEROUPPER
	RET
