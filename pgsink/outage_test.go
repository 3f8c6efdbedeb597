package pgsink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/secret"
)

// cutProxy forwards TCP connections to a server until cut: then it closes
// every connection and refuses new ones (a server that went away) until
// restored.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func newCutProxy(t testing.TB, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.setCut(true)
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *cutProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// via rewrites a postgres:// DSN to go through the proxy.
func (p *cutProxy) via(t testing.TB, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.ln.Addr().String()
	return u.String()
}

// TestSinkPostgresOutage: PostgreSQL goes away mid-stream; the sink is not
// ready, says so once, waits, and when the server is back writes every
// prediction once.
func TestSinkPostgresOutage(t *testing.T) {
	dsn, pool, table := testDB(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	brokers := kafkatest.Brokers(t)
	cfg := DefaultConfig()
	cfg.DSN, cfg.Table, cfg.Topic, cfg.Group = secret.Value(proxy.via(t, dsn)), table, kafkatest.Topic(t, brokers, 3), kafkatest.UniqueName(t, "g")
	cfg.BatchSize = 100

	want := produced{}
	produce(t, brokers, cfg.Topic, 0, 500, want)
	ts := startSink(t, cfg, brokers)
	waitStored(t, brokers, cfg, ts)
	proctest.Eventually(t, waitFor, "ready", func() error {
		if !ts.s.Ready() {
			return errors.New("not ready")
		}
		return nil
	})

	proxy.setCut(true)
	produce(t, brokers, cfg.Topic, 500, 500, want)
	proctest.Eventually(t, waitFor, "not ready, postgres_up 0, the outage logged", func() error {
		switch {
		case ts.s.Ready():
			return errors.New("still ready")
		case testutil.ToFloat64(ts.m.PostgresUp) != 0:
			return errors.New("postgres_up not 0")
		case !strings.Contains(ts.logs.String(), "postgres unavailable"):
			return errors.New("no outage log line")
		}
		return nil
	})
	// Let it retry a few times: still one log line for the outage.
	proctest.Eventually(t, waitFor, "a few failed retries", func() error {
		if n := testutil.ToFloat64(ts.m.Errors.WithLabelValues(ErrKindPostgres)); n < 3 {
			return fmt.Errorf("%v postgres errors", n)
		}
		return nil
	})
	if n := strings.Count(ts.logs.String(), "postgres unavailable"); n != 1 {
		t.Errorf("%d outage log lines, want 1", n)
	}

	proxy.setCut(false)
	produce(t, brokers, cfg.Topic, 1000, 500, want)
	waitStored(t, brokers, cfg, ts)
	checkTable(t, pool, table, want)
	if !strings.Contains(ts.logs.String(), "postgres answers again") {
		t.Error("no log line for the end of the outage")
	}
	if testutil.ToFloat64(ts.m.PostgresUp) != 1 {
		t.Error("postgres_up not 1 after the outage")
	}
	t.Logf("%d rows after an outage of %v postgres errors", len(want), testutil.ToFloat64(ts.m.Errors.WithLabelValues(ErrKindPostgres)))
}

// TestSinkRebalance: a second instance joins mid-stream, then the first
// leaves; partitions move between transactions and the table holds every
// prediction once.
func TestSinkRebalance(t *testing.T) {
	dsn, pool, table := testDB(t)
	brokers := kafkatest.Brokers(t)
	cfg := DefaultConfig()
	cfg.DSN, cfg.Table, cfg.Topic, cfg.Group = secret.Value(dsn), table, kafkatest.Topic(t, brokers, 6), kafkatest.UniqueName(t, "g")
	cfg.BatchSize = 100

	want := produced{}
	a := startSink(t, cfg, brokers)
	produce(t, brokers, cfg.Topic, 0, 1500, want)
	b := startSink(t, cfg, brokers)
	produce(t, brokers, cfg.Topic, 1500, 1500, want)
	proctest.Eventually(t, waitFor, "both instances own partitions", func() error {
		na, nb := testutil.ToFloat64(a.m.AssignedPartitions), testutil.ToFloat64(b.m.AssignedPartitions)
		if na == 0 || nb == 0 || na+nb != 6 {
			return fmt.Errorf("a owns %v, b %v", na, nb)
		}
		return nil
	})
	produce(t, brokers, cfg.Topic, 3000, 1500, want)
	if err := a.stop(); err != nil {
		t.Fatalf("first instance: %v", err)
	}
	produce(t, brokers, cfg.Topic, 4500, 1500, want)
	waitStored(t, brokers, cfg, b)
	if n := testutil.ToFloat64(b.m.AssignedPartitions); n != 6 {
		t.Errorf("second instance owns %v partitions after the first left, want 6", n)
	}
	checkTable(t, pool, table, want)
	counted(t, "rows_written_total of both instances", func() float64 {
		return testutil.ToFloat64(a.m.RowsWritten) + testutil.ToFloat64(b.m.RowsWritten)
	}, float64(len(want)))
	wa, wb := testutil.ToFloat64(a.m.RowsWritten), testutil.ToFloat64(b.m.RowsWritten)
	if wa == 0 || wb == 0 {
		t.Errorf("rows written: first %v, second %v; want both > 0", wa, wb)
	}
	t.Logf("%d rows: %v by the first instance, %v by the second; fenced %v+%v", len(want), wa, wb,
		testutil.ToFloat64(a.m.Errors.WithLabelValues(ErrKindFenced)), testutil.ToFloat64(b.m.Errors.WithLabelValues(ErrKindFenced)))
}

// TestSinkWaitsOutALockedTable: a DBA's transaction holds the table (an
// ALTER, a VACUUM FULL) and the sink's lock_timeout cancels every batch
// while the server answers pings. That is one outage: not fatal, logged
// once, retried with a growing wait, not ready; when the lock goes the
// sink writes every prediction once and logs the outage's end once.
func TestSinkWaitsOutALockedTable(t *testing.T) {
	dsn, pool, table := testDB(t)
	brokers := kafkatest.Brokers(t)
	cfg := DefaultConfig()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("options", "-c lock_timeout=100")
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20") // pgx reads + as itself
	cfg.DSN, cfg.Table, cfg.Topic, cfg.Group = secret.Value(u.String()), table, kafkatest.Topic(t, brokers, 3), kafkatest.UniqueName(t, "g")

	want := produced{}
	ts, release := sinkThenLock(t, pool, cfg, brokers, 300, want)
	produce(t, brokers, cfg.Topic, 300, 300, want)
	proctest.Eventually(t, waitFor, "several batches cancelled by lock_timeout", func() error {
		select {
		case <-ts.done:
			t.Fatalf("Run returned during the lock: %v", ts.stop())
		default:
		}
		if n := testutil.ToFloat64(ts.m.Errors.WithLabelValues(ErrKindPostgres)); n < 4 {
			return fmt.Errorf("%v postgres errors", n)
		}
		return nil
	})
	if ts.s.Ready() || testutil.ToFloat64(ts.m.PostgresUp) != 0 {
		t.Errorf("ready %v, postgres_up %v during the lock; want false and 0", ts.s.Ready(), testutil.ToFloat64(ts.m.PostgresUp))
	}
	logs := ts.logs.String()
	if n, m := strings.Count(logs, "postgres unavailable"), strings.Count(logs, "postgres answers again"); n != 1 || m != 0 {
		t.Errorf("%d outage lines and %d end lines during the lock, want 1 and 0", n, m)
	}

	release()
	waitStored(t, brokers, cfg, ts)
	checkTable(t, pool, table, want)
	counted(t, "rows_written_total", func() float64 { return testutil.ToFloat64(ts.m.RowsWritten) }, float64(len(want)))
	var end []map[string]any
	for _, line := range strings.Split(ts.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(fmt.Sprint(rec["msg"]), "postgres answers again") {
			end = append(end, rec)
		}
	}
	if len(end) != 1 {
		t.Fatalf("%d lines for the end of the outage, want 1", len(end))
	}
	if after, ok := end[0]["after"].(string); !ok || after == "" {
		t.Errorf(`end of outage "after" = %#v, want a duration such as "1.5s"`, end[0]["after"])
	}
}

// TestSinkTableChangedWhileRunning: a column retyped while the sink runs.
// To a type that does not fit, the sink stops with the table check's line
// (it was retried forever as an outage, or every row went to the rejects);
// to a compatible one, the rows keep coming (pgx's statement cache kept the
// old type and every row failed with "incorrect binary data format").
func TestSinkTableChangedWhileRunning(t *testing.T) {
	for _, tc := range []struct {
		name, alter string
		stops       string // the error; "": the sink writes on
	}{
		{"a type that does not fit", "DROP model, ADD model integer NOT NULL DEFAULT 0", "column model is integer (want text)"},
		{"a compatible type", "ALTER score TYPE numeric", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn, pool, table := testDB(t)
			brokers := kafkatest.Brokers(t)
			cfg := DefaultConfig()
			cfg.DSN, cfg.Table, cfg.Topic, cfg.Group = secret.Value(dsn), table, kafkatest.Topic(t, brokers, 1), kafkatest.UniqueName(t, "g")

			want := produced{}
			produce(t, brokers, cfg.Topic, 0, 100, want)
			ts := startSink(t, cfg, brokers)
			waitStored(t, brokers, cfg, ts)
			if _, err := pool.Exec(context.Background(), "ALTER TABLE "+table+" "+tc.alter); err != nil {
				t.Fatal(err)
			}
			if tc.stops == "" {
				produce(t, brokers, cfg.Topic, 100, 100, want)
				waitStored(t, brokers, cfg, ts)
				checkTable(t, pool, table, want)
				if n := count(t, pool, "SELECT count(*) FROM "+table+"_rejects"); n != 0 {
					t.Errorf("%d rejects, want none", n)
				}
				return
			}
			produce(t, brokers, cfg.Topic, 100, 100, nil)
			proctest.Eventually(t, waitFor, "the sink stops", func() error {
				select {
				case <-ts.done:
					return nil
				default:
					return errors.New("still running")
				}
			})
			err := ts.stop()
			var te *tableError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.stops) {
				t.Fatalf("Run = %v, want the table check's error saying %q", err, tc.stops)
			}
			if n, r := count(t, pool, "SELECT count(*) FROM "+table), count(t, pool, "SELECT count(*) FROM "+table+"_rejects"); n != 100 || r != 0 {
				t.Errorf("%d rows and %d rejects, want the 100 rows written before the change and no rejects", n, r)
			}
			ts.stop = func() error { return nil } // the error was this test's to check
		})
	}
}

