package features

import (
	"fmt"
	"strconv"
)

// Bucketize is scikit-learn's KBinsDiscretizer: the bin of x among Edges (the
// inner edges, bin_edges_[j][1:-1]), as an ordinal number or one-hot columns.
type Bucketize struct {
	Edges  []float64 `json:"edges" bundle:"required"`
	Encode string    `json:"encode,omitempty"` // ordinal (default) | onehot
}

// Op implements Step.
func (Bucketize) Op() string { return "bucketize" }

func (s Bucketize) compile(c *chain, k kind) (kind, error) {
	if err := needs(k, kindNum, kindTime); err != nil { // a timestamp is epoch milliseconds
		return k, err
	}
	if len(s.Edges) > MaxEdges {
		return k, fmt.Errorf("%d edges, more than the limit of %d", len(s.Edges), MaxEdges)
	}
	for i, e := range s.Edges {
		if !finite(e) {
			return k, fmt.Errorf("edges[%d] is not finite", i)
		}
		if i > 0 && e < s.Edges[i-1] {
			return k, fmt.Errorf("edges must be ascending (edges[%d] < edges[%d])", i, i-1)
		}
	}
	c.p.edges = append(c.p.edges, s.Edges)
	ei := int32(len(c.p.edges) - 1)
	switch s.Encode {
	case "", "ordinal":
		c.emit(step{op: opBucket, a: ei})
		return kindNum, nil
	case "onehot":
		var first int32
		for b := 0; b <= len(s.Edges); b++ {
			col, err := c.column(c.name + "_" + strconv.Itoa(b))
			if err != nil {
				return k, err
			}
			if b == 0 {
				first = col
			}
		}
		c.emit(step{op: opBucketOneHot, a: ei, b: first})
		return kindDone, nil
	default:
		return k, fmt.Errorf("encode %q (want ordinal or onehot)", s.Encode)
	}
}
