package predict

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/streamscore/streamscore/drift"
	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// Path is a bundle bound to its input decoder and output encoder.
type Path struct {
	bundle     *scoring.Bundle
	newDecoder func() (schemas.Decoder, error)
	enc        schemas.Encoder
	echo       bool
	modelRef   string
	origin     Origin
	drift      *drift.Histograms // nil: the bundle has no drift statistics
}

// Origin says where a path's bundle came from and when it was loaded: what
// /v1/models, the OIP model metadata and the reload log show. A path built
// without one (tests, files) has the zero Origin.
type Origin struct {
	Source        string    // the configured path, as written (model.bundle, model.canary, model.shadow)
	Dir           string    // the directory the files were read from, symlinks resolved
	Checksum      string    // "sha256:<hex>" over the bundle's files, computed at load
	LoadedAt      time.Time // when it was loaded
	ReferenceRows int       // reference rows it was checked against before it served (0: none)
}

// Role is the part a path plays in a door's lineup of models.
type Role string

// The roles: the live model scores every event (every key not routed to a
// canary); a canary scores a share of the keys in its place, into the same
// output; a shadow scores every event beside them into a side topic only.
const (
	RoleLive   Role = "live"
	RoleCanary Role = "canary"
	RoleShadow Role = "shadow"
)

// Roles lists the roles in their order of precedence.
var Roles = []Role{RoleLive, RoleCanary, RoleShadow}

// New returns the path of bundle b: events are decoded by decoders from
// newDecoder (one per Batch, since a decoder is not safe for concurrent use)
// and predictions encoded by enc (safe for concurrent use). echo includes the
// model's feature vector in each prediction.
func New(b *scoring.Bundle, newDecoder func() (schemas.Decoder, error), enc schemas.Encoder, echo bool) *Path {
	return &Path{bundle: b, newDecoder: newDecoder, enc: enc, echo: echo, modelRef: b.Name + "@" + b.Version,
		drift: drift.New(b)}
}

// Bundle is the bundle that scores every event of this path.
func (p *Path) Bundle() *scoring.Bundle { return p.bundle }

// ModelRef is "name@version", as the streamscore-model header shows it.
func (p *Path) ModelRef() string { return p.modelRef }

// WithOrigin returns a copy of p that says where its bundle came from.
func (p *Path) WithOrigin(o Origin) *Path {
	q := *p
	q.origin = o
	return &q
}

// Origin is where p's bundle came from (the zero Origin when not told).
func (p *Path) Origin() Origin { return p.origin }

// Drift is the bundle's compiled training distributions, or nil when it has
// none.
func (p *Path) Drift() *drift.Histograms { return p.drift }

// Event is one input: the record value, and what the door knows besides it.
type Event struct {
	Value []byte
	Key   []byte    // the record key (the stream); nil when none: then input.key_field, if set
	Time  time.Time // the record timestamp; zero when none. input.event_time_field, if set, wins
}

// Result is the outcome for one event: an encoded prediction (Value) or a
// reject (Reject, Stage, Err).
type Result struct {
	Value  []byte        // the encoded prediction; nil when rejected
	Reject reject.Reason // "" when scored
	Stage  reject.Stage  // where it was rejected
	Field  string        // the input, feature or model column at fault; may be empty
	Err    string        // the detail, e.g. "wrong_type: field amount: a string where a number is expected"
	Score  float64       // when scored
	Label  string        // when scored; points at the bundle's strings
	// Key is the prediction's key: the event's record key, or its
	// input.key_field (nil when neither; for a decode reject, only if the
	// decoder read it before the fault). A door that logs predictions to
	// Kafka keys them with it.
	Key []byte
}

// Timings are the durations of the stages of one Run.
type Timings struct {
	Decode   time.Duration // bytes -> rows
	Features time.Duration // rows -> features -> model -> policy
	Encode   time.Duration // predictions -> bytes
}

// Batch runs micro-batches through the path. It belongs to one goroutine.
type Batch struct {
	p      *Path
	dec    schemas.Decoder
	scorer *scoring.Scorer
	layout *features.Layout

	rows    []*features.Row
	metas   []schemas.Meta
	srcIdx  []int // srcIdx[j] is the event index of rows[j]
	preds   []scoring.Prediction
	pred    schemas.Prediction
	avgLen  int // recent encoded size, to size the value slab
	timings Timings

	inputs   InputCounts
	slotKind []bool        // per input: true for a category slot
	drift    *drift.Counts // bin counts of decoded rows and scores; nil without drift statistics
}

