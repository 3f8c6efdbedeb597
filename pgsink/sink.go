package pgsink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamscore/streamscore/reject"
	"github.com/streamscore/streamscore/secret"
)

const (
	lagRefresh      = 5 * time.Second
	shutdownTimeout = 10 * time.Second // to write the last batch on a graceful stop
	maxBackoff      = 5 * time.Second
)

// Sink writes the prediction topic into PostgreSQL. Build it with New, then
// Run it once; Ready is safe to call from other goroutines.
type Sink struct {
	cfg   Config
	names tables
	kopts []kgo.Opt
	pool  *pgxpool.Pool
	m     *Metrics
	log   *slog.Logger
	pg    outage

	cl  *kgo.Client // set by Run
	adm *kadm.Client

	mu    sync.Mutex
	owned map[int32]int64 // partition -> next offset stored in PostgreSQL; -1: no row yet
	lags  map[int32]bool  // partitions with a lag series

	lagOK   atomic.Int64 // unix nanos of the last lag refresh that reached the brokers
	stopped atomic.Bool

	// failedWrites counts the batches that failed since the last commit, so
	// the wait between them grows (the consume loop's alone).
	failedWrites int
}

// New checks the configuration and prepares the connection pool (it
// connects lazily). kopts are the Kafka connection options
// (processor.ClientOpts) plus hooks such as kprom.
func New(cfg Config, kopts []kgo.Opt, m *Metrics, log *slog.Logger) (*Sink, error) {
	if err := cfg.Runnable(); err != nil {
		return nil, err
	}
	pcfg, err := poolConfig(cfg)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres pool: %w", err)
	}
	s := &Sink{cfg: cfg, names: newTables(cfg.Table), kopts: kopts, pool: pool, m: m, log: log,
		owned: map[int32]int64{}, lags: map[int32]bool{}}
	s.pg = outage{log: log, up: m.PostgresUp}
	return s, nil
}

// poolConfig is the connection pool's configuration: the DSN's, with the
// password read from sink.postgres.password_file at every new connection.
func poolConfig(cfg Config) (*pgxpool.Config, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DSN.Reveal())
	if err != nil {
		return nil, dsnError(cfg.DSN.Reveal(), err)
	}
	if path := cfg.PasswordFile; path != "" {
		if _, err := secret.ReadFile(path); err != nil { // a clear error at start
			return nil, fmt.Errorf("sink.postgres.password_file: %w", err)
		}
		pcfg.BeforeConnect = func(_ context.Context, cc *pgx.ConnConfig) error {
			pw, err := secret.ReadFile(path)
			if err != nil {
				return fmt.Errorf("sink.postgres.password_file: %w", err)
			}
			cc.Password = pw.Reveal()
			return nil
		}
	}
	// One connection writes; the others read offsets on assignment.
	pcfg.MaxConns = 4
	// Describe every statement afresh: COPY encodes each value for the
	// column type it was told, and pgx's per-connection statement cache
	// would keep telling the old type after an ALTER TABLE (every row then
	// fails with "incorrect binary data format"). One round trip a batch.
	pcfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec
	if pcfg.ConnConfig.ConnectTimeout == 0 {
		pcfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	return pcfg, nil
}

// Ready reports whether the sink can write: PostgreSQL answers and the
// brokers answered a recent lag refresh.
func (s *Sink) Ready() bool {
	last := time.Unix(0, s.lagOK.Load())
	return !s.stopped.Load() && s.pg.isUp() && time.Since(last) < 3*lagRefresh
}

// Run creates the tables (when configured), joins the consumer group and
// writes until ctx is cancelled or a fatal error (PostgreSQL refuses the
// sink for good: authentication, permissions, a missing table) happens. A
// graceful stop writes the batch in hand, then leaves the group.
func (s *Sink) Run(ctx context.Context) error {
	defer s.stopped.Store(true)
	defer s.pool.Close()
	if err := s.prepare(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	opts := append(slices.Clip(s.kopts),
		kgo.ConsumerGroup(s.cfg.Group),
		kgo.ConsumeTopics(s.cfg.Topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Commit markers are returned too, so the stored offset passes them
		// and the lag reaches 0 on a transactional topic.
		kgo.KeepControlRecords(),
		kgo.DisableAutoCommit(),
		// Revocations wait until the batch in hand is committed or dropped.
		kgo.BlockRebalanceOnPoll(),
		kgo.AdjustFetchOffsetsFn(s.adjust),
		kgo.OnPartitionsRevoked(s.dropPartitions),
		kgo.OnPartitionsLost(s.dropPartitions),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(s.cfg.SessionTimeout),
	)
	if s.cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(s.cfg.InstanceID))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	s.cl, s.adm = cl, kadm.NewClient(cl)

	lagCtx, stopLag := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.lagLoop(lagCtx) }()

	err = s.consume(ctx)
	stopLag()
	wg.Wait()
	cl.AllowRebalance()
	cl.Close() // leaves the group; the revoke callback clears owned
	return err
}

