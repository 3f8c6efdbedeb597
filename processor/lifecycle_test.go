package processor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/gen"
	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/metric/metrictest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/processor"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// versioned is a copy of b that calls itself version v (the same model:
// the tests tell the versions apart by the prediction's model_version).
func versioned(b *scoring.Bundle, v string) *scoring.Bundle {
	c := *b
	c.Version = v
	return &c
}

// path is the stream's path for b with the test's JSON input settings and
// the given input size limit (0: 1 MiB).
func (e *env) path(b *scoring.Bundle, maxRecordBytes int) *predict.Path {
	if maxRecordBytes == 0 {
		maxRecordBytes = 1 << 20
	}
	in := schemas.InputConfig{Format: "json", MaxRecordBytes: maxRecordBytes, EventIDField: "transaction_id"}
	enc, err := schemas.NewEncoder(context.Background(), schemas.OutputConfig{Format: "json", Topic: e.out}, nil)
	if err != nil {
		panic(err) // the JSON encoder needs no registry: a bug
	}
	return predict.New(b, func() (schemas.Decoder, error) { return schemas.NewDecoder(in, b.Layout(), nil) }, enc, false)
}

// startPipe runs a processor on pipe until the test ends; stop() stops it
// gracefully and returns Run's error.
func (e *env) startPipe(t *testing.T, cfg processor.Config, pipe *processor.Pipeline) (p *processor.Processor, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := e.log
	if log == nil {
		log = testLogger(t)
	}
	p, err := processor.New(ctx, cfg, processor.KafkaConfig{Brokers: strings.Join(e.brokers, ","), ClientID: "test"},
		pipe, e.metrics, log.With("instance", fmt.Sprintf("%p", &cancel)))
	if err != nil {
		cancel()
		t.Fatalf("processor.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { stop() })
	return p, stop
}

// produceValid produces n valid fraud events (seed names their ids) and
// returns them; every keyless-th record (0: none) has no key.
func produceValid(t *testing.T, e *env, n int, seed uint64, keyless int) []*kgo.Record {
	t.Helper()
	g := gen.NewFraud(seed, 300)
	now := time.Now()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		k, v := g.Next(nil, now)
		if keyless > 0 && i%keyless == 0 {
			k = nil
		}
		recs[i] = &kgo.Record{Topic: e.in, Key: k, Value: v, Timestamp: now}
	}
	kafkatest.ProduceRecords(t, e.brokers, recs)
	return recs
}

// scored is one prediction as the tests read it.
type scored struct {
	rec     *kgo.Record
	ID      string `json:"event_id"`
	Model   string `json:"model"`
	Version string `json:"model_version"`
	Label   string `json:"label"`
	Score   float64
}

func readScored(t *testing.T, recs []*kgo.Record) []scored {
	t.Helper()
	out := make([]scored, len(recs))
	for i, r := range recs {
		if err := json.Unmarshal(r.Value, &out[i]); err != nil {
			t.Fatalf("prediction is not JSON: %v: %s", err, r.Value)
		}
		out[i].rec = r
		if h, want := kafkatest.Header(r, processor.HeaderModel), out[i].Model+"@"+out[i].Version; h != want {
			t.Errorf("prediction %s: header %s %q, record says %q", out[i].ID, processor.HeaderModel, h, want)
		}
	}
	return out
}

// TestSwapBetweenBatches swaps the live model while the processor runs:
// what was scored before the swap names the old version, everything
// produced after it the new one, in the field and the header, and the
// per-version metrics follow (a version two swaps back loses its series).
func TestSwapBetweenBatches(t *testing.T) {
	for _, mode := range []string{processor.AtLeastOnce, processor.ExactlyOnce} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, 3)
			v1, v2, v3 := versioned(e.bundle, "1"), versioned(e.bundle, "2"), versioned(e.bundle, "3")
			pipe := &processor.Pipeline{Path: e.path(v1, 0)}
			_, stop := e.startPipe(t, e.config(mode, kafkatest.UniqueName(t, "g")), pipe)
			var opts []kafkatest.ConsumeOption
			if mode == processor.ExactlyOnce {
				opts = append(opts, kafkatest.ReadCommitted())
			}
			var preds []scored // the last read
			byVersion := func(n int) map[string]int {
				got := map[string]int{}
				preds = readScored(t, kafkatest.ConsumeN(t, e.brokers, e.out, n, opts...))
				for _, s := range preds {
					got[s.Version]++
				}
				return got
			}

			produceValid(t, e, 300, 1, 0)
			if got := byVersion(300); got["1"] != 300 {
				t.Fatalf("before the swap: versions %v, want 300 of 1", got)
			}
			if err := pipe.Swap(processor.Models{Live: e.path(v2, 0)}); err != nil {
				t.Fatal(err)
			}
			produceValid(t, e, 300, 2, 0)
			if got := byVersion(600); got["1"] != 300 || got["2"] != 300 {
				t.Fatalf("after the swap: versions %v, want 300 of 1 and 300 of 2", got)
			}
			if err := pipe.Swap(processor.Models{Live: e.path(v3, 0)}); err != nil {
				t.Fatal(err)
			}
			produceValid(t, e, 300, 3, 0)
			if got := byVersion(900); got["3"] != 300 {
				t.Fatalf("after the second swap: versions %v, want 300 of 3", got)
			}
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			versions := map[string]bool{}
			for _, m := range gather(t, e, "streamscore_prediction_score") {
				versions[m] = true
			}
			if versions["1"] || !versions["2"] || !versions["3"] {
				t.Errorf("prediction_score versions %v: want 2 (the previous lineup) and 3, not 1 (two swaps back)", versions)
			}
			checkPredictionCounts(t, e, preds, "2", "3")
		})
	}
}