// InputCounts say how often the bundle's inputs were present, over every
// event that decoded or failed only for a missing required input: a renamed
// upstream field, or events nested one level deeper than the bundle reads,
// show here instead of as quietly imputed predictions.
type InputCounts struct {
	Events  uint64   // events counted
	Empty   uint64   // events that carried none of the inputs
	Missing []uint64 // per input, in the bundle's order: events that lacked it (absent or null)
}

// NewBatch returns a Batch with its own decoder and scorer.
func (p *Path) NewBatch() (*Batch, error) {
	dec, err := p.newDecoder()
	if err != nil {
		return nil, err
	}
	l := p.bundle.Layout()
	b := &Batch{p: p, dec: dec, scorer: p.bundle.NewScorer(), layout: l,
		inputs: InputCounts{Missing: make([]uint64, len(l.Inputs))}, slotKind: make([]bool, len(l.Inputs))}
	for i, in := range l.Inputs {
		b.slotKind[i] = in.Type == features.Category
	}
	if p.drift != nil {
		b.drift = p.drift.NewCounts()
	}
	b.pred.Model = p.bundle.Name
	b.pred.ModelVersion = p.bundle.Version
	b.pred.Classes = p.bundle.Classes()
	if p.echo {
		b.pred.FeatureNames = p.bundle.FeatureNames()
	}
	return b, nil
}

// Timings returns the stage durations of the last Run.
func (b *Batch) Timings() Timings { return b.timings }

// Inputs returns the cumulative input counts since NewBatch. Read it from
// the owning goroutine.
func (b *Batch) Inputs() *InputCounts { return &b.inputs }

// Drift returns the cumulative bin counts since NewBatch (every decoded
// row's inputs, every model score), or nil when the bundle has no drift
// statistics. Read it from the owning goroutine.
func (b *Batch) Drift() *drift.Counts { return b.drift }

// UnknownFields names fields of the input that the bundle does not read, as
// far as the decoder keeps track of them (nil when it does not).
func (b *Batch) UnknownFields() []string {
	if r, ok := b.dec.(schemas.FieldReporter); ok {
		return r.UnknownFields()
	}
	return nil
}

// Counts returns the cumulative per-feature counts of out-of-range values
// and unknown categories.
func (b *Batch) Counts() *features.Counts { return b.scorer.Counts() }

// ErrAbandoned is returned by Run when wait gave up on a transient failure.
var ErrAbandoned = errors.New("batch abandoned")

// Run decodes, scores and encodes events and writes one Result per event
// into out (len(out) >= len(events)). now is the prediction's scored time.
//
// A decode error that is not the record's fault (the schema registry
// unreachable) is transient: Run calls wait(i, err) for event i and decodes
// it again when wait returns true; when it returns false, Run stops and returns
// ErrAbandoned, and out holds nothing usable. wait may be nil when the
// decoder cannot fail transiently; then such an error rejects the record.
//
// The encoded values live in a slab made for this call: they stay valid
// after later calls.
func (b *Batch) Run(events []Event, out []Result, now time.Time, wait func(i int, err error) bool) error {
	n := len(events)
	b.grow(n)
	t0 := time.Now()
	m := 0
	for i := range events {
		out[i] = Result{}
		meta, err := b.decode(i, events[i].Value, m, wait)
		if errors.Is(err, ErrAbandoned) {
			return err
		}
		if err != nil {
			reason, poison := reject.Of(err)
			if !poison {
				reason = reject.Internal
			}
			var re *reject.Error
			field := ""
			if errors.As(err, &re) {
				field = re.Field
			}
			if reason == reject.MissingField {
				b.countMissing(b.rows[m]) // the decoder filled the row before the required check
			}
			key := events[i].Key
			if key == nil {
				key = meta.Key // as far as the decoder got
			}
			out[i] = Result{Reject: reason, Stage: reject.StageDecode, Field: field, Err: err.Error(), Key: key}
			continue
		}
		b.countMissing(b.rows[m])
		b.metas[m] = meta
		b.srcIdx[m] = i
		m++
	}
	t1 := time.Now()
	b.score(m)
	b.countDrift(m)
	t2 := time.Now()

	slab := make([]byte, 0, m*(b.avgLen+b.avgLen/8+16))
	for j := 0; j < m; j++ {
		i := b.srcIdx[j]
		slab = b.safeEncode(slab, j, &events[i], now, &out[i])
	}
	b.timings = Timings{Decode: t1.Sub(t0), Features: t2.Sub(t1), Encode: time.Since(t2)}
	return nil
}

func (b *Batch) grow(n int) {
	for len(b.rows) < n {
		b.rows = append(b.rows, b.layout.NewRow())
	}
	if cap(b.metas) < n {
		b.metas = make([]schemas.Meta, n)
		b.srcIdx = make([]int, n)
		b.preds = make([]scoring.Prediction, n)
	}
}

