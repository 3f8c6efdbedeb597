package scoring

import "unsafe"

// QuickScorer-style evaluation of an XGBoost ensemble whose trees have at
// most 64 leaves (XGBoost's default max_depth of 6 guarantees it), after
// Lucchese et al., "QuickScorer" (SIGIR 2015), vectorised as in
// V-QuickScorer: instead of walking a row down a tree, a level at a time
// with each step waiting on the node it loads, every internal node of a
// tree is tested against 8 rows at once, one vector compare, and the rows
// that go right clear the node's left subtree from their 64-bit leaf set.
// The lowest leaf left is the one the row reaches: for any leaf l' left of
// the exit leaf l, the lowest common ancestor of the two is on l's path and
// the row went right there, so l' was cleared; l itself is only cleared by
// a node whose left subtree holds it, where the row went left. Leaves are
// numbered in order, left to right.
//
// The tests do not depend on each other, so a tree costs a few vector
// instructions a node for 32 rows instead of a dependent load chain per row
// and level. Missing values: a tree's nodes are stored in two runs, those
// sending a missing value left (compared x >= cond, false for NaN) and
// those sending it right (compared !(x < cond), true for NaN).
//
// The leaf values are summed per row in tree order, in float32, as the
// walk kernels and XGBoost do, so results are bit-identical to them.

// qsNode is one internal node: its feature's byte offset in a group of
// rows (f × groupFeatBytes), its split condition, and the leaf set of the
// rows that go right (every leaf but those of the left subtree).
type qsNode struct {
	off  uint32
	cond float32
	mask uint64
}

// qsTree says where a tree's node runs end and where its results go. Its
// first node is the end of the previous tree's (or 0).
type qsTree struct {
	mid     uint32 // end of the missing-goes-left run, start of the missing-goes-right one
	hi      uint32 // end of the tree's nodes
	leafTop uint32 // index in leaves of the tree's first leaf, plus 63
	mOff    uint32 // byte offset of the tree's output group in a qsRows margin block (group × 4 × qsRows)
}

// qsRows is how many rows the kernel scores at once: 4 groups of lanes.
const qsRows = 4 * lanes

// quickScorer is an ensemble compiled for qsScore4.
type quickScorer struct {
	nodes  []qsNode
	trees  []qsTree
	leaves []float32 // per tree, its leaves' values in order
	width  int       // columns of a group of rows (the model's features)
}

// newQuickScorer compiles e (row-major nodes, as XGBoost's) or returns nil
// when the kernel cannot run it: no AVX-512 on this CPU, or a tree with
// more than 64 leaves.
func newQuickScorer(e *treeEnsemble) *quickScorer {
	if !haveQS || e.grouped {
		return nil
	}
	q := &quickScorer{width: e.nFeature}
	var right []qsNode
	for t, root := range e.roots {
		base := len(q.leaves)
		var walk func(i int32) (lo, hi int) // the in-order leaf range of node i's subtree
		walk = func(i int32) (int, int) {
			nd := &e.nodes[i]
			if nd.left == i {
				q.leaves = append(q.leaves, nd.leaf)
				n := len(q.leaves) - 1 - base
				return n, n + 1
			}
			lo, mid := walk(nd.left)
			_, hi := walk(nd.left + 1)
			if hi <= 64 {
				qn := qsNode{off: (nd.feat & featMask) * groupFeatBytes, cond: nd.cond, mask: ^(^uint64(0) >> (64 - (mid - lo)) << lo)}
				if nd.feat&missingRightBit == 0 {
					q.nodes = append(q.nodes, qn)
				} else {
					right = append(right, qn)
				}
			}
			return lo, hi
		}
		if _, hi := walk(root); hi > 64 {
			return nil
		}
		mid := len(q.nodes)
		q.nodes = append(q.nodes, right...)
		right = right[:0]
		q.trees = append(q.trees, qsTree{mid: uint32(mid), hi: uint32(len(q.nodes)),
			leafTop: uint32(base + 63), mOff: uint32(e.group[t]) * 4 * qsRows})
	}
	return q
}

// predict writes into margin (n × nGroup, row-major, already holding the
// base score) the sum of the trees' leaves for the n rows of x (float64,
// row-major, width columns). xt and mt are scratch: xt for qsRows rows in
// groups (qsRows × width), mt for their margins (qsRows × nGroup).
func (q *quickScorer) predict(x []float64, n, nGroup int, margin, xt, mt []float32) {
	w := q.width
	gs := lanes * w
	for r0 := 0; r0 < n; r0 += qsRows {
		k := min(qsRows, n-r0)
		toGroups(xt[:qsRows*w], x[r0*w:(r0+k)*w], k, w)
		for g := 0; g < nGroup; g++ {
			for j := 0; j < qsRows; j++ {
				mt[g*qsRows+j] = margin[min(r0+j, n-1)*nGroup+g]
			}
		}
		qsScore4(unsafe.SliceData(q.nodes), unsafe.SliceData(q.trees), len(q.trees), unsafe.SliceData(q.leaves),
			unsafe.SliceData(xt), uintptr(gs)*4, unsafe.SliceData(mt))
		for j := 0; j < k; j++ {
			for g := 0; g < nGroup; g++ {
				margin[(r0+j)*nGroup+g] = mt[g*qsRows+j]
			}
		}
	}
}

// toGroups converts n rows (n <= qsRows) of w float64 values into qsRows
// rows in groups of lanes, feature-major (value f of lane k of group g at
// g × lanes × w + f × lanes + k), padding with copies of the last row.
func toGroups(dst []float32, src []float64, n, w int) {
	gs := lanes * w
	for r := 0; r < qsRows; r++ {
		row := src[min(r, n-1)*w : min(r, n-1)*w+w]
		g := dst[r/lanes*gs : r/lanes*gs+gs]
		for f, v := range row {
			g[f*lanes+r%lanes] = float32(v)
		}
	}
}
