package pgsink

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/secret"
)

// pgx and franz-go close their connections asynchronously.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, kafkatest.IgnoreClosing()...) }

const waitFor = 90 * time.Second // a deadline for conditions, not a speed claim

// prediction i of a test stream: every optional field present in some and
// absent in others.
func prediction(i int) (schemas.Prediction, bool) {
	p := schemas.Prediction{
		Key: fmt.Appendf(nil, "card-%d", i%97), EventID: fmt.Appendf(nil, "tx-%06d", i),
		EventTime: time.UnixMilli(1_764_000_000_000 + int64(i)).UTC(), ScoredTime: time.UnixMilli(1_764_000_001_000 + int64(i)).UTC(),
		Model: "fraud", ModelVersion: "7", Score: float64(i%1000) / 1000, Label: "Low Risk",
		Classes: []string{"legit", "fraud"}, Probs: []float64{1 - float64(i%1000)/1000, float64(i%1000) / 1000},
	}
	if i%5 == 0 {
		p.Label = ""
	}
	if i%7 == 0 {
		p.EventTime, p.EventID, p.Key = time.Time{}, nil, nil
	}
	echo := i%3 == 0
	if echo {
		p.FeatureNames = []string{"amount", "hour"}
		p.Features = []float64{float64(i) * 1.5, math.NaN()}
	}
	return p, echo
}

// produced is what the test wrote, by partition and offset.
type produced map[[2]int64]schemas.Prediction

func produce(t testing.TB, brokers []string, topic string, from, n int, want produced, opts ...kafkatest.ProduceOption) {
	t.Helper()
	preds := make([]schemas.Prediction, n)
	gen := func(i int) *kgo.Record {
		p, echo := prediction(from + i)
		preds[i] = p
		return &kgo.Record{Key: p.Key, Value: encoded(t, p, echo)}
	}
	recs := kafkatest.Produce(t, brokers, topic, n, append(opts, kafkatest.WithRecords(gen))...)
	if want == nil {
		return
	}
	for i, r := range recs {
		want[[2]int64{int64(r.Partition), r.Offset}] = preds[i]
	}
}

type testSink struct {
	s    *Sink
	m    *Metrics
	logs *proctest.LogBuffer // JSON lines, as in production
	stop func() error
	done chan struct{} // closed when Run returned
}

func startSink(t testing.TB, cfg Config, brokers []string) *testSink {
	t.Helper()
	ts := &testSink{m: NewMetrics(prometheus.NewRegistry()), logs: &proctest.LogBuffer{}, done: make(chan struct{})}
	log := slog.New(slog.NewJSONHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	ts.s, err = New(cfg, []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.MetadataMinAge(250 * time.Millisecond)}, ts.m, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	go func() { runErr = ts.s.Run(ctx); close(ts.done) }()
	stopped := false
	ts.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case <-ts.done:
			case <-time.After(waitFor):
				t.Errorf("sink did not stop within %s", waitFor)
			}
		}
		return runErr
	}
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Errorf("sink Run: %v", err)
		}
		if t.Failed() {
			t.Logf("sink log:\n%s", proctest.LastLines(ts.logs.String(), 60))
		}
	})
	return ts
}

// waitStored waits until the stored offset of every partition is its end
// offset (high watermark: markers included, nothing left to read).
func waitStored(t testing.TB, brokers []string, cfg Config, ts *testSink) {
	t.Helper()
	ends := kafkatest.EndOffsets(t, brokers, cfg.Topic, false)
	proctest.Eventually(t, waitFor, "stored offsets reach the end offsets", func() error {
		stored, err := ts.s.loadOffsets(context.Background(), slices.Sorted(maps.Keys(ends)))
		if err != nil {
			return err
		}
		for p, end := range ends {
			if stored[p] != end {
				return fmt.Errorf("partition %d: stored %d, end %d (all stored: %v)", p, stored[p], end, stored)
			}
		}
		return nil
	})
}

// counted waits until got() reports want: the sink counts a batch right
// after its transaction commits, so a test that saw the stored offsets may
// read the counters a moment early.
func counted(t testing.TB, what string, got func() float64, want float64) {
	t.Helper()
	proctest.Eventually(t, waitFor, what, func() error {
		if g := got(); g != want {
			return fmt.Errorf("%s %v, want %v", what, g, want)
		}
		return nil
	})
}

