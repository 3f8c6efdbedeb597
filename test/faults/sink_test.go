//go:build faults

package faults

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/schemas"
)

// The PostgreSQL sink scenario: its own PostgreSQL cluster (restarted here,
// so never the shared test server), the suite's dedicated broker.
const (
	envFaultPG   = "STREAMSCORE_TEST_FAULTS_PG_PORT" // dedicated PostgreSQL port (default 15433)
	sinkEvents   = 120_000
	sinkRate     = 10_000 // predictions/s of the live stream
	sinkPoison   = 0.005  // share of records that are not predictions
	sinkDeadline = 3 * time.Minute
	sinkApp      = "streamscore-sink-faults" // application_name of the sink's connections
)

// inTransaction waits (at most 2s) until a sink connection is inside a
// transaction, so a kill lands mid-write; false if none was seen.
func inTransaction(ctx context.Context, pool *pgxpool.Pool) bool {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND xact_start IS NOT NULL`, sinkApp).Scan(&n)
		if err == nil && n > 0 {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
	}
	return false
}

// faultPG is the scenario's PostgreSQL: deploy/postgres with a cache and
// port of its own.
type faultPG struct {
	dsn   string
	cache string
	port  string
}

func (pg *faultPG) script(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(suite.repo, "deploy", "postgres", name)}, args...)...)
	cmd.Env = proctest.CleanEnv("STREAMSCORE_DEV_PG_CACHE="+pg.cache, "STREAMSCORE_DEV_PG_PORT="+pg.port)
	cmd.Dir = suite.repo
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, proctest.LastLines(stderr.String(), 30))
	}
	return lastLine(stdout.String()), nil
}

func startFaultPG(t *testing.T) *faultPG {
	t.Helper()
	pg := &faultPG{cache: filepath.Join(suite.repo, ".cache", "postgres-faults"), port: "15433"}
	if p := os.Getenv(envFaultPG); p != "" {
		pg.port = p
	}
	if shared := os.Getenv("STREAMSCORE_TEST_POSTGRES"); strings.Contains(shared, ":"+pg.port+"/") {
		t.Fatalf("the fault test's PostgreSQL port %s is the shared test server's (STREAMSCORE_TEST_POSTGRES=%s): set %s to another port", pg.port, shared, envFaultPG)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := pg.script(ctx, "pg-down.sh", "--wipe"); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(pg.cache, "run", "postgres.log")) // this run's log only (kills_inside_txn counts in it)
	var err error
	if pg.dsn, err = pg.script(ctx, "pg-up.sh"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		args := []string{"--wipe"}
		if t.Failed() {
			args = nil
			t.Logf("PostgreSQL cluster kept for a look: %s (log %s/run/postgres.log)", pg.cache, pg.cache)
		}
		if _, err := pg.script(ctx, "pg-down.sh", args...); err != nil {
			t.Errorf("stopping the fault test's PostgreSQL: %v", err)
		}
	})
	t.Logf("dedicated PostgreSQL at %s (cache %s)", pg.dsn, pg.cache)
	return pg
}

// sinkStream produces the live stream of predictions and remembers what
// went where.
type sinkStream struct {
	mu     sync.Mutex
	events map[[2]int64]string // partition, offset -> event id ("" for poison)
	errs   []error
}

func (st *sinkStream) run(ctx context.Context, brokers []string, topic string, seed uint64) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	enc, err := schemas.NewEncoder(ctx, schemas.OutputConfig{Format: schemas.FormatJSON, EchoFeatures: true}, nil)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 0x51c))
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	perTick := sinkRate / 100
	for sent := 0; sent < sinkEvents; {
		for range min(perTick, sinkEvents-sent) {
			id := fmt.Sprintf("ev-%07d", sent)
			var value []byte
			if rng.Float64() < sinkPoison {
				value = []byte("poison " + id) // not JSON
				id = ""
			} else {
				score := rng.Float64()
				p := schemas.Prediction{Key: fmt.Appendf(nil, "card-%d", sent%1000), EventID: []byte(id),
					EventTime: time.Now().Add(-time.Second), ScoredTime: time.Now(), Model: "fraud", ModelVersion: "1",
					Score: score, Label: map[bool]string{true: "High Risk", false: "Low Risk"}[score > 0.8],
					Classes: []string{"legit", "fraud"}, Probs: []float64{1 - score, score},
					FeatureNames: []string{"amount", "hour"}, Features: []float64{rng.Float64() * 500, float64(sent % 24)}}
				if value, err = enc.Append(nil, &p); err != nil {
					return err
				}
			}
			cl.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "card-%d", sent%1000), Value: value}, func(r *kgo.Record, err error) {
				st.mu.Lock()
				defer st.mu.Unlock()
				if err != nil {
					st.errs = append(st.errs, err)
					return
				}
				st.events[[2]int64{int64(r.Partition), r.Offset}] = id
			})
			sent++
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.errs) > 0 {
		return fmt.Errorf("%d produce errors, first: %w", len(st.errs), st.errs[0])
	}
	return nil
}

// TestSinkPostgresKill: `streamscore sink postgres` is SIGKILLed three
// times mid-stream (restarted at once, as a supervisor would) and
// PostgreSQL is crashed and restarted once (immediate shutdown: crash
// recovery from the WAL); afterwards the table holds exactly one row per
// prediction and the rejects table one per poison record.
func TestSinkPostgresKill(t *testing.T) {
	pg := startFaultPG(t)
	brokers := dedicatedBroker(t).brokers
	topic := kafkatest.TopicWithConfigs(t, brokers, 6, nil)
	group := kafkatest.UniqueName(t, "sink")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "sink.yaml")
	cfg := fmt.Sprintf(`kafka:
  brokers: %q
  client_id: streamscore-faults-sink
output:
  topic: %q
sink:
  postgres:
    dsn: %q
    table: predictions
    group: %q
    batch_size: 2000
    flush_interval: 100ms
    instance_id: sink-1
    session_timeout: 6s
http:
  listen: ""
log:
  format: json
`, suite.brokers, topic, pg.dsn+"&application_name="+sinkApp, group)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	var procs []*proctest.Proc
	start := func() *proctest.Proc {
		p := proctest.Start(t, fmt.Sprintf("sink-%d", len(procs)+1),
			proctest.Options{Dir: dir, MaxLife: sinkDeadline + time.Minute, NoDump: true}, suite.bin, "sink", "postgres", "--config", cfgPath)
		procs = append(procs, p)
		return p
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.Kill()
			if t.Failed() {
				t.Logf("---- %s log (last 40 lines):\n%s", p.Name, proctest.LastLines(p.Stdout.String(), 40))
			}
		}
	})

	seed := suite.seed*1000 + 77
	rng := rand.New(rand.NewPCG(seed, 0x5171))
	stream := time.Duration(sinkEvents/sinkRate) * time.Second
	// One kill in each third of the stream; the PostgreSQL crash between
	// the first two kills, apart from both.
	at := func(from, to float64) time.Duration {
		return time.Duration((from + rng.Float64()*(to-from)) * float64(stream))
	}
	type fault struct {
		at   time.Duration
		what string
	}
	plan := func(fs []fault) string {
		var b []string
		for _, f := range fs {
			b = append(b, fmt.Sprintf("%s@%.1fs", f.what, f.at.Seconds()))
		}
		return strings.Join(b, " ")
	}
	faults := []fault{{at(0.10, 0.25), "kill"}, {at(0.30, 0.40), "pg-restart"}, {at(0.45, 0.60), "kill"}, {at(0.70, 0.90), "kill"}}
	t.Logf("scenario sink-postgres: seed %d, %d predictions at %d/s (%.1f%% poison), topic %s (6 partitions), group %s; faults %s",
		seed, sinkEvents, sinkRate, sinkPoison*100, topic, group, plan(faults))

	ctx, cancel := context.WithTimeout(context.Background(), sinkDeadline)
	defer cancel()
	pool, err := pgxpool.New(ctx, pg.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	sink := start()
	st := &sinkStream{events: map[[2]int64]string{}}
	prodErr := make(chan error, 1)
	began := time.Now()
	go func() { prodErr <- st.run(ctx, brokers, topic, seed) }()

	var pgDown time.Duration
	for _, f := range faults {
		select {
		case <-ctx.Done():
			t.Fatalf("deadline before the %s at %s", f.what, f.at)
		case <-time.After(time.Until(began.Add(f.at))):
		}
		switch f.what {
		case "kill":
			if sink.Exited() {
				t.Fatalf("%s exited by itself before the kill: %s\n%s", sink.Name, sink.Status(), proctest.LastLines(sink.Stdout.String(), 30))
			}
			inTxn := inTransaction(ctx, pool)
			sink.Kill()
			t.Logf("%.1fs: SIGKILLed %s (pid %d) %s, restarting", time.Since(began).Seconds(), sink.Name, sink.Pid(),
				map[bool]string{true: "inside a transaction", false: "(no open transaction seen within 2s)"}[inTxn])
			sink = start()
		case "pg-restart":
			t0 := time.Now()
			if _, err := pg.script(ctx, "pg-restart.sh"); err != nil {
				t.Fatal(err)
			}
			pgDown = time.Since(t0)
			t.Logf("%.1fs: PostgreSQL crashed (immediate shutdown) and restarted in %s", time.Since(began).Seconds(), pgDown.Round(time.Millisecond))
		}
	}
	if err := <-prodErr; err != nil {
		t.Fatalf("producer: %v", err)
	}
	produced := time.Since(began)

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("end offsets: %v %v", err, ends.Error())
	}
	var last string
	for {
		stored := map[int32]int64{}
		rows, err := pool.Query(ctx, `SELECT partition, next_offset FROM predictions_offsets WHERE consumer_group = $1 AND topic = $2`, group, topic)
		if err == nil {
			var p int32
			var off int64
			for rows.Next() {
				if err = rows.Scan(&p, &off); err != nil {
					break
				}
				stored[p] = off
			}
			rows.Close()
		}
		done := err == nil
		ends.Each(func(o kadm.ListedOffset) {
			if stored[o.Partition] != o.Offset {
				done = false
			}
		})
		if done {
			break
		}
		last = fmt.Sprintf("stored %v, ends %v, err %v", stored, ends, err)
		if sink.Exited() {
			t.Fatalf("%s exited by itself: %s\n%s", sink.Name, sink.Status(), proctest.LastLines(sink.Stdout.String(), 30))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the sink did not store the end offsets within %s: %s", sinkDeadline, last)
		case <-time.After(proctest.PollEvery):
		}
	}
	drain := time.Since(began) - produced
	if code := sink.Stop(); code != 0 {
		t.Errorf("%s exited with %d after SIGTERM, want 0\n%s", sink.Name, code, proctest.LastLines(sink.Stdout.String(), 20))
	}

	// The verdict: every produced record exactly once, in the table or in
	// the rejects.
	type got struct{ rows, rejects map[[2]int64]int }
	g := got{rows: map[[2]int64]int{}, rejects: map[[2]int64]int{}}
	wrongID := 0
	rows, err := pool.Query(ctx, `SELECT source_partition, source_offset, coalesce(event_id, '') FROM predictions WHERE source_topic = $1`, topic)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p int32
		var off int64
		var id string
		if err := rows.Scan(&p, &off, &id); err != nil {
			t.Fatal(err)
		}
		k := [2]int64{int64(p), off}
		g.rows[k]++
		if want, ok := st.events[k]; ok && want != id {
			wrongID++
		}
	}
	rows.Close()
	rows, err = pool.Query(ctx, `SELECT source_partition, source_offset FROM predictions_rejects WHERE source_topic = $1 AND reason = 'malformed'`, topic)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p int32
		var off int64
		if err := rows.Scan(&p, &off); err != nil {
			t.Fatal(err)
		}
		g.rejects[[2]int64{int64(p), off}]++
	}
	rows.Close()

	var valid, poison, missing, dups, unexpected, rejectMissing, rejectDups int
	for k, id := range st.events {
		if id == "" {
			poison++
			if g.rejects[k] == 0 {
				rejectMissing++
			}
			continue
		}
		valid++
		if g.rows[k] == 0 {
			missing++
		}
	}
	total := 0
	for k, n := range g.rows {
		total += n
		dups += n - 1
		if id, ok := st.events[k]; !ok || id == "" {
			unexpected++
		}
	}
	for k, n := range g.rejects {
		rejectDups += n - 1
		if st.events[k] != "" {
			unexpected++
		}
	}
	// PostgreSQL logs a client that vanished inside a transaction.
	cut := 0
	if b, err := os.ReadFile(filepath.Join(pg.cache, "run", "postgres.log")); err == nil {
		cut = bytes.Count(b, []byte("unexpected EOF on client connection with an open transaction"))
	}
	outages := 0
	for _, p := range procs {
		outages += strings.Count(p.Stdout.String(), "postgres unavailable")
	}
	t.Logf("counts: produced=%d predictions=%d poison=%d rows=%d distinct_rows=%d rejects=%d", len(st.events), valid, poison, total, len(g.rows), len(g.rejects))
	t.Logf("SUMMARY scenario=sink-postgres produced=%d predictions=%d poison=%d rows=%d missing=%d duplicates=%d unexpected=%d wrong_event_id=%d rejects=%d rejects_missing=%d rejects_dups=%d kills=3 kills_inside_txn=%d pg_restarts=1 pg_down=%s pg_outages_logged=%d sink_processes=%d drain=%.1fs",
		len(st.events), valid, poison, total, missing, dups, unexpected, wrongID, len(g.rejects), rejectMissing, rejectDups, cut,
		pgDown.Round(time.Millisecond), outages, len(procs), drain.Seconds())
	if missing+dups+unexpected+wrongID+rejectMissing+rejectDups > 0 {
		t.Errorf("the table does not hold exactly one row per prediction: missing %d, duplicates %d, unexpected %d, wrong event id %d; rejects missing %d, duplicated %d",
			missing, dups, unexpected, wrongID, rejectMissing, rejectDups)
	}
	if outages == 0 {
		t.Errorf("no sink logged a PostgreSQL outage: the restart was not exercised")
	}
	for _, p := range procs[:len(procs)-1] {
		if !p.Exited() {
			t.Errorf("%s still running", p.Name)
		}
	}
}