// checkPredictionCounts: the stream's prediction metrics of each version
// (door="stream") count the predictions of that version in preds, per
// label (at least those after an aborted transaction: its batch was scored
// again), and there are series of no other door or version.
func checkPredictionCounts(t *testing.T, e *env, preds []scored, versions ...string) {
	t.Helper()
	redone := testutil.ToFloat64(e.metrics.TransactionsAborted) > 0
	wrong := func(got float64, want int) bool { return got != float64(want) && (!redone || got < float64(want)) }
	for _, v := range versions {
		want := map[string]int{}
		n := 0
		for _, p := range preds {
			if p.Version == v {
				want[p.Label]++
				n++
			}
		}
		for _, label := range e.bundle.Labels() {
			got := metrictest.MustValue(t, e.reg, "streamscore_predictions_by_label_total",
				"door", "stream", "model", e.bundle.Name, "version", v, "label", label)
			if wrong(got, want[label]) {
				t.Errorf("predictions_by_label_total{door=stream, version=%s, label=%q} = %v, want %d (the output's)", v, label, got, want[label])
			}
		}
		if got, _, ok := metrictest.Histogram(t, e.reg, "streamscore_prediction_score", "door", "stream", "version", v); !ok || wrong(float64(got), n) {
			t.Errorf("prediction_score{door=stream, version=%s}: count %d (found %v), want %d", v, got, ok, n)
		}
	}
	for _, name := range []string{"streamscore_predictions_by_label_total", "streamscore_prediction_score"} {
		for _, s := range metrictest.Series(t, e.reg, name) {
			if s["door"] != "stream" || !slices.Contains(versions, s["version"]) {
				t.Errorf("%s%v: want door=\"stream\" and versions %v only", name, s, versions)
			}
		}
	}
}

// gather returns the version label of every series of family name.
func gather(t *testing.T, e *env, name string) []string {
	t.Helper()
	fams, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "version" {
					out = append(out, l.GetValue())
				}
			}
		}
	}
	return out
}