// prepare creates (or finds) the tables and checks them, waiting out an
// unreachable server.
func (s *Sink) prepare(ctx context.Context) error {
	// Instances starting together would race in CREATE TABLE IF NOT EXISTS
	// (one fails on pg_type's unique index): a transaction-scoped advisory
	// lock on the table's name lets one create and the others find.
	// (The name is validated: [a-z0-9_.] only.)
	sql := "BEGIN; SELECT pg_advisory_xact_lock(hashtext('streamscore sink " + s.cfg.Table + "')); " + s.names.ddl() + " COMMIT;"
	if !s.cfg.CreateTable {
		sql = fmt.Sprintf("SELECT 1 FROM %s LIMIT 0; SELECT 1 FROM %s LIMIT 0; SELECT 1 FROM %s LIMIT 0",
			s.names.rows.Sanitize(), s.names.offsets.Sanitize(), s.names.rejects.Sanitize())
	}
	for attempt := 0; ; attempt++ {
		_, err := s.pool.Exec(ctx, sql)
		if err == nil {
			if err = s.check(ctx); err == nil {
				s.pg.ok()
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var te *tableError
		if errors.As(err, &te) {
			return err
		}
		s.m.Errors.WithLabelValues(ErrKindPostgres).Inc()
		if !transient(err) {
			if s.passwordRefused(err) {
				return fmt.Errorf("postgres refused the password of sink.postgres.password_file %s: %w", s.cfg.PasswordFile, err)
			}
			if !s.cfg.CreateTable {
				return fmt.Errorf("postgres: the sink's tables (sink.postgres.create_table is off): %w", err)
			}
			return fmt.Errorf("postgres: create tables: %w", err)
		}
		s.pg.fail(err)
		if !sleep(ctx, backoff(attempt)) {
			return ctx.Err()
		}
	}
}

// passwordRefused: PostgreSQL refused the password read from
// sink.postgres.password_file (28P01). At start that is fatal (a wrong
// file); while running it is waited out like an outage, since a rotation
// changes the role's password and the mounted file at different moments
// (the kubelet updates a Secret's files up to a minute or more later) and
// the next connection reads the file again.
func (s *Sink) passwordRefused(err error) bool {
	return s.cfg.PasswordFile != "" && sqlState(err) == "28P01"
}

// consume is the poll loop: collect a batch, write it, let a waiting
// rebalance through, repeat.
func (s *Sink) consume(ctx context.Context) error {
	for {
		b, closed := s.collect(ctx)
		if ctx.Err() != nil || closed {
			if !b.empty() {
				wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
				if err := s.write(wctx, b); err != nil {
					s.log.Warn("last batch not written at stop; the next owner reads it again from the stored offsets",
						"records", b.records, "err", err)
				} else {
					s.committed(wctx, b)
				}
				cancel()
			}
			return nil
		}
		if !b.empty() {
			if err := s.flush(ctx, b); err != nil {
				return err
			}
		}
		s.cl.AllowRebalance()
	}
}

// batch is what one transaction writes. The polled records are parsed
// while the first write streams them to PostgreSQL (batchSource), so the
// client's parsing and the server's COPY overlap.
type batch struct {
	recs    []*kgo.Record // data records, in poll order
	parsed  int           // recs[:parsed] are in rows or rejects
	rows    []Row
	rejects []Reject
	parts   map[int32]*partBatch
	records int // polled records, control records included
}

// parseOne maps the next unparsed record to a row or a reject; false when
// every record is parsed.
func (b *batch) parseOne() bool {
	if b.parsed == len(b.recs) {
		return false
	}
	r := b.recs[b.parsed]
	b.parsed++
	row, err := ParseRow(r.Value, r.Topic, r.Partition, r.Offset)
	if err != nil {
		reason, _ := reject.Of(err)
		b.rejects = append(b.rejects, Reject{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
			Reason: reason, Err: err.Error(), Key: r.Key, Value: r.Value})
		return true
	}
	if b.rows == nil {
		b.rows = make([]Row, 0, len(b.recs))
	}
	row.key, row.value = r.Key, r.Value
	b.rows = append(b.rows, row)
	return true
}

func (b *batch) parseAll() {
	for b.parseOne() {
	}
}

// partBatch is one partition's share of a batch: the stored offset it
// expects to move and where it moves it to.
type partBatch struct {
	expected int64 // next offset stored in PostgreSQL when the batch began; -1: no row
	first    int64 // first polled offset, to rewind to when the batch is dropped
	next     int64 // offset after the last polled record
}

func (b *batch) empty() bool { return b == nil || len(b.parts) == 0 }

// firsts are the offsets to rewind to when the batch is dropped.
func (b *batch) firsts() map[int32]int64 {
	m := make(map[int32]int64, len(b.parts))
	for p, pb := range b.parts {
		m[p] = pb.first
	}
	return m
}

// collect polls until BatchSize records are in hand or FlushEvery passed
// since the first one. closed reports a closed client.
func (s *Sink) collect(ctx context.Context) (b *batch, closed bool) {
	b = &batch{parts: map[int32]*partBatch{}}
	// pctx ends with ctx, or FlushEvery after the first record.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var flushTimer *time.Timer
	defer func() {
		if flushTimer != nil {
			flushTimer.Stop()
		}
	}()
	for {
		fs := s.cl.PollRecords(pctx, s.cfg.BatchSize-b.records)
		if fs.IsClientClosed() {
			return b, true
		}
		fs.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			s.m.Errors.WithLabelValues(ErrKindFetch).Inc()
			s.log.Warn("fetch failed; the client retries", "topic", topic, "partition", p, "err", err)
		})
		fs.EachPartition(func(fp kgo.FetchTopicPartition) { s.add(b, fp) })
		if b.records >= s.cfg.BatchSize || pctx.Err() != nil {
			return b, false
		}
		if b.records > 0 && flushTimer == nil {
			flushTimer = time.AfterFunc(s.cfg.FlushEvery, cancel)
		}
	}
}

