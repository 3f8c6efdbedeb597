package pgsink

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamscore/streamscore/internal/metric"
)

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
	f := metric.New(reg).Sub("sink")
	return &Metrics{
		RowsWritten: f.Counter("rows_written_total",
			"Prediction rows committed to PostgreSQL."),
		RecordsSkipped: f.Counters("records_skipped_total",
			"Records that are not storable predictions, by reason; each is kept in the rejects table instead.", "reason"),
		BatchDuration: f.Histogram("batch_duration_seconds",
			"Time of one committed PostgreSQL transaction (rows, rejects and offsets).",
			prometheus.ExponentialBuckets(0.0005, 2.5, 12)),
		BatchRecords: f.Histogram("batch_records",
			"Records (rows and rejects) per committed transaction.",
			prometheus.ExponentialBuckets(1, 4, 9)),
		Lag: f.Gauges("lag_records",
			"Last stable offset of the prediction topic minus the offset stored in PostgreSQL, per owned partition.",
			"topic", "partition"),
		Errors: f.Counters("errors_total",
			"Sink errors by kind: postgres (write or connection failed, retried), fenced, fetch, lag.", "kind"),
		PostgresUp: f.Gauge("postgres_up",
			"1 while PostgreSQL answers the sink, 0 during an outage (consumption waits)."),
		AssignedPartitions: f.Gauge("assigned_partitions",
			"Prediction topic partitions this sink instance owns."),
	}
}
