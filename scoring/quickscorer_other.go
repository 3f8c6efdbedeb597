//go:build !amd64

package scoring

// haveQS: no QuickScorer kernel on this platform; XGBoost models use the walk kernels.
const haveQS = false

func qsScore4(nodes *qsNode, trees *qsTree, nTrees int, leaves *float32, x *float32, gstride uintptr, margin *float32) {
	panic("qsScore4 without its kernel")
}
