package predict

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/internal/gen"
	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// flakyDecoder fails transiently the first fails times, then decodes.
type flakyDecoder struct {
	schemas.Decoder
	fails int
}

func (d *flakyDecoder) Decode(v []byte, row *features.Row) (schemas.Meta, error) {
	if d.fails > 0 {
		d.fails--
		return schemas.Meta{}, errors.New("registry unreachable")
	}
	return d.Decoder.Decode(v, row)
}

// fraudPath is the fraud bundle's path with JSON in (transaction_id as the
// event id) and out; wrap, if set, wraps each decoder.
func fraudPath(t testing.TB, wrap func(schemas.Decoder) schemas.Decoder) *Path {
	t.Helper()
	return fraudPathWith(t, schemas.InputConfig{Format: schemas.FormatJSON, EventIDField: "transaction_id"}, wrap)
}

// fraudPathWith is fraudPath with the input section in.
func fraudPathWith(t testing.TB, in schemas.InputConfig, wrap func(schemas.Decoder) schemas.Decoder) *Path {
	t.Helper()
	b, err := scoring.Load("../examples/fraud")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := schemas.NewEncoder(t.Context(), schemas.OutputConfig{Format: schemas.FormatJSON}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return New(b, func() (schemas.Decoder, error) {
		d, err := schemas.NewDecoder(in, b.Layout(), nil)
		if wrap != nil {
			d = wrap(d)
		}
		return d, err
	}, enc, false)
}

func fraudEvents(n int) []Event {
	g := gen.NewFraud(3, 100)
	now := time.Now()
	ev := make([]Event, n)
	for i := range ev {
		k, v := g.Next(nil, now)
		ev[i] = Event{Value: v, Key: k, Time: now}
	}
	return ev
}

func TestRunResultsInOrder(t *testing.T) {
	b := fraudPath(t, nil).mustBatch(t)
	ev := fraudEvents(5)
	ev[1].Value = []byte(`{"amount": "12"}`)
	ev[3].Value = []byte(`not json`)
	out := make([]Result, len(ev))
	if err := b.Run(ev, out, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	want := []reject.Reason{"", reject.WrongType, "", reject.Malformed, ""}
	for i, r := range out {
		if r.Reject != want[i] {
			t.Errorf("event %d: got reject %q (%s), want %q", i, r.Reject, r.Err, want[i])
		}
		if (r.Value != nil) != (want[i] == "") {
			t.Errorf("event %d: value %q with reject %q", i, r.Value, r.Reject)
		}
		if r.Reject != "" && (r.Stage != reject.StageDecode || !strings.HasPrefix(r.Err, string(r.Reject)+":")) {
			t.Errorf("event %d: stage %q err %q, want decode and the reason first", i, r.Stage, r.Err)
		}
	}
	if got := string(out[0].Value); !strings.Contains(got, `"key":"`+string(ev[0].Key)+`"`) {
		t.Errorf("prediction %s does not carry the event's key %s", got, ev[0].Key)
	}
}

func TestTransientDecodeFailureWaits(t *testing.T) {
	flaky := &flakyDecoder{fails: 2}
	b := fraudPath(t, func(d schemas.Decoder) schemas.Decoder { flaky.Decoder = d; return flaky }).mustBatch(t)
	ev := fraudEvents(3)
	out := make([]Result, len(ev))
	var waits []int
	err := b.Run(ev, out, time.Now(), func(i int, err error) bool { waits = append(waits, i); return true })
	if err != nil {
		t.Fatal(err)
	}
	if len(waits) != 2 || waits[0] != 0 || waits[1] != 0 {
		t.Errorf("waits = %v, want [0 0] (event 0 retried twice)", waits)
	}
	for i, r := range out {
		if r.Reject != "" {
			t.Errorf("event %d rejected %q: a transient failure is not the record's fault", i, r.Reject)
		}
	}

	flaky.fails = 1
	if err := b.Run(ev, out, time.Now(), func(int, error) bool { return false }); !errors.Is(err, ErrAbandoned) {
		t.Errorf("wait giving up: got %v, want ErrAbandoned", err)
	}
	flaky.fails = 1
	if err := b.Run(ev, out, time.Now(), nil); err != nil || out[0].Reject != reject.Internal {
		t.Errorf("no wait: got err %v reject %q, want the record rejected as internal_error", err, out[0].Reject)
	}
}

func TestInputCounts(t *testing.T) {
	b := fraudPath(t, nil).mustBatch(t)
	ev := fraudEvents(3)
	ev[0].Value = []byte(`{"amount": 10, "country": null}`)
	ev[1].Value = []byte(`{"event": {"amount": 10}}`) // amount is required: missing_field, still counted
	out := make([]Result, len(ev))
	if err := b.Run(ev, out, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	c := b.Inputs()
	if c.Events != 3 || c.Empty != 1 {
		t.Errorf("events %d empty %d, want 3 and 1", c.Events, c.Empty)
	}
	l := b.p.Bundle().Layout()
	if got := c.Missing[l.Index("country")]; got != 2 {
		t.Errorf("country missing in %d events, want 2", got)
	}
	if got := c.Missing[l.Index("amount")]; got != 1 {
		t.Errorf("amount missing in %d events, want 1", got)
	}
	if got := b.UnknownFields(); !slices.Contains(got, "event") || slices.Contains(got, "amount") {
		t.Errorf("unknown fields %v, want event among them and no input", got)
	}
}

func TestRunAllocations(t *testing.T) {
	b := fraudPath(t, nil).mustBatch(t)
	ev := fraudEvents(500)
	out := make([]Result, len(ev))
	now := time.Now()
	_ = b.Run(ev, out, now, nil) // grow the buffers
	allocs := testing.AllocsPerRun(20, func() { _ = b.Run(ev, out, now, nil) })
	if allocs > 1 {
		t.Errorf("Run allocates %.0f times per batch of 500, want 1 (the value slab)", allocs)
	}
}

func BenchmarkRunFraud(b *testing.B) { benchRun(b, fraudPath(b, nil)) }

// BenchmarkRunFraudWithoutDrift is BenchmarkRunFraud without the drift
// counting (as for a bundle without drift statistics): the difference is
// what counting every row's bins and every score costs.
func BenchmarkRunFraudWithoutDrift(b *testing.B) {
	p := fraudPath(b, nil)
	p.drift = nil
	benchRun(b, p)
}

func benchRun(b *testing.B, p *Path) {
	batch := p.mustBatch(b)
	ev := fraudEvents(500)
	out := make([]Result, len(ev))
	now := time.Now()
	b.ReportAllocs()
	cpu := cpuNow()
	for b.Loop() {
		_ = batch.Run(ev, out, now, nil)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ev)), "ns/record")
	b.ReportMetric(float64((cpuNow()-cpu).Nanoseconds())/float64(b.N*len(ev)), "cpu-ns/record")
}

// cpuNow is the process's user+system CPU time: on a shared machine other
// processes' load inflates wall-clock ns/record, not cpu-ns/record.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestKeyAndEventTimeFields(t *testing.T) {
	in := schemas.InputConfig{Format: schemas.FormatJSON, KeyField: "card_id", EventTimeField: "timestamp"}
	path := fraudPathWith(t, in, nil)
	batch := path.mustBatch(t)
	ev := fraudEvents(2)
	ev[0].Key, ev[0].Time = nil, time.Time{} // a door without a record key or timestamp
	out := make([]Result, 2)
	if err := batch.Run(ev, out, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	var first, second schemas.PredictionRecord
	for i, dst := range []*schemas.PredictionRecord{&first, &second} {
		if err := json.Unmarshal(out[i].Value, dst); err != nil {
			t.Fatal(err)
		}
	}
	var event struct {
		CardID    string    `json:"card_id"`
		Timestamp time.Time `json:"timestamp"`
	}
	if err := json.Unmarshal(ev[0].Value, &event); err != nil {
		t.Fatal(err)
	}
	if first.Key == nil || *first.Key != event.CardID || first.EventTime == nil || *first.EventTime != event.Timestamp.UnixMilli() {
		t.Errorf("got key %v event_time %v, want the event's card_id %q and timestamp %d",
			first.Key, first.EventTime, event.CardID, event.Timestamp.UnixMilli())
	}
	if second.Key == nil || *second.Key != string(ev[1].Key) {
		t.Errorf("got key %v, want the record key %q (it wins over key_field)", second.Key, ev[1].Key)
	}

	in.EventTimeField = "amount"
	if _, err := schemas.NewDecoder(in, path.Bundle().Layout(), nil); !errors.Is(err, schemas.ErrNoTimeInput) {
		t.Errorf("event_time_field naming a number input: got %v, want ErrNoTimeInput", err)
	}
}

// TestDriftCountingAllocatesNothing: Run with drift counting allocates no
// more than without it (the per-call slab only), and counts every decoded
// row and score.
func TestDriftCountingAllocatesNothing(t *testing.T) {
	with := fraudPath(t, nil)
	without := fraudPath(t, nil)
	without.drift = nil
	ev := fraudEvents(200)
	out := make([]Result, len(ev))
	allocs := func(p *Path) (float64, *Batch) {
		b := p.mustBatch(t)
		_ = b.Run(ev, out, time.Now(), nil) // grow the scratch buffers first
		return testing.AllocsPerRun(20, func() { _ = b.Run(ev, out, time.Now(), nil) }), b
	}
	a0, _ := allocs(without)
	a1, b := allocs(with)
	if a1 != a0 {
		t.Errorf("Run allocates %g times per batch with drift counting, %g without", a1, a0)
	}
	// 22 runs: the first, and AllocsPerRun's warm-up and 20
	if c := b.Drift(); c == nil || c.Rows != 22*uint64(len(ev)) || c.Scores != c.Rows {
		t.Errorf("drift counts %+v, want %d rows and as many scores", c, 22*len(ev))
	}
}
