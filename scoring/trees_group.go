package scoring

import (
	"math"
	"slices"
	"unsafe"
)

// The scikit-learn kinds walk their trees with the kernels in this file.
// scikit-learn's forests grow to any depth and most rows end far above
// the deepest leaf, and the walk waits on node loads more than it
// computes. So, unlike walk8 (XGBoost's fixed-depth trees):
//
//   - rows go in groups of 8, stored feature-major (value f of lane k at
//     byte f × groupFeatBytes + 4k of the group; the nodes' feat fields hold
//     f × groupFeatBytes): one base pointer instead of eight, so the lanes'
//     indices stay in registers and a step is a few instructions;
//   - 16 rows (two groups) are walked at once, to keep more loads in flight;
//   - every deepChunk levels the walk stops once all rows are on leaves.
//
// A group has one column more than the model, always 0: the column leaves
// point at, so that a missing-value test never moves a leaf.

// groupFeatBytes is the size of one column of a group of rows.
const groupFeatBytes = 4 * lanes

// deepChunk is how many levels the group walks take between their checks.
const deepChunk = 4

// stepT moves lane k of the group at xt one level down from node i.
func stepT(nb, xt unsafe.Pointer, k uintptr, i uint32) uint32 {
	nd := (*node)(unsafe.Add(nb, uintptr(i)*unsafe.Sizeof(node{})))
	v := *(*float32)(unsafe.Add(xt, uintptr(nd.feat)+4*k))
	var s uint32
	if v >= nd.cond {
		s = 1
	}
	return uint32(nd.left) + s
}

// stepTNaN is stepT with missing values: NaN takes the node's default
// direction (the leaf field of an internal node, 0 or 1).
func stepTNaN(nb, xt unsafe.Pointer, k uintptr, i uint32) uint32 {
	nd := (*node)(unsafe.Add(nb, uintptr(i)*unsafe.Sizeof(node{})))
	v := *(*float32)(unsafe.Add(xt, uintptr(nd.feat)+4*k))
	var s uint32
	if v >= nd.cond {
		s = 1
	}
	if v != v {
		s = math.Float32bits(nd.leaf)
	}
	return uint32(nd.left) + s
}

// leafAt reports whether node i is a leaf (a leaf points at itself).
func leafAt(nb unsafe.Pointer, i uint32) bool {
	return uint32((*node)(unsafe.Add(nb, uintptr(i)*unsafe.Sizeof(node{}))).left) == i
}

// walkGroups walks the two groups at xa and xb (16 rows) through the tree
// at root.
func walkGroups(nb, xa, xb unsafe.Pointer, root uint32, depth int) ([lanes]uint32, [lanes]uint32) {
	a0, a1, a2, a3, a4, a5, a6, a7 := root, root, root, root, root, root, root, root
	b0, b1, b2, b3, b4, b5, b6, b7 := root, root, root, root, root, root, root, root
	for d := 0; d < depth; d += deepChunk {
		for range min(deepChunk, depth-d) {
			a0 = stepT(nb, xa, 0, a0)
			a1 = stepT(nb, xa, 1, a1)
			a2 = stepT(nb, xa, 2, a2)
			a3 = stepT(nb, xa, 3, a3)
			a4 = stepT(nb, xa, 4, a4)
			a5 = stepT(nb, xa, 5, a5)
			a6 = stepT(nb, xa, 6, a6)
			a7 = stepT(nb, xa, 7, a7)
			b0 = stepT(nb, xb, 0, b0)
			b1 = stepT(nb, xb, 1, b1)
			b2 = stepT(nb, xb, 2, b2)
			b3 = stepT(nb, xb, 3, b3)
			b4 = stepT(nb, xb, 4, b4)
			b5 = stepT(nb, xb, 5, b5)
			b6 = stepT(nb, xb, 6, b6)
			b7 = stepT(nb, xb, 7, b7)
		}
		if d+deepChunk < depth && leafAt(nb, a0) && leafAt(nb, a1) && leafAt(nb, a2) && leafAt(nb, a3) &&
			leafAt(nb, a4) && leafAt(nb, a5) && leafAt(nb, a6) && leafAt(nb, a7) &&
			leafAt(nb, b0) && leafAt(nb, b1) && leafAt(nb, b2) && leafAt(nb, b3) &&
			leafAt(nb, b4) && leafAt(nb, b5) && leafAt(nb, b6) && leafAt(nb, b7) {
			break
		}
	}
	return [lanes]uint32{a0, a1, a2, a3, a4, a5, a6, a7}, [lanes]uint32{b0, b1, b2, b3, b4, b5, b6, b7}
}

