package scoring

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"unsafe"
)

// forest64 is the float64 sibling of the XGBoost kernel (xgboost.go), for
// libraries that compare float64 features with float64 thresholds and send
// x <= threshold left: LightGBM and scikit-learn's HistGradientBoosting.
// Nodes are packed in 16 bytes with the two children adjacent, so a step is
// next = left + (x > cond); a leaf has cond +Inf and points at itself, so
// rows (or trees) can walk in lock-step for a fixed number of levels. Leaf
// values live in a parallel array, read once per tree at the end.
//
// Missing values, LightGBM's zero-as-missing and categorical splits are
// flags on the node (feat's top bits): a block without missing values in a
// model without zero-as-missing or categorical nodes takes the branch-free
// kernel, a block with missing values the kernel that checks NaN, and a
// model with categorical or zero-as-missing nodes the general one.
type forest64 struct {
	nodes    []node64
	leaf     []float64 // per node: the leaf value (0 for split nodes)
	roots    []int32
	depth    []int32 // levels of each tree
	group    []int32 // output group of each tree
	nGroup   int
	nFeature int
	maxDepth int
	general  bool     // some node is categorical or zero-as-missing
	catWords []uint32 // the bitsets of categorical nodes, back to back
	cats     []catSplit
	// A category value v is looked up when catLo <= v < catHi; else (NaN
	// too) it takes the node's missing direction. See catRange.
	catLo, catHi float64
	nCat, nZero  int // node counts, for Describe
}

// node64 is one node. For a categorical node cond holds the index of its
// catSplit (as a float64 value).
type node64 struct {
	cond float64 // threshold; +Inf for a leaf
	feat uint32  // feature index | flags
	left int32   // left child (right is left+1); a leaf's own index
}

// catSplit is a categorical node's set of categories that go left: bit c
// of words [off, off+n) of catWords.
type catSplit struct{ off, n uint32 }

const (
	nodeMissingRight = 1 << 31 // NaN (and, with nodeZeroMissing, 0) goes right
	nodeCategorical  = 1 << 30
	nodeZeroMissing  = 1 << 29 // 0 takes the missing direction too (LightGBM missing_type Zero)
	nodeFeatMask     = 1<<29 - 1
	maxTreeDepth64   = 1024 // LightGBM grows leaf-wise: deeper trees than XGBoost's
	maxCatWords      = 1 << 22
	maxCategoryCode  = 1 << 31 // LightGBM's categories are C ints
)

// treeSpec is one tree as a library describes it: split nodes 0..n-1 with
// children that are split nodes (>= 0) or leaves (< 0: leaf ^child), as
// LightGBM writes them.
type treeSpec struct {
	left, right []int32
	feat        []int32
	thr         []float64 // numerical threshold: x <= thr goes left
	missLeft    []bool    // NaN goes left
	zeroMiss    []bool    // 0 takes the missing direction (nil: none)
	cat         []int32   // index into catSets, -1 for a numerical split (nil: none)
	catSets     [][]uint32
	leaves      []float64
}

// catRange sets the values a categorical node looks up; anything else takes
// the node's missing direction. LightGBM casts to int and sends negative ints
// right: lo = nextafter(-1, 0) (so -0.5 truncates to category 0), hi = 2^31.
// scikit-learn sends v < 0 the missing way and casts to uint8: lo = 0, hi = 256.
func (f *forest64) catRange(lo, hi float64) { f.catLo, f.catHi = lo, hi }

