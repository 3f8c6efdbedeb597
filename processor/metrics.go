package processor

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metric names are the contract with deploy/prometheus (alert rules) and
// deploy/grafana (dashboard); tests check both against this registry.
const namespace = "streamscore"

// Metrics is every metric the processor emits. Build it once with
// NewMetrics on the registry the HTTP server exposes.
type Metrics struct {
	RecordsConsumed     *prometheus.CounterVec   // topic
	PredictionsProduced *prometheus.CounterVec   // topic
	DLQRecords          *prometheus.CounterVec   // reason, stage
	StageDuration       *prometheus.HistogramVec // stage: decode, features (features + model + policy), encode, produce_ack; seconds per batch
	EndToEndLatency     prometheus.Histogram     // record timestamp -> prediction acknowledged
	BatchRecords        prometheus.Histogram
	InflightRecords     prometheus.Gauge
	ConsumerLag         *prometheus.GaugeVec     // topic, partition
	LastProcessed       prometheus.Gauge         // unix seconds of the newest processed record's timestamp
	ModelInfo           *prometheus.GaugeVec     // model, version, role: the lineup now scoring (Pipeline.Swap keeps it current)
	ModelLoaded         *prometheus.GaugeVec     // role: unix seconds when that role's bundle was loaded
	FeatureOutOfRange   *prometheus.CounterVec   // feature
	FeatureUnknown      *prometheus.CounterVec   // feature
	InputMissing        *prometheus.CounterVec   // input
	PredictionScore     *prometheus.HistogramVec // model, version
	PredictionLabels    *prometheus.CounterVec   // model, version, label
	// The shadow model (model.shadow): its predictions on the side topic and
	// how they compare with the prediction that went to the output.
	ShadowPredictions   *prometheus.CounterVec // result: produced, rejected, dropped, failed
	ShadowAgreement     *prometheus.CounterVec // agree: true, false (events both scored with a label)
	ShadowScoreDiff     prometheus.Histogram   // |shadow score - output score| per event both scored
	ProduceErrors       *prometheus.CounterVec // topic
	TransactionsAborted prometheus.Counter
	CommitFailures      prometheus.Counter // offset commits (at-least-once) or transaction ends (exactly-once) that failed
	Backpressure        prometheus.Gauge   // 1 while produce buffers are full and fetching waits
	AssignedPartitions  prometheus.Gauge
	// Drift (drift.go): vectors so that a bundle without drift statistics
	// exports none of them; the unlabelled ones get their one child only
	// when it has them.
	FeaturePSI  *prometheus.GaugeVec // feature: an input with a training histogram
	ScorePSI    *prometheus.GaugeVec // no labels
	DriftEvents *prometheus.GaugeVec // no labels
	DriftScores *prometheus.GaugeVec // no labels
}

