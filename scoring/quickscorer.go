package scoring

import "unsafe"

// QuickScorer-style evaluation of an XGBoost ensemble whose trees have at
// most 64 leaves (XGBoost's default max_depth of 6 guarantees it), after
// Lucchese et al., "QuickScorer" (SIGIR 2015), vectorised over rows as in
// their V-QuickScorer: instead of walking a row down a tree, a level at a
// time with each step waiting on the node it loads, every internal node of
// a tree is tested against 16 rows at once (8 with AVX2), one vector
// compare, and the rows that go right clear the node's left subtree from
// their 64-bit leaf set. The lowest leaf left is the one the row reaches:
// for any leaf l' left of the exit leaf l, the lowest common ancestor of
// the two is on l's path and the row went right there, so l' was cleared;
// l itself is only cleared by a node whose left subtree holds it, where the
// row went left. Leaves are numbered in order, left to right.
//
// The tests do not depend on each other, so a node costs a few vector
// instructions for 64 rows instead of a dependent load chain per row and
// level. The kernels keep a leaf set as two 32-bit halves (16 rows fill a
// vector of each), and a tree's nodes are stored in runs so that most
// clear only the half their left subtree is in. Missing values: the runs
// are also split by the direction a missing value takes, compared as
// x >= cond (false for NaN: left) or !(x < cond) (true for NaN: right).
//
// The leaf values are summed per row in tree order, in float32, as the
// walk kernels and XGBoost do, so results are bit-identical to them.

// qsNode is one internal node: its feature's byte offset in a block of
// rows (f × 4 × qsRows), its split condition, and the leaf set of the rows
// that go right (every leaf but those of the left subtree), whose low and
// high 32 bits the kernels hold apart.
type qsNode struct {
	off  uint32
	cond float32
	mask uint64
}

// Node runs of a tree, in this order: by the direction of a missing value,
// then by the halves of the leaf set a node clears (its left subtree's
// leaves are all below 32, all from 32 on, or on both sides).
const (
	runLeftLo = iota
	runLeftHi
	runLeftBoth
	runRightLo
	runRightHi
	runRightBoth
	nRuns
)

// qsTree says where a tree's node runs end and where its results go. Its
// first node is the end of the previous tree's (or 0).
type qsTree struct {
	end  [nRuns]uint32 // end of each run
	leaf uint32        // index in leaves of the tree's first leaf
	mOff uint32        // byte offset of the tree's output group in a block's margins (group × 4 × qsRows)
}

// qsRows is how many rows a block holds, 64 values a column (the kernels'
// displacements assume it): qsScore64 scores them all, qsScore32 and each
// call of qsScore32AVX2 32.
const qsRows = 64

// quickScorer is an ensemble compiled for the qsScore kernels.
type quickScorer struct {
	nodes  []qsNode
	trees  []qsTree
	leaves []float32 // per tree, its leaves' values in order
	width  int       // the model's features
	avx512 bool      // use qsScore64 and qsScore32, else qsScore32AVX2
}

// newQuickScorer compiles e (row-major nodes, as XGBoost's) or returns nil
// when the kernels cannot run it: no AVX2 on this CPU, or a tree with more
// than 64 leaves.
func newQuickScorer(e *treeEnsemble) *quickScorer {
	if !haveQS || e.grouped {
		return nil
	}
	q := &quickScorer{width: e.nFeature, avx512: haveQS512}
	var runs [nRuns][]qsNode
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
				run := runLeftBoth
				switch {
				case mid <= 32:
					run = runLeftLo
				case lo >= 32:
					run = runLeftHi
				}
				if nd.feat&missingRightBit != 0 {
					run += runRightLo
				}
				left := ^uint64(0) >> (64 - (mid - lo)) << lo
				runs[run] = append(runs[run], qsNode{off: (nd.feat & featMask) * 4 * qsRows, cond: nd.cond, mask: ^left})
			}
			return lo, hi
		}
		if _, hi := walk(root); hi > 64 {
			return nil
		}
		tr := qsTree{leaf: uint32(base), mOff: uint32(e.group[t]) * 4 * qsRows}
		for r := range runs {
			q.nodes = append(q.nodes, runs[r]...)
			tr.end[r] = uint32(len(q.nodes))
			runs[r] = runs[r][:0]
		}
		q.trees = append(q.trees, tr)
	}
	return q
}

// predict writes into margin (n × nGroup, row-major, already holding the
// base score) the sum of the trees' leaves for the n rows of x (float64,
// row-major, width columns). xt and mt are scratch for a block: xt its
// rows (qsRows × width), mt their margins (qsRows × nGroup).
func (q *quickScorer) predict(x []float64, n, nGroup int, margin, xt, mt []float32) {
	w := q.width
	for r0 := 0; r0 < n; r0 += qsRows {
		k := min(qsRows, n-r0)
		toColumns(xt[:qsRows*w], x[r0*w:(r0+k)*w], k, w)
		for g := 0; g < nGroup; g++ {
			for j := 0; j < k; j++ {
				mt[g*qsRows+j] = margin[(r0+j)*nGroup+g]
			}
		}
		q.score(xt, mt, k)
		for j := 0; j < k; j++ {
			for g := 0; g < nGroup; g++ {
				margin[(r0+j)*nGroup+g] = mt[g*qsRows+j]
			}
		}
	}
}

// score runs the kernel over the first k rows of the block xt, adding to
// their margins in mt.
func (q *quickScorer) score(xt, mt []float32, k int) {
	nodes, trees, leaves := unsafe.SliceData(q.nodes), unsafe.SliceData(q.trees), unsafe.SliceData(q.leaves)
	x, m := unsafe.SliceData(xt), unsafe.SliceData(mt)
	switch {
	case q.avx512 && k > qsRows/2:
		qsScore64(nodes, trees, len(q.trees), leaves, x, m)
	case q.avx512:
		qsScore32(nodes, trees, len(q.trees), leaves, x, m)
	default:
		qsScore32AVX2(nodes, trees, len(q.trees), leaves, x, m)
		if k > qsRows/2 {
			// the block's rows 32-63: 32 values (128 bytes) into each column
			qsScore32AVX2(nodes, trees, len(q.trees), leaves, (*float32)(unsafe.Add(unsafe.Pointer(x), 128)), (*float32)(unsafe.Add(unsafe.Pointer(m), 128)))
		}
	}
}

// toColumns converts n rows (n <= qsRows) of w float64 values into float32
// columns of qsRows values (value f of row r at f × qsRows + r). The rows
// past n keep what they held: the kernels score them, their margins are
// not read.
func toColumns(dst []float32, src []float64, n, w int) {
	for r := 0; r < n; r++ {
		row := src[r*w : r*w+w]
		for f, v := range row {
			dst[f*qsRows+r] = float32(v)
		}
	}
}