// addTree validates one tree and appends it breadth-first to f.nodes: every
// child in range, each node reached once from the root (no cycles or shared
// nodes), no NaN threshold, finite leaf values, split features below
// nFeature, bitsets within limits.
func (f *forest64) addTree(t *treeSpec, group int) error {
	n := len(t.left)
	if len(t.leaves) != n+1 {
		return fmt.Errorf("%d leaves for %d split nodes, want %d", len(t.leaves), n, n+1)
	}
	if n+len(t.leaves) > MaxNodesPerTree {
		return fmt.Errorf("%d nodes, more than the limit of %d", n+len(t.leaves), MaxNodesPerTree)
	}
	if len(f.nodes)+n+len(t.leaves) > MaxTotalNodes {
		return fmt.Errorf("more than %d nodes in total", MaxTotalNodes)
	}
	for i, v := range t.leaves {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("leaf %d: value %v is not finite", i, v)
		}
	}
	base := int32(len(f.nodes))
	if n == 0 { // a single leaf
		f.nodes = append(f.nodes, node64{cond: math.Inf(1), left: base})
		f.leaf = append(f.leaf, t.leaves[0])
		f.addRoot(base, 0, group)
		return nil
	}
	if len(t.right) != n || len(t.feat) != n || len(t.thr) != n || len(t.missLeft) != n ||
		(t.zeroMiss != nil && len(t.zeroMiss) != n) || (t.cat != nil && len(t.cat) != n) {
		return errors.New("node arrays differ in length")
	}
	seenSplit := make([]bool, n)
	seenLeaf := make([]bool, n+1)
	type item struct {
		child int32 // as in the spec: >= 0 split node, < 0 leaf
		slot  int32
		depth int
	}
	f.nodes = append(f.nodes, node64{})
	f.leaf = append(f.leaf, 0)
	seenSplit[0] = true
	queue := []item{{child: 0, slot: base}}
	depth := 0
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		depth = max(depth, it.depth)
		if it.child < 0 {
			f.nodes[it.slot] = node64{cond: math.Inf(1), left: it.slot}
			f.leaf[it.slot] = t.leaves[^it.child]
			continue
		}
		i := it.child
		if it.depth+1 > maxTreeDepth64 {
			return fmt.Errorf("deeper than the limit of %d", maxTreeDepth64)
		}
		fi := t.feat[i]
		if fi < 0 || int(fi) >= f.nFeature {
			return fmt.Errorf("node %d: split feature %d out of range [0, %d)", i, fi, f.nFeature)
		}
		nd := node64{cond: t.thr[i], feat: uint32(fi)}
		if !t.missLeft[i] {
			nd.feat |= nodeMissingRight
		}
		if t.zeroMiss != nil && t.zeroMiss[i] {
			nd.feat |= nodeZeroMissing
			f.general = true
			f.nZero++
		}
		if t.cat != nil && t.cat[i] >= 0 {
			c := t.cat[i]
			if int(c) >= len(t.catSets) {
				return fmt.Errorf("node %d: category set %d out of range [0, %d)", i, c, len(t.catSets))
			}
			bits := t.catSets[c]
			if len(f.catWords)+len(bits) > maxCatWords {
				return fmt.Errorf("more than %d bitset words in all", maxCatWords)
			}
			nd.cond = float64(len(f.cats))
			nd.feat |= nodeCategorical
			f.cats = append(f.cats, catSplit{off: uint32(len(f.catWords)), n: uint32(len(bits))})
			f.catWords = append(f.catWords, bits...)
			f.general = true
			f.nCat++
		} else if math.IsNaN(nd.cond) {
			return fmt.Errorf("node %d: threshold is NaN", i)
		}
		l, r := t.left[i], t.right[i]
		for _, c := range [2]int32{l, r} {
			switch {
			case c >= 0 && int(c) < n:
				if seenSplit[c] {
					return fmt.Errorf("node %d: node %d is reached twice (cycle or shared child)", i, c)
				}
				seenSplit[c] = true
			case c < 0 && int(^c) <= n:
				if seenLeaf[^c] {
					return fmt.Errorf("node %d: leaf %d is reached twice", i, ^c)
				}
				seenLeaf[^c] = true
			default:
				return fmt.Errorf("node %d: child %d out of range", i, c)
			}
		}
		left := int32(len(f.nodes))
		nd.left = left
		f.nodes[it.slot] = nd
		f.nodes = append(f.nodes, node64{}, node64{})
		f.leaf = append(f.leaf, 0, 0)
		queue = append(queue, item{child: l, slot: left, depth: it.depth + 1}, item{child: r, slot: left + 1, depth: it.depth + 1})
	}
	for i, s := range seenLeaf {
		if !s {
			return fmt.Errorf("leaf %d is not reached from the root", i)
		}
	}
	f.addRoot(base, depth, group)
	return nil
}

func (f *forest64) addRoot(root int32, depth, group int) {
	f.roots = append(f.roots, root)
	f.depth = append(f.depth, int32(depth))
	f.group = append(f.group, int32(group))
	f.maxDepth = max(f.maxDepth, depth)
}