// NewMetrics registers the processor's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		RecordsConsumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "records_consumed_total",
			Help: "Input records fetched and handed to the pipeline.",
		}, []string{"topic"}),
		PredictionsProduced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "predictions_produced_total",
			Help: "Predictions acknowledged by the broker (committed, in exactly-once mode).",
		}, []string{"topic"}),
		DLQRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "dlq_records_total",
			Help: "Input records written to the dead-letter topic, by reason and stage.",
		}, []string{"reason", "stage"}),
		StageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "stage_duration_seconds",
			Help:    "Time one micro-batch spends in each stage.",
			Buckets: prometheus.ExponentialBuckets(5e-6, 3, 12),
		}, []string{"stage"}),
		EndToEndLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "end_to_end_latency_seconds",
			Help:    "From the input record's timestamp to the prediction's broker acknowledgement.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		BatchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "batch_records",
			Help:    "Records per micro-batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		InflightRecords: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "inflight_records",
			Help: "Records produced but not yet acknowledged by the broker.",
		}),
		ConsumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "consumer_lag_records",
			Help: "High watermark minus the group's committed offset, per input partition.",
		}, []string{"topic", "partition"}),
		LastProcessed: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "last_processed_timestamp_seconds",
			Help: "Timestamp of the newest input record processed.",
		}),
		ModelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "model_info",
			Help: "The model bundles scoring now, by role: live, canary, shadow (always 1).",
		}, []string{"model", "version", "role"}),
		ModelLoaded: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "model_loaded_timestamp_seconds",
			Help: "When the bundle now in each role was loaded.",
		}, []string{"role"}),
		FeatureOutOfRange: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "feature_out_of_range_total",
			Help: "Values outside the training range, per feature.",
		}, []string{"feature"}),
		FeatureUnknown: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "feature_unknown_category_total",
			Help: "Categories never seen in training, per feature.",
		}, []string{"feature"}),
		InputMissing: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "input_missing_total",
			Help: "Decoded events in which a bundle input was absent or null, per input (a renamed upstream field shows here).",
		}, []string{"input"}),
		PredictionScore: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "prediction_score",
			Help:    "Distribution of prediction scores, by the model version that scored them (series of versions no longer in the lineup are deleted at the second swap after).",
			Buckets: prometheus.LinearBuckets(0.1, 0.1, 9),
		}, []string{"model", "version"}),
		PredictionLabels: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "predictions_by_label_total",
			Help: "Predictions per decided label, by the model version that scored them.",
		}, []string{"model", "version", "label"}),
		ShadowPredictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "shadow_predictions_total",
			Help: "Shadow model outcomes: produced (acknowledged on the shadow topic), rejected (the shadow rejected the event), dropped (shadow buffer full), failed (the shadow topic refused it).",
		}, []string{"result"}),
		ShadowAgreement: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "shadow_label_agreement_total",
			Help: "Events both the shadow and the output's model scored with a label, by whether the labels agree.",
		}, []string{"agree"}),
		ShadowScoreDiff: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "shadow_score_difference",
			Help:    "Absolute difference between the shadow's score and the output's score, per event both scored.",
			Buckets: []float64{1e-6, 1e-5, 1e-4, 1e-3, .01, .02, .05, .1, .2, .5, 1, 10, 100},
		}),
		ProduceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "produce_errors_total",
			Help: "Records the broker refused; consumption stops rather than lose them.",
		}, []string{"topic"}),
		TransactionsAborted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "transactions_aborted_total",
			Help: "Exactly-once transactions aborted (rebalance or error); their batches are redone.",
		}),
		CommitFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "commit_failures_total",
			Help: "Offset commits (at-least-once) or transaction ends (exactly-once) that failed; the offsets are committed again, or the batch redone.",
		}),
		Backpressure: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "backpressure",
			Help: "1 while the in-flight limit is reached and fetching waits for acknowledgements.",
		}),
		AssignedPartitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "assigned_partitions",
			Help: "Input partitions this instance owns.",
		}),
		FeaturePSI: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "feature_psi",
			Help: "Population stability index of a bundle input over the drift window against its training histogram (docs/operations.md#drift); NaN while the window is empty.",
		}, []string{"feature"}),
		ScorePSI: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "score_psi",
			Help: "Population stability index of the model score over the drift window against its training distribution; NaN while the window holds no score.",
		}, nil),
		DriftEvents: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "drift_window_events",
			Help: "Decoded events in the drift window (the sample behind streamscore_feature_psi).",
		}, nil),
		DriftScores: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "drift_window_scores",
			Help: "Model scores in the drift window (the sample behind streamscore_score_psi).",
		}, nil),
	}
	reg.MustRegister(m.RecordsConsumed, m.PredictionsProduced, m.DLQRecords, m.StageDuration,
		m.EndToEndLatency, m.BatchRecords, m.InflightRecords, m.ConsumerLag, m.LastProcessed,
		m.ModelInfo, m.ModelLoaded, m.FeatureOutOfRange, m.FeatureUnknown, m.InputMissing,
		m.PredictionScore, m.PredictionLabels, m.ShadowPredictions, m.ShadowAgreement, m.ShadowScoreDiff,
		m.ProduceErrors, m.TransactionsAborted, m.CommitFailures, m.Backpressure, m.AssignedPartitions,
		m.FeaturePSI, m.ScorePSI, m.DriftEvents, m.DriftScores)
	return m
}
