package scoring

import (
	"errors"
	"fmt"
	"math"
	"unsafe"
)

// Limits on a tree model file (XGBoost, scikit-learn), so a hostile or
// broken file is an error and not an out-of-memory kill or a hang.
const (
	MaxModelBytes   = 512 << 20
	MaxTrees        = 100_000
	MaxNodesPerTree = 1 << 20
	MaxTotalNodes   = 32 << 20
	MaxDepth        = 256
	MaxModelColumns = 1 << 20
)

// node is one tree node packed in 16 bytes. Children are adjacent (right =
// left + 1), so a step is branch-free: next = left + (v >= cond). A leaf has
// cond NaN (every comparison false) and points at itself, so extra steps stay
// on it; that lets several rows (or trees) walk in lock-step for a fixed
// number of levels, which keeps the CPU busy instead of waiting on each
// node load in turn.
type node struct {
	cond float32 // split condition: a value goes right when v >= cond; NaN for a leaf
	feat uint32  // split feature; bit 31 set = a missing value goes right
	left int32   // index of the left child (right is left+1); a leaf's own index
	leaf float32 // a leaf's payload: its value (XGBoost), or the index of its values as float32 bits (scikit-learn, leafIndex)
}

const (
	missingRightBit = 1 << 31
	featMask        = missingRightBit - 1
	lanes           = 8 // rows (or trees) walked in lock-step
)

// treeEnsemble is the packed node layout every tree model compiles into,
// and the lock-step kernel that walks it in float32. What a model does with
// the leaves it reaches (XGBoost's float32 margins, scikit-learn's float64
// averages and sums) is the model's own arithmetic; the walk is shared.
type treeEnsemble struct {
	nFeature int
	nodes    []node
	roots    []int32
	depth    []int32 // levels of each tree (steps from the root to its deepest leaf)
	group    []int32 // output group of each tree (XGBoost's tree_info, the class of a boosting tree)
	maxDepth int
	// grouped: the nodes are for the feature-major kernels of
	// trees_group.go (split and leafNode say how they differ).
	grouped bool
}

// split is an internal node for feature f. Row-major kernels: feat = f,
// bit 31 set when a missing value goes right. Grouped: feat is f's byte
// offset in a group of rows (f × 4 × lanes), and the unused leaf field
// holds 1 (as float32 bits) when a missing value goes right.
func (e *treeEnsemble) split(f int, cond float32, missingLeft bool, left int32) node {
	if e.grouped {
		nd := node{cond: cond, feat: uint32(f) * groupFeatBytes, left: left}
		if !missingLeft {
			nd.leaf = math.Float32frombits(1)
		}
		return nd
	}
	feat := uint32(f)
	if !missingLeft {
		feat |= missingRightBit
	}
	return node{cond: cond, feat: feat, left: left}
}

// leafNode is a leaf at index i with payload v. Its cond is NaN and it
// points at itself; grouped, its feat is the group's always-zero column, so
// a missing value never moves it either.
func (e *treeEnsemble) leafNode(i int32, v float32) node {
	nd := node{cond: float32(math.NaN()), left: i, leaf: v}
	if e.grouped {
		nd.feat = uint32(e.nFeature) * groupFeatBytes
	}
	return nd
}

// treeSource is one tree as a file holds it, in the file's node numbering
// (the root is node 0). addTree reads it through these methods, so every
// file format is validated by the same code.
type treeSource interface {
	numNodes() int
	// children returns a node's children, -1 and -1 for a leaf.
	children(i int) (left, right int64)
	// split returns an internal node's feature, its split condition (right
	// when v >= cond) and whether a missing value goes left.
	split(i int) (feat int64, cond float32, missingLeft bool, err error)
	// leaf returns a leaf's payload (node.leaf).
	leaf(i int) (float32, error)
}

// addTree validates one tree and appends it breadth-first to e.nodes. A
// tree must be a tree: every child index in range, no node reached twice
// (so no cycles), split features below nFeature, depth within MaxDepth.
func (e *treeEnsemble) addTree(tr treeSource, group int32) error {
	n := tr.numNodes()
	if n == 0 {
		return errors.New("no nodes")
	}
	if n > MaxNodesPerTree {
		return fmt.Errorf("%d nodes, more than the limit of %d", n, MaxNodesPerTree)
	}
	if len(e.nodes)+n > MaxTotalNodes {
		return fmt.Errorf("more than %d nodes in total", MaxTotalNodes)
	}
	// Each internal node gets its two children allocated side by side.
	// Marking nodes when their slot is allocated catches cycles and shared
	// children.
	base := int32(len(e.nodes))
	seen := make([]bool, n)
	type item struct {
		old   int   // index in the file
		slot  int32 // index in e.nodes
		depth int
	}
	seen[0] = true
	e.nodes = append(e.nodes, node{})
	stack := []item{{old: 0, slot: base}}
	depth := 0
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		i := it.old
		depth = max(depth, it.depth)
		l, r := tr.children(i)
		if l == -1 {
			if r != -1 {
				return fmt.Errorf("node %d: left child -1 but right child %d", i, r)
			}
			v, err := tr.leaf(i)
			if err != nil {
				return fmt.Errorf("node %d: %w", i, err)
			}
			e.nodes[it.slot] = e.leafNode(it.slot, v)
			continue
		}
		if l <= 0 || l >= int64(n) || r <= 0 || r >= int64(n) || l == r {
			return fmt.Errorf("node %d: children %d, %d out of range [1, %d)", i, l, r, n)
		}
		if seen[l] || seen[r] {
			return fmt.Errorf("node %d: a child is reached twice (cycle or shared child)", i)
		}
		seen[l], seen[r] = true, true
		if it.depth+1 > MaxDepth {
			return fmt.Errorf("deeper than the limit of %d", MaxDepth)
		}
		fi, cond, missingLeft, err := tr.split(i)
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		if fi < 0 || fi >= int64(e.nFeature) {
			return fmt.Errorf("node %d: split feature %d out of range [0, %d)", i, fi, e.nFeature)
		}
		left := int32(len(e.nodes))
		e.nodes = append(e.nodes, node{}, node{})
		e.nodes[it.slot] = e.split(int(fi), cond, missingLeft, left)
		stack = append(stack, item{old: int(r), slot: left + 1, depth: it.depth + 1},
			item{old: int(l), slot: left, depth: it.depth + 1})
	}
	e.roots = append(e.roots, base)
	e.depth = append(e.depth, int32(depth))
	e.group = append(e.group, group)
	e.maxDepth = max(e.maxDepth, depth)
	return nil
}

