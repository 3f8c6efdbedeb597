package scoring

import "golang.org/x/sys/cpu"

// haveQS: the CPU runs qsScore4 (AVX-512 F, CD and VL, which the OS saves).
var haveQS = cpu.X86.HasAVX512F && cpu.X86.HasAVX512CD && cpu.X86.HasAVX512VL

// qsScore64 and qsScore32: see quickscorer_amd64.s.
//
//go:noescape
func qsScore64(nodes *qsNode, trees *qsTree, nTrees int, leaves *float32, x *float32, margin *float32)

//go:noescape
func qsScore32(nodes *qsNode, trees *qsTree, nTrees int, leaves *float32, x *float32, margin *float32)