// TestSwapWhileStreaming swaps ten versions while records stream in: per
// input partition the versions only move forward in offset order, and in
// exactly-once mode every transaction (a run of consecutive offsets of an
// output partition, between two commit markers) holds one version.
func TestSwapWhileStreaming(t *testing.T) {
	for _, mode := range []string{processor.AtLeastOnce, processor.ExactlyOnce} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, 3)
			pipe := &processor.Pipeline{Path: e.path(versioned(e.bundle, "0"), 0)}
			cfg := e.config(mode, kafkatest.UniqueName(t, "g"))
			cfg.BatchMaxRecords = 50
			_, stop := e.startPipe(t, cfg, pipe)

			const waves, perWave = 10, 150
			var inputs []*kgo.Record
			for w := 1; w <= waves; w++ {
				inputs = append(inputs, produceValid(t, e, perWave, uint64(100+w), 0)...)
				if err := pipe.Swap(processor.Models{Live: e.path(versioned(e.bundle, fmt.Sprint(w)), 0)}); err != nil {
					t.Fatal(err)
				}
			}
			var opts []kafkatest.ConsumeOption
			if mode == processor.ExactlyOnce {
				opts = append(opts, kafkatest.ReadCommitted())
			}
			preds := readScored(t, kafkatest.ConsumeN(t, e.brokers, e.out, waves*perWave, opts...))
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			checkVersionOrder(t, inputs, preds, mode == processor.ExactlyOnce)
		})
	}
}

// checkVersionOrder checks that versions (integers here) never go back in
// an input partition's offset order and, with txns, that each run of
// consecutive output offsets has one version.
func checkVersionOrder(t *testing.T, inputs []*kgo.Record, preds []scored, txns bool) {
	t.Helper()
	type pos struct {
		partition int32
		offset    int64
	}
	src := map[string]pos{}
	var id struct {
		ID string `json:"transaction_id"`
	}
	for _, r := range inputs {
		if err := json.Unmarshal(r.Value, &id); err != nil {
			t.Fatal(err)
		}
		src[id.ID] = pos{r.Partition, r.Offset}
	}
	type seen struct {
		offset  int64
		version int
	}
	perPart := map[int32][]seen{}
	seenVersions := map[int]int{}
	for _, p := range preds {
		at, ok := src[p.ID]
		if !ok {
			t.Fatalf("prediction for unknown event %s", p.ID)
		}
		var v int
		fmt.Sscan(p.Version, &v)
		seenVersions[v]++
		perPart[at.partition] = append(perPart[at.partition], seen{at.offset, v})
	}
	for part, ss := range perPart {
		sort.Slice(ss, func(i, j int) bool { return ss[i].offset < ss[j].offset })
		for i := 1; i < len(ss); i++ {
			if ss[i].version < ss[i-1].version {
				t.Errorf("input partition %d: offset %d scored by version %d after offset %d by version %d",
					part, ss[i].offset, ss[i].version, ss[i-1].offset, ss[i-1].version)
			}
		}
	}
	if txns {
		byOut := map[int32][]scored{}
		for _, p := range preds {
			byOut[p.rec.Partition] = append(byOut[p.rec.Partition], p)
		}
		runs := 0
		for part, ps := range byOut {
			sort.Slice(ps, func(i, j int) bool { return ps[i].rec.Offset < ps[j].rec.Offset })
			for i := 1; i < len(ps); i++ {
				if ps[i].rec.Offset == ps[i-1].rec.Offset+1 && ps[i].Version != ps[i-1].Version {
					t.Errorf("output partition %d: offsets %d and %d are in one transaction but scored by versions %s and %s",
						part, ps[i-1].rec.Offset, ps[i].rec.Offset, ps[i-1].Version, ps[i].Version)
				}
				if ps[i].rec.Offset != ps[i-1].rec.Offset+1 {
					runs++
				}
			}
		}
		t.Logf("%d transaction boundaries seen in the output", runs)
	}
	if len(seenVersions) < 2 {
		t.Errorf("versions seen %v: the swaps did not land while records streamed", seenVersions)
	}
	t.Logf("predictions per version: %v", seenVersions)
}

// fnvBucket is the documented canary hash: FNV-1a 32 of the key mod 10000.
func fnvBucket(key []byte) uint32 {
	h := fnv.New32a()
	h.Write(key)
	return h.Sum32() % 10000
}