func TestSinkWritesEveryPredictionOnce(t *testing.T) {
	dsn, pool, table := testDB(t)
	brokers := kafkatest.Brokers(t)
	cfg := DefaultConfig()
	cfg.DSN, cfg.Table, cfg.Topic, cfg.Group = secret.Value(dsn), table, kafkatest.Topic(t, brokers, 3), kafkatest.UniqueName(t, "g")
	cfg.BatchSize = 200 // several transactions per partition

	want := produced{}
	produce(t, brokers, cfg.Topic, 0, 600, want)
	produce(t, brokers, cfg.Topic, 600, 150, want, kafkatest.Transactional(true))
	produce(t, brokers, cfg.Topic, 750, 100, nil, kafkatest.Transactional(false)) // aborted: never a row
	poison := map[string]reject.Reason{
		`not json`: reject.Malformed,
		`{"model":"m","model_version":"1","score":0.5,"probabilities":[]}`:                    reject.MissingField,
		`{"scored_time":1,"model":"m","model_version":"1","score":"high","probabilities":[]}`: reject.WrongType,
		``: reject.Malformed,
	}
	var poisonRecs []*kgo.Record
	for v := range poison {
		poisonRecs = append(poisonRecs, &kgo.Record{Topic: cfg.Topic, Key: []byte("poison"), Value: []byte(v)})
	}
	kafkatest.ProduceRecords(t, brokers, poisonRecs)

	ts := startSink(t, cfg, brokers)
	waitStored(t, brokers, cfg, ts)
	checkTable(t, pool, table, want)
	checkRejects(t, pool, table, poisonRecs, poison)
	counted(t, "rows_written_total", func() float64 { return testutil.ToFloat64(ts.m.RowsWritten) }, float64(len(want)))
	for _, reason := range []reject.Reason{reject.Malformed, reject.MissingField, reject.WrongType} {
		n := 0
		for _, r := range poison {
			if r == reason {
				n++
			}
		}
		counted(t, fmt.Sprintf("records_skipped_total{reason=%q}", reason),
			func() float64 { return testutil.ToFloat64(ts.m.RecordsSkipped.WithLabelValues(string(reason))) }, float64(n))
	}
	proctest.Eventually(t, waitFor, "lag 0 on every partition and ready", func() error {
		if !ts.s.Ready() {
			return fmt.Errorf("not ready")
		}
		// Read only series the sink made (WithLabelValues would make one).
		if n := testutil.CollectAndCount(ts.m.Lag); n != 3 {
			return fmt.Errorf("%d lag series, want one per partition", n)
		}
		for p := range 3 {
			if lag := testutil.ToFloat64(ts.m.Lag.WithLabelValues(cfg.Topic, fmt.Sprint(p))); lag != 0 {
				return fmt.Errorf("partition %d: lag %v", p, lag)
			}
		}
		return nil
	})
	if err := ts.stop(); err != nil {
		t.Fatalf("first sink: %v", err)
	}

	// A new instance resumes from the stored offsets: only the new records
	// are added, nothing twice.
	produce(t, brokers, cfg.Topic, 850, 300, want)
	ts2 := startSink(t, cfg, brokers)
	waitStored(t, brokers, cfg, ts2)
	checkTable(t, pool, table, want)
	counted(t, "the second sink's rows_written_total (the 300 new rows)", func() float64 { return testutil.ToFloat64(ts2.m.RowsWritten) }, 300)
	t.Logf("table %s: %d rows, one per committed prediction; %d rejects", table, len(want), len(poison))
}