// add maps one partition's polled records onto the batch.
func (s *Sink) add(b *batch, fp kgo.FetchTopicPartition) {
	if len(fp.Records) == 0 {
		return
	}
	s.mu.Lock()
	stored, ok := s.owned[fp.Partition]
	s.mu.Unlock()
	if !ok {
		return // not ours (any more): the owner reads it from the stored offset
	}
	pb := b.parts[fp.Partition]
	if pb == nil {
		pb = &partBatch{expected: stored, first: fp.Records[0].Offset, next: stored}
		b.parts[fp.Partition] = pb
	}
	for _, r := range fp.Records {
		b.records++
		if pb.next >= 0 && r.Offset < pb.next {
			continue // in PostgreSQL already
		}
		pb.next = r.Offset + 1
		if !r.Attrs.IsControl() {
			b.recs = append(b.recs, r)
		}
	}
}

// flush writes a batch. After an outage it returns once PostgreSQL answers
// again, the batch dropped and its partitions rewound, so the records are
// read again from the stored offsets. Only a fatal error is returned.
func (s *Sink) flush(ctx context.Context, b *batch) error {
	// A stop lets the transaction in hand finish, within shutdownTimeout:
	// cancelled mid-way, its COMMIT could land with the answer lost (rows
	// in the table, not counted) and the batch in hand was not written.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		s.log.Info("stopping: the transaction in hand finishes first", "records", b.records, "at_most", shutdownTimeout.String())
		time.AfterFunc(shutdownTimeout, cancel)
	})
	defer func() { stop(); cancel() }()
	err := s.write(wctx, b)
	var fe *fencedError
	var te *tableError
	switch {
	case errors.As(err, &te):
		return err
	case err == nil:
		s.pg.ok()
		s.failedWrites = 0
		s.committed(wctx, b)
		return nil
	case errors.As(err, &fe):
		s.m.Errors.WithLabelValues(ErrKindFenced).Inc()
		stored, lerr := s.loadOffsets(ctx, fe.partitions)
		if lerr == nil {
			s.log.Warn("stored offsets moved under this instance (another owner wrote these partitions); batch dropped, reading on from the stored offsets",
				"topic", s.cfg.Topic, "partitions", fe.partitions, "stored", stored)
			s.setOffsets(b.firsts())
			s.rewindTo(fe.partitions, stored)
			return nil
		}
		err = lerr
	case ctx.Err() != nil:
		return nil // stopping: nothing was committed
	case sqlState(err) != "":
		// The server answered: if the tables changed under the sink (a
		// column dropped or retyped), say so and stop, as at start; a
		// type pgx cannot encode into comes back as a cancelled COPY.
		if cerr := s.check(ctx); errors.As(cerr, &te) {
			return cerr
		}
		if !transient(err) && !s.passwordRefused(err) {
			return fmt.Errorf("postgres refused the batch: %w", err)
		}
	}
	// An outage (or a failure that may pass): drop the batch, rewind, let
	// rebalances through and wait until the server answers. The outage
	// ends with the next committed batch, not the ping: a server that
	// answers pings but times out every batch is one outage, logged once,
	// retried with a growing wait.
	s.m.Errors.WithLabelValues(ErrKindPostgres).Inc()
	s.pg.fail(err)
	s.setOffsets(b.firsts())
	s.cl.AllowRebalance()
	for {
		if !sleep(ctx, backoff(s.failedWrites)) {
			return nil
		}
		s.failedWrites++
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.pool.Ping(pctx)
		cancel()
		if err == nil {
			return nil
		}
		s.m.Errors.WithLabelValues(ErrKindPostgres).Inc()
	}
}