// TestCanary routes 30% of the keys to a canary: each key is scored by
// exactly one version, the one its hash says, keyless records by the live
// model, and the share of keys is near 30%.
func TestCanary(t *testing.T) {
	e := newEnv(t, 3)
	live, canary := versioned(e.bundle, "live"), versioned(e.bundle, "canary")
	pipe := &processor.Pipeline{Path: e.path(live, 0)}
	_, stop := e.startPipe(t, e.config(processor.AtLeastOnce, kafkatest.UniqueName(t, "g")), pipe)
	if err := pipe.Swap(processor.Models{Live: e.path(live, 0), Canary: e.path(canary, 0), CanaryPercent: 30}); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	produceValid(t, e, n, 7, 25)
	preds := readScored(t, kafkatest.ConsumeN(t, e.brokers, e.out, n))
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	keyVersions := map[string]map[string]bool{}
	keyless := map[string]int{}
	for _, p := range preds {
		if len(p.rec.Key) == 0 {
			keyless[p.Version]++
			continue
		}
		k := string(p.rec.Key)
		if keyVersions[k] == nil {
			keyVersions[k] = map[string]bool{}
		}
		keyVersions[k][p.Version] = true
		want := "live"
		if fnvBucket(p.rec.Key) < 3000 {
			want = "canary"
		}
		if p.Version != want {
			t.Errorf("key %s (bucket %d): scored by %s, want %s", k, fnvBucket(p.rec.Key), p.Version, want)
		}
	}
	onCanary := 0
	for k, vs := range keyVersions {
		if len(vs) != 1 {
			t.Errorf("key %s scored by %d versions %v, want one", k, len(vs), vs)
		}
		if vs["canary"] {
			onCanary++
		}
	}
	share := float64(onCanary) / float64(len(keyVersions))
	if math.Abs(share-0.30) > 0.10 {
		t.Errorf("%d of %d keys (%.1f%%) on the canary, want 30%% +- 10", onCanary, len(keyVersions), 100*share)
	}
	if keyless["canary"] != 0 || keyless["live"] == 0 {
		t.Errorf("keyless records by version %v, want all on live", keyless)
	}
	t.Logf("%d keys, %d on the canary (%.1f%%); keyless %v", len(keyVersions), onCanary, 100*share, keyless)
	checkPredictionCounts(t, e, preds, "live", "canary")
}

// TestShadow runs a shadow beside the live model in both modes: the shadow
// topic gets one prediction per input (same key, headers naming both
// versions), the output only the live model's, and the agreement metrics
// count every event (the same model: all agree).
func TestShadow(t *testing.T) {
	for _, mode := range []string{processor.AtLeastOnce, processor.ExactlyOnce} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, 3)
			shadowTopic := kafkatest.Topic(t, e.brokers, 3)
			live, shadow := versioned(e.bundle, "1"), versioned(e.bundle, "2-shadow")
			pipe := &processor.Pipeline{Path: e.path(live, 0), ShadowTopic: shadowTopic}
			_, stop := e.startPipe(t, e.config(mode, kafkatest.UniqueName(t, "g")), pipe)
			if err := pipe.Swap(processor.Models{Live: e.path(live, 0), Shadow: e.path(shadow, 0)}); err != nil {
				t.Fatal(err)
			}
			const n = 1200
			inputs := produceValid(t, e, n, 11, 0)
			var opts []kafkatest.ConsumeOption
			if mode == processor.ExactlyOnce {
				opts = append(opts, kafkatest.ReadCommitted())
			}
			out := readScored(t, kafkatest.ConsumeN(t, e.brokers, e.out, n, opts...))
			side := kafkatest.ConsumeN(t, e.brokers, shadowTopic, n)
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			for _, p := range out {
				if p.Version != "1" {
					t.Fatalf("output holds a prediction of version %s: the shadow's must never reach it", p.Version)
				}
			}
			keys := map[string]string{}
			var id struct {
				ID string `json:"transaction_id"`
			}
			for _, r := range inputs {
				json.Unmarshal(r.Value, &id)
				keys[id.ID] = string(r.Key)
			}
			sp := readScored(t, side)
			ids := map[string]bool{}
			for _, p := range sp {
				ids[p.ID] = true
				if p.Version != "2-shadow" || kafkatest.Header(p.rec, processor.HeaderShadowOf) != "fraud@1" {
					t.Errorf("shadow record %s: version %s, %s %q; want 2-shadow, fraud@1", p.ID, p.Version,
						processor.HeaderShadowOf, kafkatest.Header(p.rec, processor.HeaderShadowOf))
				}
				if string(p.rec.Key) != keys[p.ID] {
					t.Errorf("shadow record %s: key %q, input key %q", p.ID, p.rec.Key, keys[p.ID])
				}
			}
			if len(ids) != n {
				t.Errorf("shadow topic has predictions for %d events, want %d", len(ids), n)
			}
			agree := testutil.ToFloat64(e.metrics.ShadowAgreement.WithLabelValues("true"))
			disagree := testutil.ToFloat64(e.metrics.ShadowAgreement.WithLabelValues("false"))
			if agree < n || disagree != 0 {
				t.Errorf("shadow agreement true %v false %v, want >= %d and 0 (same model)", agree, disagree, n)
			}
			if got := testutil.ToFloat64(e.metrics.ShadowPredictions.WithLabelValues("produced")); got < n {
				t.Errorf("shadow_predictions_total{produced} = %v, want >= %d", got, n)
			}
			checkPredictionCounts(t, e, out, "1") // the shadow's count in the shadow metrics only
		})
	}
}