// walkGroup walks one group (8 rows) through the tree at root, missing
// values taking each node's default direction when nan is set.
func walkGroup(nb, xt unsafe.Pointer, root uint32, depth int, nan bool) [lanes]uint32 {
	i0, i1, i2, i3, i4, i5, i6, i7 := root, root, root, root, root, root, root, root
	for d := 0; d < depth; d += deepChunk {
		if nan {
			for range min(deepChunk, depth-d) {
				i0 = stepTNaN(nb, xt, 0, i0)
				i1 = stepTNaN(nb, xt, 1, i1)
				i2 = stepTNaN(nb, xt, 2, i2)
				i3 = stepTNaN(nb, xt, 3, i3)
				i4 = stepTNaN(nb, xt, 4, i4)
				i5 = stepTNaN(nb, xt, 5, i5)
				i6 = stepTNaN(nb, xt, 6, i6)
				i7 = stepTNaN(nb, xt, 7, i7)
			}
		} else {
			for range min(deepChunk, depth-d) {
				i0 = stepT(nb, xt, 0, i0)
				i1 = stepT(nb, xt, 1, i1)
				i2 = stepT(nb, xt, 2, i2)
				i3 = stepT(nb, xt, 3, i3)
				i4 = stepT(nb, xt, 4, i4)
				i5 = stepT(nb, xt, 5, i5)
				i6 = stepT(nb, xt, 6, i6)
				i7 = stepT(nb, xt, 7, i7)
			}
		}
		if d+deepChunk < depth && leafAt(nb, i0) && leafAt(nb, i1) && leafAt(nb, i2) && leafAt(nb, i3) &&
			leafAt(nb, i4) && leafAt(nb, i5) && leafAt(nb, i6) && leafAt(nb, i7) {
			break
		}
	}
	return [lanes]uint32{i0, i1, i2, i3, i4, i5, i6, i7}
}

// treesOfLane walks lane k of the group at xt through trees t0..t0+7 at
// once (single-row scoring, where there are no rows to interleave).
func (e *treeEnsemble) treesOfLane(xt unsafe.Pointer, k uintptr, t0 int, nan bool) [lanes]uint32 {
	nb := unsafe.Pointer(unsafe.SliceData(e.nodes))
	x := unsafe.Add(xt, 4*k)
	r := e.roots[t0 : t0+lanes : t0+lanes]
	i0, i1, i2, i3, i4, i5, i6, i7 := uint32(r[0]), uint32(r[1]), uint32(r[2]), uint32(r[3]), uint32(r[4]), uint32(r[5]), uint32(r[6]), uint32(r[7])
	depth := slices.Max(e.depth[t0 : t0+lanes]) // the lanes walk in lock-step to the deepest
	for d := int32(0); d < depth; d += deepChunk {
		for range min(deepChunk, depth-d) {
			if nan {
				i0 = stepTNaN(nb, x, 0, i0)
				i1 = stepTNaN(nb, x, 0, i1)
				i2 = stepTNaN(nb, x, 0, i2)
				i3 = stepTNaN(nb, x, 0, i3)
				i4 = stepTNaN(nb, x, 0, i4)
				i5 = stepTNaN(nb, x, 0, i5)
				i6 = stepTNaN(nb, x, 0, i6)
				i7 = stepTNaN(nb, x, 0, i7)
			} else {
				i0 = stepT(nb, x, 0, i0)
				i1 = stepT(nb, x, 0, i1)
				i2 = stepT(nb, x, 0, i2)
				i3 = stepT(nb, x, 0, i3)
				i4 = stepT(nb, x, 0, i4)
				i5 = stepT(nb, x, 0, i5)
				i6 = stepT(nb, x, 0, i6)
				i7 = stepT(nb, x, 0, i7)
			}
		}
		if d+deepChunk < depth && leafAt(nb, i0) && leafAt(nb, i1) && leafAt(nb, i2) && leafAt(nb, i3) &&
			leafAt(nb, i4) && leafAt(nb, i5) && leafAt(nb, i6) && leafAt(nb, i7) {
			break
		}
	}
	return [lanes]uint32{i0, i1, i2, i3, i4, i5, i6, i7}
}

// walkLane returns the leaf lane k of the group at xt reaches in tree t.
func (e *treeEnsemble) walkLane(xt unsafe.Pointer, k uintptr, t int) uint32 {
	nb := unsafe.Pointer(unsafe.SliceData(e.nodes))
	i := uint32(e.roots[t])
	for d := int32(0); d < e.depth[t]; d++ {
		i = stepTNaN(nb, xt, k, i)
	}
	return i
}

// groupFloats is the size of one group of rows of w columns (and the zero
// column).
func groupFloats(w int) int { return (w + 1) * lanes }

// toFloat32Groups converts n rows of w float64 values into groups of 8
// rows, feature-major, each with the zero column; a last, partial group is
// padded with copies of the last row. It reports whether src holds a NaN.
func toFloat32Groups(dst []float32, src []float64, n, w int) bool {
	nan := false
	gs := groupFloats(w)
	for r := 0; r < (n+lanes-1)/lanes*lanes; r++ {
		row := src[min(r, n-1)*w : (min(r, n-1)+1)*w]
		g := dst[r/lanes*gs : (r/lanes+1)*gs]
		k := r % lanes
		for f, v := range row {
			g[f*lanes+k] = float32(v)
			if v != v {
				nan = true
			}
		}
		g[w*lanes+k] = 0
	}
	return nan
}
