//go:build faults

package faults

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/kafkatest"
)

// Header names the service writes on DLQ records (processor/records.go).
const (
	hdrReason    = "streamscore-dlq-reason"
	hdrTopic     = "streamscore-dlq-source-topic"
	hdrPartition = "streamscore-dlq-source-partition"
	hdrOffset    = "streamscore-dlq-source-offset"
)

// inputMaxBytes is input.max_record_bytes (default 1 MiB): larger events are too_large.
const inputMaxBytes = 1 << 20

// bundleRules says how the bundle treats the generator's poison records
// whose fate depends on it.
type bundleRules struct {
	// missingIsPoison: the missing_field poison ({transaction_id, card_id,
	// merchant_category} only) lacks a required input, so it must be
	// dead-lettered; otherwise the bundle imputes and scores it.
	missingIsPoison bool
	required        []string
}

// readBundleRules reads the inputs' "required" flags from bundle.json.
func readBundleRules(dir string) (bundleRules, error) {
	b, err := os.ReadFile(filepath.Join(dir, "bundle.json"))
	if err != nil {
		return bundleRules{}, err
	}
	var m struct {
		Inputs []struct {
			Name     string `json:"name"`
			Path     string `json:"path"`
			Required bool   `json:"required"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return bundleRules{}, fmt.Errorf("bundle.json: %w", err)
	}
	var r bundleRules
	present := map[string]bool{"transaction_id": true, "card_id": true, "merchant_category": true}
	for _, in := range m.Inputs {
		if !in.Required {
			continue
		}
		field := in.Name
		if in.Path != "" {
			field = in.Path
		}
		r.required = append(r.required, in.Name)
		if !present[field] {
			r.missingIsPoison = true
		}
	}
	return r, nil
}

// expectation for one poison input, by source partition and offset.
type poisonInput struct {
	reason string
	size   int
	sum    [32]byte
}

type srcPos struct {
	partition int32
	offset    int64
}

type validInput struct {
	n   int       // copies of this event id in the input (1 unless the producer duplicated)
	key string    // the input's key (when n == 1)
	at  time.Time // the input's timestamp (when n == 1)
}

// result is what the checker counted.
type result struct {
	mode        string
	inputs      int
	valid       int            // inputs that must get a prediction
	poison      map[string]int // inputs that must be dead-lettered, by expected reason
	missingKind int            // missing_field poison inputs (scored or dead-lettered per the bundle)
	missingDLQ  bool           // ... whether the bundle dead-letters them
	inputDups   int            // event ids the producer wrote more than once

	predictions  int         // prediction records read
	matched      int         // valid inputs with at least one prediction
	lost         int         // valid inputs without prediction
	dups         int         // predictions beyond one per valid input
	dupSeconds   map[int]int // dups by the second of the stream their input was produced in
	unknownPreds int         // predictions whose event_id is no input's
	keyMismatch  int         // prediction key differs from the input's

	dlq            int
	dlqByReason    map[string]int
	dlqMatched     int // poison inputs with at least one DLQ copy
	dlqLost        int // poison inputs without DLQ copy
	dlqDups        int // DLQ copies beyond one per poison input
	dlqWrongReason int
	dlqBadValue    int // DLQ value differs from the input's bytes
	dlqForValid    int // valid inputs dead-lettered
	dlqUnknown     int // DLQ records pointing at no input of the topic

	outHWM, outLSO, dlqHWM, dlqLSO int64
	examples                       []string
}

func (r *result) example(format string, args ...any) {
	if len(r.examples) < 10 {
		r.examples = append(r.examples, fmt.Sprintf(format, args...))
	}
}

// dupRanges lists the duplicates by when their inputs were produced, runs of
// seconds of the stream with duplicates merged: "[34-50s:7186 61s:12]".
// Compared with the fault times it says which fault replayed what.
func (r *result) dupRanges() string {
	secs := make([]int, 0, len(r.dupSeconds))
	for sec := range r.dupSeconds {
		secs = append(secs, sec)
	}
	sort.Ints(secs)
	var parts []string
	for i := 0; i < len(secs); {
		j, n := i, r.dupSeconds[secs[i]]
		for j+1 < len(secs) && secs[j+1] == secs[j]+1 {
			j++
			n += r.dupSeconds[secs[j]]
		}
		span := strconv.Itoa(secs[i])
		if j > i {
			span += "-" + strconv.Itoa(secs[j])
		}
		parts = append(parts, fmt.Sprintf("%ss:%d", span, n))
		i = j + 1
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func (r *result) dupPercent() float64 {
	if r.valid == 0 {
		return 0
	}
	return 100 * float64(r.dups) / float64(r.valid)
}

// reasons formats a reason->count map in a stable order.
func reasons(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, m[k])
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// check reads the input, output and DLQ topics completely (read_committed
// for exactly-once) and matches every output to its input.
func (s *scenario) check(rules bundleRules) *result {
	s.t.Helper()
	r := &result{mode: s.mode, poison: make(map[string]int), dlqByReason: make(map[string]int), missingDLQ: rules.missingIsPoison,
		dupSeconds: make(map[int]int)}
	eos := s.mode == "exactly-once"

	valid := make(map[string]*validInput)
	poison := make(map[srcPos]*poisonInput)
	var idBuf struct {
		TransactionID *string `json:"transaction_id"`
	}
	readTopic(s.t, s.brokers, s.input, false, func(rec *kgo.Record) {
		r.inputs++
		pos := srcPos{rec.Partition, rec.Offset}
		addPoison := func(reason string) {
			poison[pos] = &poisonInput{reason: reason, size: len(rec.Value), sum: sha256.Sum256(rec.Value)}
			r.poison[reason]++
		}
		switch {
		case len(rec.Value) > inputMaxBytes:
			addPoison("too_large")
			return
		case !json.Valid(rec.Value):
			addPoison("malformed")
			return
		}
		idBuf.TransactionID = nil
		if err := json.Unmarshal(rec.Value, &idBuf); err != nil || idBuf.TransactionID == nil {
			r.example("input %d/%d: no transaction_id: %.120s", rec.Partition, rec.Offset, rec.Value)
			addPoison("unclassified")
			return
		}
		id := *idBuf.TransactionID
		switch id {
		case "poison-inf":
			addPoison("not_finite")
			return
		case "poison-type":
			addPoison("wrong_type")
			return
		case "poison-missing":
			r.missingKind++
			if rules.missingIsPoison {
				addPoison("missing_field")
				return
			}
			// The bundle imputes the missing inputs: scored, like a valid event.
		}
		r.valid++
		v := valid[id]
		if v == nil {
			valid[id] = &validInput{n: 1, key: string(rec.Key), at: rec.Timestamp}
			return
		}
		v.n++
		if id != "poison-missing" {
			r.inputDups++
		}
	})

	// Predictions: event_id = the input's transaction_id.
	got := make(map[string]int, len(valid))
	var pred struct {
		EventID *string `json:"event_id"`
	}
	r.outHWM, r.outLSO = readTopic(s.t, s.brokers, s.output, eos, func(rec *kgo.Record) {
		r.predictions++
		pred.EventID = nil
		if err := json.Unmarshal(rec.Value, &pred); err != nil || pred.EventID == nil {
			r.unknownPreds++
			r.example("prediction %d/%d without event_id: %.200s", rec.Partition, rec.Offset, rec.Value)
			return
		}
		id := *pred.EventID
		v := valid[id]
		if v == nil {
			r.unknownPreds++
			r.example("prediction %d/%d for unknown event %q", rec.Partition, rec.Offset, id)
			return
		}
		got[id]++
		if v.n == 1 && string(rec.Key) != v.key {
			r.keyMismatch++
			r.example("prediction for %s has key %q, input key %q", id, rec.Key, v.key)
		}
	})
	for id, v := range valid {
		n := got[id]
		switch {
		case n == 0:
			r.lost += v.n
			r.example("valid event %s: no prediction", id)
		case n < v.n:
			r.matched += n
			r.lost += v.n - n
			r.example("event id %s: %d inputs, %d predictions", id, v.n, n)
		default:
			r.matched += v.n
			r.dups += n - v.n
			if n > v.n {
				r.dupSeconds[int(v.at.Sub(s.prodAt).Seconds())] += n - v.n
			}
		}
	}

	// DLQ: every poison input once (exactly-once) or at least once, with its reason.
	dlqGot := make(map[srcPos]int, len(poison))
	r.dlqHWM, r.dlqLSO = readTopic(s.t, s.brokers, s.dlq, eos, func(rec *kgo.Record) {
		r.dlq++
		h := headers(rec)
		reason := h[hdrReason]
		r.dlqByReason[reason]++
		part, err1 := strconv.ParseInt(h[hdrPartition], 10, 32)
		off, err2 := strconv.ParseInt(h[hdrOffset], 10, 64)
		if err1 != nil || err2 != nil || h[hdrTopic] != s.input {
			r.dlqUnknown++
			r.example("DLQ %d/%d: bad source headers topic=%q partition=%q offset=%q", rec.Partition, rec.Offset, h[hdrTopic], h[hdrPartition], h[hdrOffset])
			return
		}
		pos := srcPos{int32(part), off}
		want := poison[pos]
		if want == nil {
			r.dlqForValid++
			r.example("DLQ holds input %d/%d (reason %s) that should have been scored: %.120s", part, off, reason, rec.Value)
			return
		}
		dlqGot[pos]++
		if dlqGot[pos] == 1 {
			if reason != want.reason {
				r.dlqWrongReason++
				r.example("DLQ input %d/%d: reason %q, want %q", part, off, reason, want.reason)
			}
			if len(rec.Value) != want.size || sha256.Sum256(rec.Value) != want.sum {
				r.dlqBadValue++
				r.example("DLQ input %d/%d: value of %d bytes differs from the input's %d bytes", part, off, len(rec.Value), want.size)
			}
		}
	})
	for pos, want := range poison {
		n := dlqGot[pos]
		if n == 0 {
			r.dlqLost++
			r.example("poison input %d/%d (%s): not in the DLQ", pos.partition, pos.offset, want.reason)
			continue
		}
		r.dlqMatched++
		r.dlqDups += n - 1
	}
	return r
}

func headers(rec *kgo.Record) map[string]string {
	m := make(map[string]string, len(rec.Headers))
	for _, h := range rec.Headers {
		m[h.Key] = string(h.Value)
	}
	return m
}

// readTopic hands every record of topic below its end offsets (listed when
// called: the high watermarks, or with readCommitted the last stable offsets,
// so records of aborted transactions are skipped) to fn. It returns the
// topic's summed high watermark and last stable offset.
func readTopic(t testing.TB, brokers []string, topic string, readCommitted bool, fn func(*kgo.Record)) (hwm, lso int64) {
	t.Helper()
	hwm, lso = sum(kafkatest.EndOffsets(t, brokers, topic, false)), sum(kafkatest.EndOffsets(t, brokers, topic, true))
	opts := []kafkatest.ConsumeOption{kafkatest.Timeout(5 * time.Minute),
		kafkatest.WithConsumerOpts(kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(8<<20))}
	if readCommitted {
		opts = append(opts, kafkatest.ReadCommitted())
	}
	kafkatest.EachRecord(t, brokers, topic, fn, opts...)
	return hwm, lso
}

func sum(offsets map[int32]int64) int64 {
	var n int64
	for _, o := range offsets {
		n += o
	}
	return n
}

// verdict applies the pass criteria and fails the test on a violation.
func (s *scenario) verdict(r *result) {
	s.t.Helper()
	var bad []string
	for _, c := range []struct {
		n    int
		what string
	}{
		{r.lost, "valid inputs have no prediction (lost)"},
		{r.dlqLost, "poison inputs are not in the DLQ (lost)"},
		{r.unknownPreds, "predictions match no input"},
		{r.keyMismatch, "predictions carry another key than their input"},
		{r.dlqWrongReason, "DLQ records have the wrong reason"},
		{r.dlqBadValue, "DLQ records do not hold the original bytes"},
		{r.dlqForValid, "valid inputs were dead-lettered"},
		{r.dlqUnknown, "DLQ records name no input record"},
		{r.poison["unclassified"], "inputs the checker cannot classify"},
	} {
		if c.n > 0 {
			bad = append(bad, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	if r.mode == "exactly-once" && (r.dups > 0 || r.dlqDups > 0) {
		bad = append(bad, fmt.Sprintf("exactly-once: %d duplicate predictions and %d duplicate DLQ records under read_committed", r.dups, r.dlqDups))
	}
	if r.inputs == 0 {
		bad = append(bad, "no input records at all")
	}
	if len(bad) > 0 {
		var b bytes.Buffer
		for _, e := range r.examples {
			b.WriteString("\n  e.g. " + e)
		}
		s.t.Errorf("FAILED checks:\n  - %s%s", strings.Join(bad, "\n  - "), b.String())
	}
}
