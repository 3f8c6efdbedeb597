package schemas

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/internal/civil"
	"github.com/streamscore/streamscore/reject"
)

// An avroPlan is a writer schema compiled against the declared fields: a
// tree of ops that walks the Avro binary once, skipping what no input needs
// and converting the rest straight into row slots. Fields are matched by
// name (the Avro resolution rule), so a writer schema that adds fields or
// lacks optional ones works; a declared input the writer lacks is missing.
type avroPlan struct {
	root     *aop
	problems []string // field type mismatches found at compile time
	absent   []string // declared input paths the writer schema lacks
}

type opKind uint8

const (
	opSkip   opKind = iota // value no input needs
	opRecord               // record with declared fields inside
	opUnion                // union: pick the branch op
	opLeaf                 // value for the node's targets
	opWrong                // value whose type can never fill its input: wrong_type unless null
)

type aop struct {
	kind     opKind
	typ      *avroType
	fields   []*aop // opRecord, in writer order
	branches []*aop // opUnion
	node     *fieldNode
	wrong    string // opWrong: message
}

func compilePlan(t *avroType, root *fieldNode) *avroPlan {
	p := &avroPlan{}
	seen := map[*fieldNode]bool{}
	p.root = p.compile(t, root, seen)
	var walk func(n *fieldNode)
	walk = func(n *fieldNode) {
		if n != root && !seen[n] && n.hasRowTarget() {
			p.absent = append(p.absent, n.path)
		}
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(root)
	return p
}

func (p *avroPlan) compile(t *avroType, n *fieldNode, seen map[*fieldNode]bool) *aop {
	if n == nil {
		return &aop{kind: opSkip, typ: t}
	}
	seen[n] = true
	if t.kind == aUnion {
		u := &aop{kind: opUnion, typ: t, node: n}
		for _, b := range t.branches {
			u.branches = append(u.branches, p.compile(b, n, seen))
		}
		return u
	}
	if t.kind == aNull {
		return &aop{kind: opLeaf, typ: t, node: n}
	}
	if t.kind == aRecord && n.children != nil && !n.hasRowTarget() {
		r := &aop{kind: opRecord, typ: t, node: n}
		for _, f := range t.fields {
			r.fields = append(r.fields, p.compile(f.typ, n.children[f.name], seen))
		}
		return r
	}
	if n.children != nil && !n.hasRowTarget() {
		msg := fmt.Sprintf("avro %s where a record holding declared fields is expected", t.kind)
		p.problems = append(p.problems, n.path+": "+msg)
		return &aop{kind: opWrong, typ: t, node: n, wrong: msg}
	}
	for i := range n.targets {
		tg := &n.targets[i]
		if tg.isEventID() {
			continue
		}
		if !avroFits(t, tg.typ) {
			msg := fmt.Sprintf("avro %s cannot fill a %s input", t.kind, tg.typ)
			p.problems = append(p.problems, tg.path+": "+msg)
			return &aop{kind: opWrong, typ: t, node: n, wrong: msg}
		}
	}
	return &aop{kind: opLeaf, typ: t, node: n}
}

// avroFits says whether a writer type can ever fill an input type.
func avroFits(t *avroType, in features.InputType) bool {
	switch in {
	case features.Bool:
		return t.kind == aBoolean
	case features.Number:
		switch t.kind {
		case aInt, aLong, aFloat, aDouble, aString: // string: only with NumericStrings, checked per record
			return true
		}
	case features.Timestamp:
		switch t.kind {
		case aInt, aLong, aFloat, aDouble, aString:
			return true
		}
	case features.Category:
		switch t.kind {
		case aString, aBytes, aEnum, aInt, aLong:
			return t.logical != "decimal"
		}
	}
	return false
}

// startupCheck is applied to a configured writer schema (format avro): a
// required input it lacks, or a field that can never fill its input, is a
// configuration error rather than a stream of poison records.
func (p *avroPlan) startupCheck(ft fieldTree) error {
	var errs []string
	for _, r := range ft.required {
		for _, a := range p.absent {
			if a == r.path {
				errs = append(errs, r.path+": required input is not in the writer schema")
			}
		}
	}
	errs = append(errs, p.problems...)
	if !ft.numericStrings {
		// Strings for number inputs only work with NumericStrings.
		var walk func(o *aop)
		walk = func(o *aop) {
			switch o.kind {
			case opRecord:
				for _, f := range o.fields {
					walk(f)
				}
			case opUnion:
				for _, b := range o.branches {
					walk(b)
				}
			case opLeaf:
				if o.typ.kind == aString {
					for _, t := range o.node.targets {
						if t.typ == features.Number && !t.isEventID() {
							errs = append(errs, t.path+": avro string fills a number input only with numeric strings on")
						}
					}
				}
			}
		}
		walk(p.root)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrIncompatible, strings.Join(errs, "; "))
	}
	return nil
}