// committed updates the in-memory offsets, metrics and logs after a commit,
// and commits the offsets to Kafka too (for the broker-side lag only: the
// sink never starts from them).
func (s *Sink) committed(ctx context.Context, b *batch) {
	s.m.RowsWritten.Add(float64(len(b.rows)))
	s.m.BatchRecords.Observe(float64(len(b.rows) + len(b.rejects)))
	// One warning a batch, each record at debug: a topic full of bad records
	// must not flood the log.
	reasons := map[reject.Reason]int{}
	for _, r := range b.rejects {
		reasons[r.Reason]++
		s.m.RecordsSkipped.WithLabelValues(string(r.Reason)).Inc()
		s.log.Debug("record is not a storable prediction; kept in the rejects table", "topic", r.Topic,
			"partition", r.Partition, "offset", r.Offset, "reason", r.Reason, "err", r.Err, "table", s.names.rejects.Sanitize())
	}
	if len(b.rejects) > 0 {
		r := b.rejects[0]
		s.log.Warn("records are not storable predictions; kept in the rejects table", "records", len(b.rejects),
			"reasons", reasons, "table", s.names.rejects.Sanitize(), "topic", r.Topic,
			"first_partition", r.Partition, "first_offset", r.Offset, "first_err", r.Err)
	}
	commit := map[int32]kgo.EpochOffset{}
	s.mu.Lock()
	for p, pb := range b.parts {
		if _, ok := s.owned[p]; ok {
			s.owned[p] = pb.next
		}
		commit[p] = kgo.EpochOffset{Epoch: -1, Offset: pb.next}
	}
	s.mu.Unlock()
	// Bounded: the commit waits for a join/sync in progress.
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	s.cl.CommitOffsets(cctx, map[string]map[int32]kgo.EpochOffset{s.cfg.Topic: commit},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
			cancel()
			if err != nil {
				s.log.Debug("kafka offset commit (lag visibility only) failed", "err", err)
			}
		})
}

// rewindTo moves the fetch positions of parts to the stored offsets and
// records them as the expected ones (0, then the reset to the log start,
// where no row is stored).
func (s *Sink) rewindTo(parts []int32, stored map[int32]int64) {
	to := map[int32]int64{}
	s.mu.Lock()
	for _, p := range parts {
		if _, ok := s.owned[p]; !ok {
			continue
		}
		off, ok := stored[p]
		if !ok {
			s.owned[p], to[p] = -1, 0
			continue
		}
		s.owned[p], to[p] = off, off
	}
	s.mu.Unlock()
	s.setOffsets(to)
}

// setOffsets must be called between a poll and AllowRebalance, when no
// revocation can run (franz-go's rule for SetOffsets in a group).
func (s *Sink) setOffsets(to map[int32]int64) {
	if len(to) == 0 {
		return
	}
	m := make(map[int32]kgo.EpochOffset, len(to))
	for p, off := range to {
		m[p] = kgo.EpochOffset{Epoch: -1, Offset: off}
	}
	s.cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{s.cfg.Topic: m})
}

