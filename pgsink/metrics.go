package pgsink

import "github.com/prometheus/client_golang/prometheus"

// Error kinds of streamscore_sink_errors_total.
const (
	ErrKindPostgres = "postgres" // a transaction or connection failed; the batch is re-read from Kafka after the outage
	ErrKindFenced   = "fenced"   // the stored offsets moved under this instance (another owner wrote); batch dropped, offsets re-read
	ErrKindFetch    = "fetch"    // a Kafka fetch failed (the client retries)
	ErrKindLag      = "lag"      // the lag refresh could not list the topic's offsets
)

// Metrics is every metric the sink emits. Names are the contract with
// deploy/prometheus and deploy/grafana (deploy tests check both).
type Metrics struct {
	RowsWritten        prometheus.Counter
	RecordsSkipped     *prometheus.CounterVec // reason
	BatchDuration      prometheus.Histogram
	BatchRecords       prometheus.Histogram
	Lag                *prometheus.GaugeVec   // topic, partition
	Errors             *prometheus.CounterVec // kind
	PostgresUp         prometheus.Gauge
	AssignedPartitions prometheus.Gauge
}

// NewMetrics registers the sink's metrics on reg (the registry the
// service's /metrics exposes).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "streamscore", "sink"
	m := &Metrics{
		RowsWritten: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "rows_written_total",
			Help: "Prediction rows committed to PostgreSQL."}),
		RecordsSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "records_skipped_total",
			Help: "Records that are not storable predictions, by reason; each is kept in the rejects table instead."}, []string{"reason"}),
		BatchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "batch_duration_seconds",
			Help:    "Time of one committed PostgreSQL transaction (rows, rejects and offsets).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12)}),
		BatchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "batch_records",
			Help:    "Records (rows and rejects) per committed transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9)}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "lag_records",
			Help: "Last stable offset of the prediction topic minus the offset stored in PostgreSQL, per owned partition."},
			[]string{"topic", "partition"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "errors_total",
			Help: "Sink errors by kind: postgres (write or connection failed, retried), fenced, fetch, lag."}, []string{"kind"}),
		PostgresUp: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "postgres_up",
			Help: "1 while PostgreSQL answers the sink, 0 during an outage (consumption waits)."}),
		AssignedPartitions: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "assigned_partitions",
			Help: "Prediction topic partitions this sink instance owns."}),
	}
	reg.MustRegister(m.RowsWritten, m.RecordsSkipped, m.BatchDuration, m.BatchRecords, m.Lag, m.Errors,
		m.PostgresUp, m.AssignedPartitions)
	return m
}