// avroRunner executes plans. It is embedded by both Avro decoders.
type avroRunner struct {
	fieldTree
	arena arena
	depth int
}

var errAvroEOF = errors.New("unexpected end of avro data")

func (r *avroRunner) run(p *avroPlan, b []byte) (Meta, error) {
	r.depth = 0
	pos, err := r.exec(p.root, b, 0)
	if err != nil {
		return Meta{}, err
	}
	if pos != len(b) {
		return Meta{}, malformed("%d bytes left after the avro record", len(b)-pos)
	}
	return r.finish()
}

const maxAvroDepth = 64

func (r *avroRunner) exec(o *aop, b []byte, pos int) (int, error) {
	switch o.kind {
	case opSkip:
		return r.skip(o.typ, b, pos)
	case opRecord:
		r.depth++
		if r.depth > maxAvroDepth {
			return pos, tooLarge("avro nesting deeper than %d", maxAvroDepth)
		}
		for _, f := range o.fields {
			var err error
			if pos, err = r.exec(f, b, pos); err != nil {
				return pos, err
			}
		}
		r.depth--
		return pos, nil
	case opUnion:
		idx, next, err := readLong(b, pos)
		if err != nil {
			return pos, err
		}
		if idx < 0 || idx >= int64(len(o.branches)) {
			return pos, malformed("union index %d out of range at offset %d", idx, pos)
		}
		return r.exec(o.branches[idx], b, next)
	case opWrong:
		if o.typ.kind == aNull {
			return pos, nil
		}
		if _, err := r.skip(o.typ, b, pos); err != nil {
			return pos, err
		}
		field := o.node.path
		if t := firstRowTarget(o.node); t != nil {
			field = t.path
		}
		return pos, &reject.Error{Reason: reject.WrongType, Field: field, Err: errorString(o.wrong)}
	}
	return r.leaf(o, b, pos)
}

func (r *avroRunner) leaf(o *aop, b []byte, pos int) (int, error) {
	n := o.node
	t := o.typ
	switch t.kind {
	case aNull:
		return pos, nil
	case aBoolean:
		if pos >= len(b) {
			return pos, malformed("%v", errAvroEOF)
		}
		if b[pos] > 1 {
			return pos, malformed("boolean byte %d at offset %d", b[pos], pos)
		}
		for k := range n.targets {
			if err := r.setBool(&n.targets[k], b[pos] == 1); err != nil {
				return pos, err
			}
		}
		return pos + 1, nil
	case aInt, aLong:
		v, next, err := readLong(b, pos)
		if err != nil {
			return pos, err
		}
		if t.kind == aInt && (v < math.MinInt32 || v > math.MaxInt32) {
			return pos, malformed("int out of range at offset %d", pos)
		}
		for k := range n.targets {
			tg := &n.targets[k]
			switch {
			case tg.isEventID() || tg.typ == features.Category:
				r.arena.reserve(20)
				mark := len(r.arena.buf)
				r.arena.buf = strconv.AppendInt(r.arena.buf, v, 10)
				if err := r.setText(tg, r.arena.since(mark), ""); err != nil {
					return pos, err
				}
			case tg.typ == features.Timestamp:
				r.row.Num[tg.slot] = epochMillis(v, t.logical)
			default:
				r.row.Num[tg.slot] = float64(v)
			}
		}
		return next, nil
	case aFloat, aDouble:
		var v float64
		if t.kind == aFloat {
			if len(b)-pos < 4 {
				return pos, malformed("%v", errAvroEOF)
			}
			v = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[pos:])))
			pos += 4
		} else {
			if len(b)-pos < 8 {
				return pos, malformed("%v", errAvroEOF)
			}
			v = math.Float64frombits(binary.LittleEndian.Uint64(b[pos:]))
			pos += 8
		}
		for k := range n.targets {
			tg := &n.targets[k]
			if tg.isEventID() {
				continue
			}
			if err := r.setFloat(tg, v); err != nil {
				return pos, err
			}
		}
		return pos, nil
	case aString, aBytes:
		s, next, err := readBytes(b, pos)
		if err != nil {
			return pos, err
		}
		for k := range n.targets {
			if err := r.setText(&n.targets[k], s, "an avro string"); err != nil {
				return pos, err
			}
		}
		return next, nil
	case aEnum:
		v, next, err := readLong(b, pos)
		if err != nil {
			return pos, err
		}
		if v < 0 || v >= int64(len(t.symbols)) {
			return pos, malformed("enum index %d out of range at offset %d", v, pos)
		}
		for k := range n.targets {
			if err := r.setText(&n.targets[k], t.symbols[v], ""); err != nil {
				return pos, err
			}
		}
		return next, nil
	}
	// Only the event id can sit on other kinds (compile rejects the rest): skip.
	return r.skip(t, b, pos)
}

