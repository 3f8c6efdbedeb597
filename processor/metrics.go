package processor

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamscore/streamscore/internal/metric"
	"github.com/streamscore/streamscore/predict"
)

// Metric names are the contract with deploy/prometheus (alert rules) and
// deploy/grafana (dashboard); tests check both against this registry.

// Metrics is every metric the processor emits. Build it once with
// NewMetrics on the registry the HTTP server exposes.
type Metrics struct {
	RecordsConsumed     *prometheus.CounterVec   // topic
	PredictionsProduced *prometheus.CounterVec   // topic
	DLQRecords          *prometheus.CounterVec   // reason, stage
	StageDuration       *prometheus.HistogramVec // stage: decode, features (features + model + policy), encode, produce_ack; seconds per batch
	EndToEndLatency     prometheus.Histogram     // record timestamp -> prediction (or DLQ copy) acknowledged
	BatchRecords        prometheus.Histogram
	InflightRecords     prometheus.Gauge
	ConsumerLag         *prometheus.GaugeVec // topic, partition
	LastProcessed       *prometheus.GaugeVec // topic, partition: unix seconds of the last processed record's timestamp
	Quality             *predict.Quality     // inputs missing, values out of range, unseen categories, drift PSI (door="stream")
	Predictions         *predict.Predictions // score distribution and labels per model version (door="stream")
	// The shadow model (model.shadow): its predictions on the side topic and
	// how they compare with the prediction that went to the output.
	ShadowPredictions   *prometheus.CounterVec // result: produced, rejected, dropped, failed
	ShadowAgreement     *prometheus.CounterVec // agree: true, false (events both scored with a label)
	ShadowScoreDiff     prometheus.Histogram   // |shadow score - output score| per event both scored
	ProduceErrors       *prometheus.CounterVec // topic
	TransactionsAborted prometheus.Counter
	CommitFailures      prometheus.Counter // offset commits (at-least-once) or transaction ends (exactly-once) that failed
	DecodeRetries       prometheus.Counter // decodes retried because the schema registry could not be asked
	Backpressure        prometheus.Gauge   // 1 while produce buffers are full and fetching waits
	CommitStalled       prometheus.Gauge   // 1 while at-least-once fetching waits for a commit to succeed
	ProduceBlocked      prometheus.Gauge   // 1 while a write the broker refused waits to be produced again (refused.go)
	AssignedPartitions  prometheus.Gauge
}

// NewMetrics registers the processor's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := metric.New(reg)
	return &Metrics{
		RecordsConsumed: f.Counters("records_consumed_total",
			"Input records fetched and handed to the pipeline.", "topic"),
		PredictionsProduced: f.Counters("predictions_produced_total",
			"Predictions acknowledged by the broker (committed, in exactly-once mode).", "topic"),
		DLQRecords: f.Counters("dlq_records_total",
			"Input records written to the dead-letter topic, by reason and stage.", "reason", "stage"),
		StageDuration: f.Histograms("stage_duration_seconds",
			"Time one micro-batch spends in each stage.", prometheus.ExponentialBuckets(5e-6, 3, 12), "stage"),
		EndToEndLatency: f.Histogram("end_to_end_latency_seconds",
			"From the input record's timestamp to the broker's acknowledgement of its prediction or DLQ copy.",
			[]float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}),
		BatchRecords: f.Histogram("batch_records",
			"Records per micro-batch.", prometheus.ExponentialBuckets(1, 4, 8)),
		InflightRecords: f.Gauge("inflight_records",
			"Records produced but not yet acknowledged by the broker."),
		ConsumerLag: f.Gauges("consumer_lag_records",
			"High watermark minus the group's committed offset, per input partition.", "topic", "partition"),
		LastProcessed: f.Gauges("last_processed_timestamp_seconds",
			"Timestamp of the last input record processed (the highest offset whose outputs the broker took), per owned input partition.", "topic", "partition"),
		Quality:     predict.NewQuality(reg),
		Predictions: predict.NewPredictions(reg),
		ShadowPredictions: f.Counters("shadow_predictions_total",
			"Shadow model outcomes: produced (acknowledged on the shadow topic), rejected (the shadow rejected the event), dropped (shadow buffer full), failed (the shadow topic refused it).", "result"),
		ShadowAgreement: f.Counters("shadow_label_agreement_total",
			"Events both the shadow and the output's model scored with a label, by whether the labels agree.", "agree"),
		ShadowScoreDiff: f.Histogram("shadow_score_difference",
			"Absolute difference between the shadow's score and the output's score, per event both scored.",
			[]float64{1e-6, 1e-5, 1e-4, 1e-3, .01, .02, .05, .1, .2, .5, 1, 10, 100}),
		ProduceErrors: f.Counters("produce_errors_total",
			"Writes the broker refused after the client's retries (each attempt counts); fetching stops and they are produced again until it takes them.", "topic"),
		TransactionsAborted: f.Counter("transactions_aborted_total",
			"Exactly-once transactions aborted (rebalance or error); their batches are redone."),
		CommitFailures: f.Counter("commit_failures_total",
			"Offset commits (at-least-once) or transaction ends (exactly-once) that failed; the offsets are committed again, or the batch redone."),
		DecodeRetries: f.Counter("decode_retries_total",
			"Decodes retried because the schema registry could not be asked (a transient failure, not the record's): the record waits with backoff and holds up its partition."),
		CommitStalled: f.Gauge("commit_stalled",
			"1 while at-least-once fetching waits for an offset commit to succeed (none did for processor.commit_stall_timeout)."),
		ProduceBlocked: f.Gauge("produce_blocked",
			"1 while fetching stops because the broker refused a write (output or DLQ topic: not authorized, too large, topic gone); the refused records are produced again with backoff until it takes them."),
		Backpressure: f.Gauge("backpressure",
			"1 while the in-flight limit is reached and fetching waits for acknowledgements."),
		AssignedPartitions: f.Gauge("assigned_partitions",
			"Input partitions this instance owns."),
	}
}