func (b *Batch) countMissing(row *features.Row) {
	l := b.layout
	c := &b.inputs
	c.Events++
	n := 0
	for k, cat := range b.slotKind {
		s := l.Slot(k)
		if (cat && row.Cat[s] == nil) || (!cat && math.IsNaN(row.Num[s])) {
			c.Missing[k]++
			n++
		}
	}
	if n == len(b.slotKind) {
		c.Empty++
	}
}

// countDrift counts the decoded rows[:m] and their scores into the drift
// bins, in one pass after scoring: the histograms stay in cache for the
// whole batch instead of being fetched again between a decode and the next.
func (b *Batch) countDrift(m int) {
	if b.drift == nil {
		return
	}
	h := b.p.drift
	for j := range m {
		h.AddRow(b.drift, b.rows[j])
		if b.preds[j].Reject == "" {
			h.AddScore(b.drift, b.preds[j].Score)
		}
	}
}

// decode decodes value into row m, retrying transient failures while wait
// says so.
func (b *Batch) decode(i int, value []byte, m int, wait func(int, error) bool) (schemas.Meta, error) {
	for {
		meta, err := b.safeDecode(value, m)
		if err == nil {
			return meta, nil
		}
		if _, poison := reject.Of(err); poison || wait == nil {
			return meta, err
		}
		if !wait(i, err) {
			return meta, ErrAbandoned
		}
	}
}

// safeDecode is Decode with a recover: a decoder bug on one record becomes
// that record's reject, not a crash loop on the same input.
func (b *Batch) safeDecode(value []byte, m int) (meta schemas.Meta, err error) {
	defer func() {
		if v := recover(); v != nil {
			b.rows[m].Reset()
			err = &reject.Error{Reason: reject.Internal, Err: fmt.Errorf("recovered panic: %v", v)}
		}
	}()
	return b.dec.Decode(value, b.rows[m])
}

// score scores rows[:m]. Should scoring panic (a bug), the rows are scored
// again one by one so only the offending rows are rejected.
func (b *Batch) score(m int) {
	if b.tryScore(0, m) {
		return
	}
	for j := 0; j < m; j++ {
		if !b.tryScore(j, j+1) {
			b.preds[j] = scoring.Prediction{Reject: reject.Internal, RejectFeature: "scoring panicked"}
		}
	}
}

func (b *Batch) tryScore(from, to int) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	b.scorer.ScoreBatch(b.rows[from:to], b.preds[from:to])
	return true
}

// safeEncode encodes prediction j of event ev into slab and fills res.
func (b *Batch) safeEncode(slab []byte, j int, ev *Event, now time.Time, res *Result) (out []byte) {
	start := len(slab)
	defer func() {
		if v := recover(); v != nil {
			out = slab[:start]
			*res = Result{Reject: reject.Internal, Stage: reject.StageEncode, Err: fmt.Sprintf("recovered panic: %v", v)}
		}
	}()
	pr := &b.preds[j]
	meta := &b.metas[j]
	key := ev.Key
	if key == nil {
		key = meta.Key // the event's key field, where the door has no record key
	}
	if pr.Reject != "" {
		*res = Result{Reject: pr.Reject, Stage: reject.StageFeatures, Field: pr.RejectFeature,
			Err: rejectMessage(pr), Key: key}
		return slab
	}
	p := &b.pred
	p.Key = key
	p.EventID = meta.EventID
	p.EventTime = ev.Time
	if t := meta.EventTime; t == t { // the event time input, when configured and present
		p.EventTime = time.UnixMilli(int64(t))
	}
	p.ScoredTime = now
	p.Score = pr.Score
	p.Label = pr.Label
	p.Probs = pr.Probs
	if b.p.echo {
		p.Features = b.scorer.Features(j)
	}
	slab, err := b.p.enc.Append(slab, p)
	if err != nil {
		*res = Result{Reject: reject.EncodeFailed, Stage: reject.StageEncode, Err: err.Error()}
		return slab[:start]
	}
	// Cap the value at its own end, so no later append can write into it
	// (a grown slab moves on; earlier values keep the old array alive).
	value := slab[start:len(slab):len(slab)]
	b.avgLen = (b.avgLen*7 + len(value)) / 8
	*res = Result{Value: value, Score: pr.Score, Label: pr.Label, Key: key}
	return slab
}

func rejectMessage(pr *scoring.Prediction) string {
	msg := string(pr.Reject) + ": rejected by bundle policy"
	if pr.RejectFeature != "" {
		msg += ": " + pr.RejectFeature
	}
	return msg
}