// The lock-step kernels below use unsafe indexing: addTree has checked that
// every child index is inside e.nodes and every split feature is below
// nFeature, and callers pass lanes full rows of nFeature values, so no index
// can leave its slice. Bounds checks here cost more than the comparisons.

// step moves one row one level down from node i.
func step(nb, row unsafe.Pointer, i int32) int32 {
	nd := (*node)(unsafe.Add(nb, uintptr(i)*unsafe.Sizeof(node{})))
	v := *(*float32)(unsafe.Add(row, uintptr(nd.feat&featMask)*4))
	var s int32
	if v >= nd.cond {
		s = 1
	}
	return nd.left + s
}

// stepNaN is step with missing values: NaN takes the node's default direction.
func stepNaN(nb, row unsafe.Pointer, i int32) int32 {
	nd := (*node)(unsafe.Add(nb, uintptr(i)*unsafe.Sizeof(node{})))
	v := *(*float32)(unsafe.Add(row, uintptr(nd.feat&featMask)*4))
	var s int32
	if v >= nd.cond {
		s = 1
	}
	if v != v {
		s = int32(nd.feat >> 31)
	}
	return nd.left + s
}

// walk8 walks 8 consecutive rows (rowBytes apart) through one tree.
func walk8(nb, x unsafe.Pointer, rowBytes uintptr, root int32, depth int) [lanes]int32 {
	x1 := unsafe.Add(x, rowBytes)
	x2 := unsafe.Add(x1, rowBytes)
	x3 := unsafe.Add(x2, rowBytes)
	x4 := unsafe.Add(x3, rowBytes)
	x5 := unsafe.Add(x4, rowBytes)
	x6 := unsafe.Add(x5, rowBytes)
	x7 := unsafe.Add(x6, rowBytes)
	i0, i1, i2, i3, i4, i5, i6, i7 := root, root, root, root, root, root, root, root
	for d := 0; d < depth; d++ {
		i0 = step(nb, x, i0)
		i1 = step(nb, x1, i1)
		i2 = step(nb, x2, i2)
		i3 = step(nb, x3, i3)
		i4 = step(nb, x4, i4)
		i5 = step(nb, x5, i5)
		i6 = step(nb, x6, i6)
		i7 = step(nb, x7, i7)
	}
	return [lanes]int32{i0, i1, i2, i3, i4, i5, i6, i7}
}

// walk8NaN is walk8 for rows that may hold missing values.
func walk8NaN(nb, x unsafe.Pointer, rowBytes uintptr, root int32, depth int) [lanes]int32 {
	x1 := unsafe.Add(x, rowBytes)
	x2 := unsafe.Add(x1, rowBytes)
	x3 := unsafe.Add(x2, rowBytes)
	x4 := unsafe.Add(x3, rowBytes)
	x5 := unsafe.Add(x4, rowBytes)
	x6 := unsafe.Add(x5, rowBytes)
	x7 := unsafe.Add(x6, rowBytes)
	i0, i1, i2, i3, i4, i5, i6, i7 := root, root, root, root, root, root, root, root
	for d := 0; d < depth; d++ {
		i0 = stepNaN(nb, x, i0)
		i1 = stepNaN(nb, x1, i1)
		i2 = stepNaN(nb, x2, i2)
		i3 = stepNaN(nb, x3, i3)
		i4 = stepNaN(nb, x4, i4)
		i5 = stepNaN(nb, x5, i5)
		i6 = stepNaN(nb, x6, i6)
		i7 = stepNaN(nb, x7, i7)
	}
	return [lanes]int32{i0, i1, i2, i3, i4, i5, i6, i7}
}

// walk returns the leaf one row reaches in tree t.
func (e *treeEnsemble) walk(t int, row []float32) int32 {
	nodes := e.nodes
	i := e.roots[t]
	for d := int32(0); d < e.depth[t]; d++ {
		nd := &nodes[i]
		v := row[nd.feat&featMask]
		var s int32
		if v >= nd.cond {
			s = 1
		}
		if v != v {
			s = int32(nd.feat >> 31)
		}
		i = nd.left + s
	}
	return i
}

// hasNaN32 reports whether row holds a missing value.
func hasNaN32(row []float32) bool {
	nan := false
	for _, v := range row {
		nan = nan || v != v
	}
	return nan
}

// toFloat32 converts src into dst and reports whether src holds a NaN.
// Not inlined: inside Predict the compiler keeps the NaN flag on the stack,
// a store and a load per value.
//
//go:noinline
func toFloat32(dst []float32, src []float64) bool {
	dst = dst[:len(src)]
	nan := false
	for j, v := range src {
		dst[j] = float32(v)
		if v != v {
			nan = true
		}
	}
	return nan
}