// predict adds every tree's leaf value to margin (n rows × nGroup, already
// holding the starting value: 0 for LightGBM, the baseline for
// scikit-learn), tree by tree in order, so each output is summed in float64
// in the library's own order and the results match it bit for bit. Rows are
// x (float64, row-major, nFeature columns); hasNaN says whether any is
// missing. lanes rows walk one tree in lock-step; with fewer rows than
// lanes, lanes trees of one row do.
func (f *forest64) predict(x []float64, n int, margin []float64, hasNaN bool) {
	w, G := f.nFeature, f.nGroup
	if n < lanes {
		for r := 0; r < n; r++ {
			f.predictRow(x[r*w:(r+1)*w], margin[r*G:(r+1)*G], hasNaN)
		}
		return
	}
	nb := unsafe.Pointer(unsafe.SliceData(f.nodes))
	rowBytes := uintptr(w) * 8
	leaf := f.leaf
	for t, root := range f.roots {
		g, depth := int(f.group[t]), int(f.depth[t])
		r0 := 0
		for ; r0+lanes <= n; r0 += lanes {
			x0 := unsafe.Pointer(&x[r0*w])
			var i [lanes]int32
			switch {
			case f.general:
				i = f.walk8Any(nb, x0, rowBytes, root, depth)
			case hasNaN:
				i = walk8NaN64(nb, x0, rowBytes, root, depth)
			default:
				i = walk8_64(nb, x0, rowBytes, root, depth)
			}
			for k := range i {
				margin[(r0+k)*G+g] += leaf[i[k]]
			}
		}
		for ; r0 < n; r0++ {
			margin[r0*G+g] += leaf[f.walk(root, depth, x[r0*w:(r0+1)*w])]
		}
	}
}

// The lock-step kernels use unsafe indexing: addTree has checked that every
// child index is inside f.nodes and every split feature is below nFeature,
// and callers pass full rows of nFeature values.

func at64(nb unsafe.Pointer, i int32) *node64 {
	return (*node64)(unsafe.Add(nb, uintptr(i)*unsafe.Sizeof(node64{})))
}

func load64(row unsafe.Pointer, feat uint32) float64 {
	return *(*float64)(unsafe.Add(row, uintptr(feat&nodeFeatMask)*8))
}

// step64 moves a row without missing values one level down.
func step64(nb, row unsafe.Pointer, i int32) int32 {
	nd := at64(nb, i)
	var s int32
	if load64(row, nd.feat) > nd.cond {
		s = 1
	}
	return nd.left + s
}

// stepNaN64 is step64 for rows that may hold NaN: it takes the node's
// missing direction.
func stepNaN64(nb, row unsafe.Pointer, i int32) int32 {
	nd := at64(nb, i)
	v := load64(row, nd.feat)
	var s int32
	if v > nd.cond {
		s = 1
	}
	if v != v {
		s = int32(nd.feat >> 31)
	}
	return nd.left + s
}

// stepAny handles every node kind: numerical, zero-as-missing, categorical.
func (f *forest64) stepAny(nb, row unsafe.Pointer, i int32) int32 {
	nd := at64(nb, i)
	v := load64(row, nd.feat)
	miss := int32(nd.feat >> 31)
	if nd.feat&nodeCategorical != 0 {
		if !(v >= f.catLo && v < f.catHi) { // NaN too
			return nd.left + miss
		}
		c := uint32(int32(v))
		cs := f.cats[int(nd.cond)]
		if w := c / 32; w < cs.n && f.catWords[cs.off+w]>>(c%32)&1 != 0 {
			return nd.left
		}
		return nd.left + 1 // the bitset holds every looked-up category that goes left
	}
	var s int32
	if v > nd.cond {
		s = 1
	}
	if v != v || (v == 0 && nd.feat&nodeZeroMissing != 0) {
		s = miss
	}
	return nd.left + s
}

// walk8_64 walks 8 consecutive rows (rowBytes apart) through one tree.
func walk8_64(nb, x unsafe.Pointer, rowBytes uintptr, root int32, depth int) [lanes]int32 {
	x1 := unsafe.Add(x, rowBytes)
	x2 := unsafe.Add(x1, rowBytes)
	x3 := unsafe.Add(x2, rowBytes)
	x4 := unsafe.Add(x3, rowBytes)
	x5 := unsafe.Add(x4, rowBytes)
	x6 := unsafe.Add(x5, rowBytes)
	x7 := unsafe.Add(x6, rowBytes)
	i0, i1, i2, i3, i4, i5, i6, i7 := root, root, root, root, root, root, root, root
	for d := 0; d < depth; d++ {
		n0 := step64(nb, x, i0)
		n1 := step64(nb, x1, i1)
		n2 := step64(nb, x2, i2)
		n3 := step64(nb, x3, i3)
		n4 := step64(nb, x4, i4)
		n5 := step64(nb, x5, i5)
		n6 := step64(nb, x6, i6)
		n7 := step64(nb, x7, i7)
		// every lane on its leaf (a leaf points at itself): leaf-wise trees are
		// much deeper than their typical path
		moved := (n0 ^ i0) | (n1 ^ i1) | (n2 ^ i2) | (n3 ^ i3) | (n4 ^ i4) | (n5 ^ i5) | (n6 ^ i6) | (n7 ^ i7)
		i0, i1, i2, i3, i4, i5, i6, i7 = n0, n1, n2, n3, n4, n5, n6, n7
		if moved == 0 {
			break
		}
	}
	return [lanes]int32{i0, i1, i2, i3, i4, i5, i6, i7}
}

