package scoring

import "golang.org/x/sys/cpu"

// haveQS: the CPU runs a QuickScorer kernel: qsScore32AVX2 with AVX2, and
// qsScore64/qsScore32 with AVX-512 F, CD and VL (x/sys/cpu also checks that
// the OS saves the registers).
var (
	haveQS    = cpu.X86.HasAVX2
	haveQS512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512CD && cpu.X86.HasAVX512VL
)

// qsScore64, qsScore32 and qsScore32AVX2: see quickscorer_amd64.s.
//
//go:noescape
func qsScore64(nodes *qsNode, trees *qsTree, nTrees int, leaves *float32, x *float32, margin *float32)

//go:noescape
func qsScore32(nodes *qsNode, trees *qsTree, nTrees int, leaves *float32, x *float32, margin *float32)

//go:noescape
func qsScore32AVX2(nodes *qsNode, trees *qsTree, nTrees int, leaves *float32, x *float32, margin *float32)
