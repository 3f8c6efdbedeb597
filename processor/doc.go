// Package processor is the streaming engine: it consumes an input topic in a
// consumer group, runs each micro-batch through decode -> features -> score
// -> encode, and produces one prediction per record to the output topic (or
// the original record to the dead-letter topic, with the reason in headers).
//
// Lifecycle:
//  1. New builds the franz-go client for the delivery mode and checks that
//     the input, output and DLQ topics exist (or creates them when asked).
//  2. Run joins the group and processes until its context ends or a fatal
//     error happens (a record the broker refuses to take; a failed
//     transaction end only replaces the exactly-once session). It then stops
//     fetching, lets in-flight batches finish, commits (or ends the
//     transaction) and leaves the group, within Config.ShutdownTimeout.
//
// Delivery: two engines behind one small interface (engine, processor.go).
// At-least-once (atleastonce.go) marks a partition's offset only past
// records whose outputs the broker acknowledged (tracker.go) and lets
// franz-go autocommit the marks every CommitInterval; its revoke callback
// waits for in-flight outputs and commits the marks before the partition
// moves. Exactly-once (exactlyonce.go) puts the outputs and the offsets in
// one transaction per poll.
//
// Concurrency: one goroutine per assigned partition (at-least-once) or per
// CPU (exactly-once); a partition's records are always handled in order by
// one goroutine. Ready, Stats and Lag are safe to call from any goroutine.
//
// Models (pipeline.go): Pipeline.Swap replaces the lineup (live model,
// canary with its share of keys, shadow) behind an atomic pointer; a worker
// takes it at the start of each micro-batch (at-least-once) or transaction
// (exactly-once), so a swap lands between batches and a batch is scored by
// one version. The shadow's predictions go to Pipeline.ShadowTopic through
// a producer of their own, outside the output's delivery (shadow.go).
//
// Metrics (all prefixed streamscore_, see NewMetrics):
//
//	records_consumed_total{topic}          predictions_produced_total{topic}
//	dlq_records_total{reason,stage}        produce_errors_total{topic}
//	stage_duration_seconds{stage}          end_to_end_latency_seconds
//	batch_records                          inflight_records
//	consumer_lag_records{topic,partition}  last_processed_timestamp_seconds{topic,partition}
//	feature_out_of_range_total{door,feature}
//	feature_unknown_category_total{door,feature}
//	input_missing_total{door,input}        prediction_score{door,model,version}
//	predictions_by_label_total{door,model,version,label}
//	shadow_predictions_total{result}       shadow_label_agreement_total{agree}
//	shadow_score_difference                transactions_aborted_total
//	commit_failures_total                  backpressure
//	decode_retries_total                   commit_stalled
//	produce_blocked
//	assigned_partitions                    feature_psi{door,feature}
//	score_psi{door}                        drift_window_events{door}
//	drift_window_scores{door}
//
// Those with a door label are predict.Quality's and predict.Predictions',
// shared with the HTTP door of the same process (door="stream" here,
// "http" there). The prediction series of a model version in neither the
// lineup nor the one before are deleted at Swap (the shadow has none: its
// outcomes count in the shadow metrics). The drift series
// exist only for a bundle with drift statistics and monitoring on
// (monitor.drift_window): workers add each batch's bin counts to one window
// (predict.DriftMonitor), and the lag loop recomputes the PSI from it.
package processor