// checkTable compares the whole table with the predictions produced.
func checkTable(t *testing.T, pool *pgxpool.Pool, table string, want produced) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT model, model_version, event_id, key, event_time, scored_time, label,
  score, probabilities::text, features::text, source_partition, source_offset FROM `+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[[2]int64]bool{}
	n := 0
	for rows.Next() {
		var g struct {
			model, version             string
			eventID, key, label, fjson *string
			eventTime                  *time.Time
			scoredTime                 time.Time
			score                      float64
			pjson                      string
			partition                  int32
			offset                     int64
		}
		if err := rows.Scan(&g.model, &g.version, &g.eventID, &g.key, &g.eventTime, &g.scoredTime, &g.label,
			&g.score, &g.pjson, &g.fjson, &g.partition, &g.offset); err != nil {
			t.Fatal(err)
		}
		n++
		at := [2]int64{int64(g.partition), g.offset}
		if seen[at] {
			t.Errorf("partition %d offset %d: written twice", g.partition, g.offset)
			continue
		}
		seen[at] = true
		p, ok := want[at]
		if !ok {
			t.Errorf("partition %d offset %d: a row for no produced prediction", g.partition, g.offset)
			continue
		}
		wantStr := func(b []byte) *string {
			if b == nil {
				return nil
			}
			s := string(b)
			return &s
		}
		var label *string
		if p.Label != "" {
			label = &p.Label
		}
		var eventTime *time.Time
		if !p.EventTime.IsZero() {
			eventTime = &p.EventTime
		}
		for _, c := range []struct{ name, got, want string }{
			{"model", g.model, p.Model},
			{"model_version", g.version, p.ModelVersion},
			{"event_id", ptrString(g.eventID), ptrString(wantStr(p.EventID))},
			{"key", ptrString(g.key), ptrString(wantStr(p.Key))},
			{"label", ptrString(g.label), ptrString(label)},
			{"event_time", timeString(g.eventTime), timeString(eventTime)},
			{"scored_time", timeString(&g.scoredTime), timeString(&p.ScoredTime)},
			{"score", fmt.Sprint(g.score), fmt.Sprint(p.Score)},
			{"probabilities", normJSON(t, &g.pjson), wantObject(p.Classes, p.Probs)},
			{"features", normJSON(t, g.fjson), wantObject(p.FeatureNames, p.Features)},
		} {
			if c.got != c.want {
				t.Errorf("partition %d offset %d: %s = %s, want %s", g.partition, g.offset, c.name, c.got, c.want)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Errorf("table holds %d rows, want %d (one per committed prediction)", n, len(want))
	}
}

func timeString(t *time.Time) string {
	if t == nil {
		return "NULL"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// normJSON re-encodes a JSON object with sorted keys ("NULL" for nil).
func normJSON(t *testing.T, s *string) string {
	t.Helper()
	if s == nil {
		return "NULL"
	}
	var m map[string]*float64
	if err := json.Unmarshal([]byte(*s), &m); err != nil {
		t.Fatalf("%s: %v", *s, err)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// wantObject is the object the table should hold for names and values
// (NaN: null; no names: NULL for features, {} for probabilities).
func wantObject(names []string, values []float64) string {
	if names == nil && values == nil {
		return "NULL"
	}
	m := map[string]*float64{}
	for i, n := range names {
		if v := values[i]; !math.IsNaN(v) {
			m[n] = &v
		} else {
			m[n] = nil
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func checkRejects(t *testing.T, pool *pgxpool.Pool, table string, recs []*kgo.Record, reasons map[string]reject.Reason) {
	t.Helper()
	for _, r := range recs {
		var reason, msg string
		var value []byte
		err := pool.QueryRow(context.Background(), `SELECT reason, error, record_value FROM `+table+`_rejects
WHERE source_topic = $1 AND source_partition = $2 AND source_offset = $3`, r.Topic, r.Partition, r.Offset).Scan(&reason, &msg, &value)
		if err != nil {
			t.Errorf("reject %q (partition %d offset %d): %v", r.Value, r.Partition, r.Offset, err)
			continue
		}
		if want := reasons[string(r.Value)]; reason != string(want) || string(value) != string(r.Value) {
			t.Errorf("reject at partition %d offset %d: reason %s value %q, want %s %q (error %s)", r.Partition, r.Offset, reason, value, want, r.Value, msg)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM `+table+`_rejects`); n != int64(len(recs)) {
		t.Errorf("rejects table holds %d rows, want %d", n, len(recs))
	}
}

// TestSinkRejectsLogOncePerBatch: a topic of bad records gives one warning
// per batch, not one per record; each record is still logged at debug.
func TestSinkRejectsLogOncePerBatch(t *testing.T) {
	dsn, pool, table := testDB(t)
	brokers := kafkatest.Brokers(t)
	cfg := DefaultConfig()
	cfg.DSN, cfg.Table, cfg.Topic, cfg.Group = secret.Value(dsn), table, kafkatest.Topic(t, brokers, 1), kafkatest.UniqueName(t, "g")
	const n = 200
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: cfg.Topic, Value: fmt.Appendf(nil, "not json %d", i)}
	}
	kafkatest.ProduceRecords(t, brokers, recs)

	ts := startSink(t, cfg, brokers)
	waitStored(t, brokers, cfg, ts)
	counted(t, "records_skipped_total{reason=malformed}", func() float64 {
		return testutil.ToFloat64(ts.m.RecordsSkipped.WithLabelValues(string(reject.Malformed)))
	}, n)
	if got := count(t, pool, "SELECT count(*) FROM "+table+"_rejects"); got != n {
		t.Errorf("%d rejects, want %d", got, n)
	}
	var h dto.Metric
	if err := ts.m.BatchRecords.Write(&h); err != nil {
		t.Fatal(err)
	}
	batches := h.GetHistogram().GetSampleCount()
	var warn, debug uint64
	for _, line := range strings.Split(ts.logs.String(), "\n") {
		var rec struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &rec) != nil || !strings.Contains(rec.Msg, "kept in the rejects table") {
			continue
		}
		switch rec.Level {
		case "WARN":
			warn++
		case "DEBUG":
			debug++
		}
	}
	if warn > batches || debug != n {
		t.Errorf("%d warnings and %d debug lines for %d rejects in %d batches; want at most one warning a batch and one debug line a record",
			warn, debug, n, batches)
	}
}
