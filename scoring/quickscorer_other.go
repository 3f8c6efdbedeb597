//go:build !amd64

package scoring

// No QuickScorer kernel on this platform; XGBoost models use the walk kernels.
const haveQS, haveQS512 = false, false

func qsScore64(nodes *qsNode, trees *qsTree, nTrees int, leaves *float32, x *float32, margin *float32) {
	panic("qsScore64 without its kernel")
}

func qsScore32(nodes *qsNode, trees *qsTree, nTrees int, leaves *float32, x *float32, margin *float32) {
	panic("qsScore32 without its kernel")
}

func qsScore32AVX2(nodes *qsNode, trees *qsTree, nTrees int, leaves *float32, x *float32, margin *float32) {
	panic("qsScore32AVX2 without its kernel")
}