// adjust replaces the offsets Kafka has for newly assigned partitions with
// the ones stored in PostgreSQL (the log start where none is stored). While
// PostgreSQL is down it waits, so those partitions are not fetched; ctx ends
// when the group revokes them.
func (s *Sink) adjust(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	parts := offsets[s.cfg.Topic]
	if len(parts) == 0 {
		return offsets, nil
	}
	ids := slices.Sorted(maps.Keys(parts))
	var stored map[int32]int64
	for attempt := 0; ; attempt++ {
		var err error
		if stored, err = s.loadOffsets(ctx, ids); err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.m.Errors.WithLabelValues(ErrKindPostgres).Inc()
		s.pg.fail(err)
		if !sleep(ctx, backoff(attempt)) {
			return nil, ctx.Err()
		}
	}
	s.pg.ok()
	s.mu.Lock()
	for _, p := range ids {
		if off, ok := stored[p]; ok {
			parts[p] = kgo.NewOffset().At(off).WithEpoch(-1)
			s.owned[p] = off
		} else {
			parts[p] = kgo.NewOffset().AtStart()
			s.owned[p] = -1
		}
	}
	s.m.AssignedPartitions.Set(float64(len(s.owned)))
	s.mu.Unlock()
	s.log.Info("partitions assigned; reading from the offsets stored in PostgreSQL (log start where none)",
		"topic", s.cfg.Topic, "partitions", ids, "stored", stored)
	return offsets, nil
}

// dropPartitions forgets revoked or lost partitions. With BlockRebalanceOnPoll
// it runs only between batches, so no transaction for them is open.
func (s *Sink) dropPartitions(_ context.Context, _ *kgo.Client, gone map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range gone[s.cfg.Topic] {
		delete(s.owned, p)
		if s.lags[p] {
			s.m.Lag.DeleteLabelValues(s.cfg.Topic, strconv.Itoa(int(p)))
			delete(s.lags, p)
		}
	}
	s.m.AssignedPartitions.Set(float64(len(s.owned)))
	if len(gone[s.cfg.Topic]) > 0 {
		s.log.Info("partitions revoked", "topic", s.cfg.Topic, "partitions", gone[s.cfg.Topic])
	}
}

func (s *Sink) lagLoop(ctx context.Context) {
	t := time.NewTicker(lagRefresh)
	defer t.Stop()
	for {
		s.refreshLag(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refreshLag sets the lag of every owned partition: the last stable offset
// (the end for a read_committed reader) minus the stored offset.
func (s *Sink) refreshLag(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, lagRefresh)
	defer cancel()
	ends, err := s.adm.ListCommittedOffsets(ctx, s.cfg.Topic)
	if err == nil {
		err = ends.Error()
	}
	var starts kadm.ListedOffsets
	if err == nil {
		starts, err = s.adm.ListStartOffsets(ctx, s.cfg.Topic)
	}
	if err != nil {
		if ctx.Err() == nil {
			s.m.Errors.WithLabelValues(ErrKindLag).Inc()
			s.log.Warn("sink lag refresh failed", "topic", s.cfg.Topic, "err", err)
		}
		return
	}
	s.lagOK.Store(time.Now().UnixNano())
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, next := range s.owned {
		end, ok := ends.Lookup(s.cfg.Topic, p)
		if !ok {
			continue
		}
		if next < 0 {
			st, _ := starts.Lookup(s.cfg.Topic, p)
			next = st.Offset
		}
		s.m.Lag.WithLabelValues(s.cfg.Topic, strconv.Itoa(int(p))).Set(float64(max(0, end.Offset-next)))
		s.lags[p] = true
	}
}

// outage tracks PostgreSQL's availability and logs once per outage.
type outage struct {
	log   *slog.Logger
	up    interface{ Set(float64) }
	mu    sync.Mutex
	down  bool
	since time.Time
	tries int
	known bool // a first answer was seen
}

func (o *outage) fail(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tries++
	if o.down {
		return
	}
	o.down, o.since, o.tries = true, time.Now(), 1
	o.up.Set(0)
	o.log.Warn("postgres unavailable; consumption waits and retries with backoff (logged once per outage)", "err", err)
}

func (o *outage) ok() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.down {
		o.log.Info("postgres answers again; reading on from the stored offsets", "after", time.Since(o.since).Round(time.Millisecond).String(),
			"failed_attempts", o.tries)
	}
	o.down, o.known = false, true
	o.up.Set(1)
}

func (o *outage) isUp() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.known && !o.down
}

func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt, 6)
	return min(d, maxBackoff)
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
