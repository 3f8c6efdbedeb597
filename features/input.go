package features

import (
	"fmt"
	"math"
	"strings"
)

// InputType is the declared type of one raw event field.
type InputType string

// The input types a bundle may declare.
const (
	Number    InputType = "number"    // any finite float64
	Category  InputType = "category"  // a string drawn from a known set
	Timestamp InputType = "timestamp" // RFC 3339 string or epoch milliseconds; stored as epoch milliseconds
	Bool      InputType = "bool"      // true/false; stored as 1/0
)

// Input declares one raw field of an event, as the bundle's "inputs" list does.
type Input struct {
	Name       string      `json:"name"`
	Type       InputType   `json:"type"`
	Required   bool        `json:"required,omitempty"`
	Path       string      `json:"path,omitempty"`       // dotted path in the event; defaults to Name
	Range      *[2]float64 `json:"range,omitempty"`      // training range [min, max] for numbers, informational
	Categories []string    `json:"categories,omitempty"` // categories seen in training, informational
}

// FieldPath is the dotted path of the field in the decoded event.
func (in Input) FieldPath() []string {
	if in.Path != "" {
		return strings.Split(in.Path, ".")
	}
	return []string{in.Name}
}

// Layout assigns every declared input a fixed slot in a Row: numbers, bools
// and timestamps in Row.Num, categories in Row.Cat. Decoders write straight
// into these slots so the hot path never builds a map per record.
type Layout struct {
	Inputs []Input
	slots  []int // slots[i] is the index of Inputs[i] in Row.Num or Row.Cat
	nNum   int
	nCat   int
	byName map[string]int
}

// NewLayout validates the declared inputs and assigns their slots.
func NewLayout(inputs []Input) (*Layout, error) {
	l := &Layout{Inputs: inputs, slots: make([]int, len(inputs)), byName: make(map[string]int, len(inputs))}
	for i, in := range inputs {
		if in.Name == "" {
			return nil, fmt.Errorf("input %d: empty name", i)
		}
		if _, dup := l.byName[in.Name]; dup {
			return nil, fmt.Errorf("input %q: declared twice", in.Name)
		}
		l.byName[in.Name] = i
		switch in.Type {
		case Number, Timestamp, Bool:
			l.slots[i] = l.nNum
			l.nNum++
		case Category:
			l.slots[i] = l.nCat
			l.nCat++
		default:
			return nil, fmt.Errorf("input %q: unknown type %q (want number, category, timestamp or bool)", in.Name, in.Type)
		}
		if in.Range != nil && !(in.Range[0] <= in.Range[1]) {
			return nil, fmt.Errorf("input %q: range %v is not [min, max]", in.Name, *in.Range)
		}
	}
	return l, nil
}

// Slot returns the slot of input i in Row.Num (number, bool, timestamp) or Row.Cat (category).
func (l *Layout) Slot(i int) int { return l.slots[i] }

// Index returns the position of the named input in Inputs, or -1.
func (l *Layout) Index(name string) int {
	if i, ok := l.byName[name]; ok {
		return i
	}
	return -1
}

// NumSlots and CatSlots are the sizes of Row.Num and Row.Cat.
func (l *Layout) NumSlots() int { return l.nNum }
func (l *Layout) CatSlots() int { return l.nCat }

// NewRow returns an empty row (every slot missing) for this layout.
func (l *Layout) NewRow() *Row {
	r := &Row{Num: make([]float64, l.nNum), Cat: make([][]byte, l.nCat)}
	r.Reset()
	return r
}

// Row is one event in the slots of a Layout. A missing number is NaN, a
// missing category is nil. Category bytes may point into a decoder's buffer:
// they are valid until the next decode into the same row.
type Row struct {
	Num []float64
	Cat [][]byte
}

// Reset marks every slot missing, so a Row can be reused without allocating.
func (r *Row) Reset() {
	nan := math.NaN()
	for i := range r.Num {
		r.Num[i] = nan
	}
	for i := range r.Cat {
		r.Cat[i] = nil
	}
}
