// Package batch scores files with a bundle, for `streamscore score`: CSV
// (with a header) or JSON Lines in, JSON Lines or CSV out, rejected and
// malformed rows to a separate writer with their row number and reason. It
// runs the same features and scoring code as the stream, so the two never
// disagree.
//
// Lifecycle: Run reads, scores in batches (one Scorer), writes in input order
// and returns the totals; it checks ctx between batches. It is synchronous and
// uses one goroutine; nothing is shared between calls. Row numbers are the
// line number for JSON Lines (blank lines count) and the data record number
// for CSV (the header is not counted).
package batch