// TestShadowFailuresLeaveTheOutputAlone: a shadow that rejects every event
// (a tiny input size limit of its own), then a shadow topic that refuses
// every record (max.message.bytes below a prediction's size): the output
// and its commits are complete each time, the shadow metrics say why.
func TestShadowFailuresLeaveTheOutputAlone(t *testing.T) {
	for _, mode := range []string{processor.AtLeastOnce, processor.ExactlyOnce} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, 2)
			refusing := kafkatest.TopicWithConfigs(t, e.brokers, 1, map[string]string{"max.message.bytes": "64"})
			live := versioned(e.bundle, "1")
			pipe := &processor.Pipeline{Path: e.path(live, 0), ShadowTopic: refusing}
			group := kafkatest.UniqueName(t, "g")
			_, stop := e.startPipe(t, e.config(mode, group), pipe)
			var opts []kafkatest.ConsumeOption
			if mode == processor.ExactlyOnce {
				opts = append(opts, kafkatest.ReadCommitted())
			}

			// withShadow swaps shadow in beside the live model, sends 400
			// events and waits until the output holds want predictions and
			// their offsets are committed.
			withShadow := func(shadow *predict.Path, seed uint64, want int) {
				t.Helper()
				if err := pipe.Swap(processor.Models{Live: e.path(live, 0), Shadow: shadow}); err != nil {
					t.Fatal(err)
				}
				produceValid(t, e, 400, seed, 0)
				if got := len(kafkatest.ConsumeN(t, e.brokers, e.out, want, opts...)); got != want {
					t.Fatalf("output: %d predictions, want %d", got, want)
				}
				waitCommitted(t, e, group)
			}

			// a shadow that rejects everything (its own 100-byte input limit)
			withShadow(e.path(versioned(e.bundle, "tiny"), 100), 21, 400)
			if got := testutil.ToFloat64(e.metrics.ShadowPredictions.WithLabelValues("rejected")); got < 400 {
				t.Errorf("shadow_predictions_total{rejected} = %v, want >= 400", got)
			}

			// a shadow whose topic refuses every record
			withShadow(e.path(versioned(e.bundle, "2"), 0), 22, 800)
			proctest.Eventually(t, 30*time.Second, "the refused shadow records counted", func() error {
				if got := testutil.ToFloat64(e.metrics.ShadowPredictions.WithLabelValues("failed")); got < 400 {
					return fmt.Errorf("shadow_predictions_total{failed} = %v, want 400 (the topic refuses them)", got)
				}
				return nil
			})
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := testutil.ToFloat64(e.metrics.ProduceErrors.WithLabelValues(e.out)); got != 0 {
				t.Errorf("produce_errors_total{output} = %v, want 0", got)
			}
		})
	}
}