// walk8NaN64 is walk8_64 for rows that may hold missing values.
func walk8NaN64(nb, x unsafe.Pointer, rowBytes uintptr, root int32, depth int) [lanes]int32 {
	x1 := unsafe.Add(x, rowBytes)
	x2 := unsafe.Add(x1, rowBytes)
	x3 := unsafe.Add(x2, rowBytes)
	x4 := unsafe.Add(x3, rowBytes)
	x5 := unsafe.Add(x4, rowBytes)
	x6 := unsafe.Add(x5, rowBytes)
	x7 := unsafe.Add(x6, rowBytes)
	i0, i1, i2, i3, i4, i5, i6, i7 := root, root, root, root, root, root, root, root
	for d := 0; d < depth; d++ {
		n0 := stepNaN64(nb, x, i0)
		n1 := stepNaN64(nb, x1, i1)
		n2 := stepNaN64(nb, x2, i2)
		n3 := stepNaN64(nb, x3, i3)
		n4 := stepNaN64(nb, x4, i4)
		n5 := stepNaN64(nb, x5, i5)
		n6 := stepNaN64(nb, x6, i6)
		n7 := stepNaN64(nb, x7, i7)
		// every lane on its leaf (a leaf points at itself): leaf-wise trees are
		// much deeper than their typical path
		moved := (n0 ^ i0) | (n1 ^ i1) | (n2 ^ i2) | (n3 ^ i3) | (n4 ^ i4) | (n5 ^ i5) | (n6 ^ i6) | (n7 ^ i7)
		i0, i1, i2, i3, i4, i5, i6, i7 = n0, n1, n2, n3, n4, n5, n6, n7
		if moved == 0 {
			break
		}
	}
	return [lanes]int32{i0, i1, i2, i3, i4, i5, i6, i7}
}

// walk8Any is walk8_64 for models with categorical or zero-as-missing nodes.
func (f *forest64) walk8Any(nb, x unsafe.Pointer, rowBytes uintptr, root int32, depth int) [lanes]int32 {
	x1 := unsafe.Add(x, rowBytes)
	x2 := unsafe.Add(x1, rowBytes)
	x3 := unsafe.Add(x2, rowBytes)
	x4 := unsafe.Add(x3, rowBytes)
	x5 := unsafe.Add(x4, rowBytes)
	x6 := unsafe.Add(x5, rowBytes)
	x7 := unsafe.Add(x6, rowBytes)
	i0, i1, i2, i3, i4, i5, i6, i7 := root, root, root, root, root, root, root, root
	for d := 0; d < depth; d++ {
		n0 := f.stepAny(nb, x, i0)
		n1 := f.stepAny(nb, x1, i1)
		n2 := f.stepAny(nb, x2, i2)
		n3 := f.stepAny(nb, x3, i3)
		n4 := f.stepAny(nb, x4, i4)
		n5 := f.stepAny(nb, x5, i5)
		n6 := f.stepAny(nb, x6, i6)
		n7 := f.stepAny(nb, x7, i7)
		// every lane on its leaf (a leaf points at itself): leaf-wise trees are
		// much deeper than their typical path
		moved := (n0 ^ i0) | (n1 ^ i1) | (n2 ^ i2) | (n3 ^ i3) | (n4 ^ i4) | (n5 ^ i5) | (n6 ^ i6) | (n7 ^ i7)
		i0, i1, i2, i3, i4, i5, i6, i7 = n0, n1, n2, n3, n4, n5, n6, n7
		if moved == 0 {
			break
		}
	}
	return [lanes]int32{i0, i1, i2, i3, i4, i5, i6, i7}
}

