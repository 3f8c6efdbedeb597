// Package predict is the one code path from event bytes to prediction bytes
// that every door shares: the stream (package processor), files
// (`streamscore score`, package batch) and HTTP. A door only moves bytes in
// and out; decoding (schemas), features, model and decision policy (scoring)
// and encoding (schemas) happen here, so the doors never disagree on a
// number, a label or a reject reason.
//
// Lifecycle:
//  1. New binds a loaded bundle to a decoder factory and an encoder: a Path.
//     A Path is immutable and safe for concurrent use.
//  2. Path.NewBatch makes a Batch per goroutine (it owns a decoder, a
//     scorer and scratch rows).
//  3. Batch.Run takes a micro-batch of events and gives one Result per
//     event, in order: an encoded prediction, or a reject reason with the
//     stage and the detail. A panic on one record (a bug) rejects that record
//     as internal_error instead of crashing the door.
//
// A Batch keeps cumulative counts (inputs missing per input, feature
// counts, and the drift bin counts of decoded inputs and scores when the
// bundle has training distributions) and the last run's stage timings for
// the door to export. The metrics every door shares are made here, once,
// with a door label (Door), so the stream and the HTTP door of one process
// count into one family each: Quality (quality.go, drift.go) exports a
// Batch's counts and drift PSI, Predictions (predictions.go) the score
// distribution and labels per model version, with each door's series of
// versions that left its lineup deleted (DoorPredictions.Lineup).
package predict