// epochMillis converts an Avro integer to epoch milliseconds by its logical type.
func epochMillis(v int64, logical string) float64 {
	switch logical {
	case "timestamp-micros", "local-timestamp-micros":
		return float64(civil.FloorDiv(v, 1000))
	case "timestamp-nanos", "local-timestamp-nanos":
		return float64(civil.FloorDiv(v, 1000000))
	case "date":
		return float64(v) * 86400000
	}
	return float64(v)
}

// skip steps over one value of type t, checking its framing.
func (r *avroRunner) skip(t *avroType, b []byte, pos int) (int, error) {
	if t.width >= 0 {
		if len(b)-pos < t.width {
			return pos, malformed("%v", errAvroEOF)
		}
		return pos + t.width, nil
	}
	r.depth++
	defer func() { r.depth-- }()
	if r.depth > maxAvroDepth {
		return pos, tooLarge("avro nesting deeper than %d", maxAvroDepth)
	}
	switch t.kind {
	case aBoolean:
		if pos >= len(b) {
			return pos, malformed("%v", errAvroEOF)
		}
		if b[pos] > 1 {
			return pos, malformed("boolean byte %d at offset %d", b[pos], pos)
		}
		return pos + 1, nil
	case aInt, aLong, aEnum:
		v, next, err := readLong(b, pos)
		if err != nil {
			return pos, err
		}
		if t.kind == aInt && (v < math.MinInt32 || v > math.MaxInt32) {
			return pos, malformed("int out of range at offset %d", pos)
		}
		if t.kind == aEnum && (v < 0 || v >= int64(len(t.symbols))) {
			return pos, malformed("enum index %d out of range at offset %d", v, pos)
		}
		return next, nil
	case aString, aBytes:
		_, next, err := readBytes(b, pos)
		return next, err
	case aRecord:
		for _, f := range t.fields {
			var err error
			if pos, err = r.skip(f.typ, b, pos); err != nil {
				return pos, err
			}
		}
		return pos, nil
	case aUnion:
		idx, next, err := readLong(b, pos)
		if err != nil {
			return pos, err
		}
		if idx < 0 || idx >= int64(len(t.branches)) {
			return pos, malformed("union index %d out of range at offset %d", idx, pos)
		}
		return r.skip(t.branches[idx], b, next)
	case aArray, aMap:
		for {
			count, next, err := readLong(b, pos)
			if err != nil {
				return pos, err
			}
			pos = next
			if count == 0 {
				return pos, nil
			}
			if count < 0 {
				if count == math.MinInt64 {
					return pos, malformed("bad block count at offset %d", pos)
				}
				count = -count
				size, next, err := readLong(b, pos)
				if err != nil {
					return pos, err
				}
				if size < 0 || size > int64(len(b)-next) {
					return pos, malformed("bad block size %d at offset %d", size, pos)
				}
				// The block size lets us jump, but items are still checked
				// below so hostile sizes cannot desynchronise us silently.
				pos = next
			}
			itemW := t.items.width
			if t.kind == aMap {
				itemW = -1 // keys are strings
			}
			if itemW >= 0 {
				if itemW > 0 && count > int64(len(b)-pos)/int64(itemW) {
					return pos, malformed("array of %d items overruns the record", count)
				}
				pos += int(count) * itemW
				continue
			}
			if count > int64(len(b)-pos) { // every item takes at least one byte
				return pos, malformed("block of %d items overruns the record", count)
			}
			for k := int64(0); k < count; k++ {
				if t.kind == aMap {
					if _, pos, err = readBytes(b, pos); err != nil {
						return pos, err
					}
				}
				if pos, err = r.skip(t.items, b, pos); err != nil {
					return pos, err
				}
			}
		}
	}
	return pos, malformed("cannot skip avro %s", t.kind)
}

// readLong reads a zig-zag varint of at most 10 bytes.
func readLong(b []byte, pos int) (int64, int, error) {
	var u uint64
	for shift := uint(0); shift < 70; shift += 7 {
		if pos >= len(b) {
			return 0, pos, malformed("%v", errAvroEOF)
		}
		c := b[pos]
		pos++
		if shift == 63 && c > 1 {
			return 0, pos, malformed("varint overflows 64 bits at offset %d", pos-1)
		}
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), pos, nil
		}
	}
	return 0, pos, malformed("varint longer than 10 bytes at offset %d", pos)
}

func readBytes(b []byte, pos int) ([]byte, int, error) {
	n, next, err := readLong(b, pos)
	if err != nil {
		return nil, pos, err
	}
	if n < 0 || n > int64(len(b)-next) {
		return nil, pos, malformed("string length %d at offset %d overruns the record", n, pos)
	}
	end := next + int(n)
	return b[next:end:end], end, nil
}

// avroDecoder decodes raw Avro binary written with one configured schema.
type avroDecoder struct {
	avroRunner
	plan *avroPlan
}

func (d *avroDecoder) Decode(b []byte, row *features.Row) (Meta, error) {
	if err := d.start(b, row); err != nil {
		return Meta{}, err
	}
	return d.run(d.plan, b)
}