// predictRow walks 8 trees of one row in lock-step (single-row scoring),
// adding the leaves in tree order.
func (f *forest64) predictRow(row []float64, margin []float64, hasNaN bool) {
	nb := unsafe.Pointer(unsafe.SliceData(f.nodes))
	x := unsafe.Pointer(unsafe.SliceData(row))
	leaf := f.leaf
	nt := len(f.roots)
	t0 := 0
	for ; t0+lanes <= nt; t0 += lanes {
		r := f.roots[t0 : t0+lanes : t0+lanes]
		i0, i1, i2, i3, i4, i5, i6, i7 := r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
		depth := slices.Max(f.depth[t0 : t0+lanes]) // the lanes walk in lock-step to the deepest
		switch {
		case f.general:
			for d := int32(0); d < depth; d++ {
				n0 := f.stepAny(nb, x, i0)
				n1 := f.stepAny(nb, x, i1)
				n2 := f.stepAny(nb, x, i2)
				n3 := f.stepAny(nb, x, i3)
				n4 := f.stepAny(nb, x, i4)
				n5 := f.stepAny(nb, x, i5)
				n6 := f.stepAny(nb, x, i6)
				n7 := f.stepAny(nb, x, i7)
				moved := (n0 ^ i0) | (n1 ^ i1) | (n2 ^ i2) | (n3 ^ i3) | (n4 ^ i4) | (n5 ^ i5) | (n6 ^ i6) | (n7 ^ i7)
				i0, i1, i2, i3, i4, i5, i6, i7 = n0, n1, n2, n3, n4, n5, n6, n7
				if moved == 0 {
					break
				}
			}
		case hasNaN:
			for d := int32(0); d < depth; d++ {
				n0 := stepNaN64(nb, x, i0)
				n1 := stepNaN64(nb, x, i1)
				n2 := stepNaN64(nb, x, i2)
				n3 := stepNaN64(nb, x, i3)
				n4 := stepNaN64(nb, x, i4)
				n5 := stepNaN64(nb, x, i5)
				n6 := stepNaN64(nb, x, i6)
				n7 := stepNaN64(nb, x, i7)
				moved := (n0 ^ i0) | (n1 ^ i1) | (n2 ^ i2) | (n3 ^ i3) | (n4 ^ i4) | (n5 ^ i5) | (n6 ^ i6) | (n7 ^ i7)
				i0, i1, i2, i3, i4, i5, i6, i7 = n0, n1, n2, n3, n4, n5, n6, n7
				if moved == 0 {
					break
				}
			}
		default:
			for d := int32(0); d < depth; d++ {
				n0 := step64(nb, x, i0)
				n1 := step64(nb, x, i1)
				n2 := step64(nb, x, i2)
				n3 := step64(nb, x, i3)
				n4 := step64(nb, x, i4)
				n5 := step64(nb, x, i5)
				n6 := step64(nb, x, i6)
				n7 := step64(nb, x, i7)
				moved := (n0 ^ i0) | (n1 ^ i1) | (n2 ^ i2) | (n3 ^ i3) | (n4 ^ i4) | (n5 ^ i5) | (n6 ^ i6) | (n7 ^ i7)
				i0, i1, i2, i3, i4, i5, i6, i7 = n0, n1, n2, n3, n4, n5, n6, n7
				if moved == 0 {
					break
				}
			}
		}
		g := f.group[t0 : t0+lanes : t0+lanes]
		// in tree order: the float64 sum must match the library's
		margin[g[0]] += leaf[i0]
		margin[g[1]] += leaf[i1]
		margin[g[2]] += leaf[i2]
		margin[g[3]] += leaf[i3]
		margin[g[4]] += leaf[i4]
		margin[g[5]] += leaf[i5]
		margin[g[6]] += leaf[i6]
		margin[g[7]] += leaf[i7]
	}
	for ; t0 < nt; t0++ {
		margin[f.group[t0]] += leaf[f.walk(f.roots[t0], int(f.depth[t0]), row)]
	}
}

// walk returns the leaf one row reaches in one tree.
func (f *forest64) walk(i int32, depth int, row []float64) int32 {
	nb := unsafe.Pointer(unsafe.SliceData(f.nodes))
	x := unsafe.Pointer(unsafe.SliceData(row[:f.nFeature]))
	for d := 0; d < depth; d++ {
		i = f.stepAny(nb, x, i)
	}
	return i
}

// describe is the forest's detail line for Describe.
func (f *forest64) describe() string {
	s := fmt.Sprintf("%d nodes, max depth %d, %d output group(s)", len(f.nodes), f.maxDepth, f.nGroup)
	if f.nCat > 0 {
		s += fmt.Sprintf(", %d categorical splits", f.nCat)
	}
	if f.nZero > 0 {
		s += fmt.Sprintf(", %d zero-as-missing splits", f.nZero)
	}
	return s
}