// TestSinkStopFinishesTheTransaction: a stop while a transaction is in
// flight (here waiting on a DBA's lock) lets it finish: its rows are in the
// table and counted. It was cancelled: the batch in hand was not written,
// and a COMMIT cancelled on its way could land with its answer lost, rows
// in the table but not counted (TestSinkRebalance saw 5900 of 6000).
func TestSinkStopFinishesTheTransaction(t *testing.T) {
	dsn, pool, table := testDB(t)
	brokers := kafkatest.Brokers(t)
	cfg := DefaultConfig()
	cfg.DSN, cfg.Table, cfg.Topic, cfg.Group = secret.Value(dsn), table, kafkatest.Topic(t, brokers, 1), kafkatest.UniqueName(t, "g")

	want := produced{}
	ts, release := sinkThenLock(t, pool, cfg, brokers, 100, want)
	produce(t, brokers, cfg.Topic, 100, 50, want)
	schema, _, _ := strings.Cut(table, ".")
	proctest.Eventually(t, waitFor, "the sink's batch waits for the lock", func() error {
		if n := count(t, pool, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
AND position($1 in query) > 0 AND pid <> pg_backend_pid()`, `"`+schema+`"`); n != 1 {
			return fmt.Errorf("%d statements of the sink wait for a lock", n)
		}
		return nil
	})
	stopped := make(chan error, 1)
	go func() { stopped <- ts.stop() }()
	proctest.Eventually(t, waitFor, "the stop seen", func() error {
		select {
		case <-ts.done:
			return nil
		default:
		}
		if !strings.Contains(ts.logs.String(), "stopping: the transaction in hand finishes first") {
			return errors.New("no line for the stop yet")
		}
		return nil
	})
	release()
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkTable(t, pool, table, want)
	if got := testutil.ToFloat64(ts.m.RowsWritten); got != float64(len(want)) {
		t.Errorf("rows_written_total %v, want %d", got, len(want))
	}
}

// sinkThenLock produces n predictions, starts a sink and waits until they
// are stored, then locks the prediction table as a DBA's ALTER TABLE would,
// until release (or the test's end).
func sinkThenLock(t *testing.T, pool *pgxpool.Pool, cfg Config, brokers []string, n int, want produced) (*testSink, func()) {
	t.Helper()
	produce(t, brokers, cfg.Topic, 0, n, want)
	ts := startSink(t, cfg, brokers)
	waitStored(t, brokers, cfg, ts)
	ctx := context.Background()
	lock, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lock.Rollback(ctx) })
	if _, err := lock.Exec(ctx, "LOCK TABLE "+cfg.Table+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	return ts, func() {
		if err := lock.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
