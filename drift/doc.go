// Package drift compares live traffic with the training data: the
// population stability index (PSI) of every bundle input that has a
// training histogram, and of the model's score (docs/operations.md, "Drift").
//
// Lifecycle:
//  1. New compiles a loaded bundle's drift statistics (bundle.json "drift",
//     docs/bundle.md) into Histograms: which row slot each input reads and
//     how a value finds its bin. nil when the bundle has none.
//  2. A door's Batch (package predict) counts every decoded row and every
//     score into its own cumulative Counts (AddRow, AddScore: no
//     allocation, no lock).
//  3. Each door adds its batches' new counts to one Window per bundle
//     (Add, once per micro-batch or request), a ring of 30 steps over the
//     configured length (monitor.drift_window), and every few seconds sums
//     it (Sum) and computes the PSI of each input and of the score (PSI).
//
// Histograms are immutable and safe for concurrent use; Counts belong to
// their owner; a Window is safe for concurrent use. The package emits no
// metrics (predict.DriftMonitor does, for each door).
package drift
