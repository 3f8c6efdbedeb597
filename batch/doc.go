// Package batch is the file door, for `streamscore score`: JSON Lines (one
// event per line, read by the stream's own JSON decoder) or CSV with a
// header (read by the CSV decoder of package schemas, with the same type
// rules and reasons) in; the stream's prediction records out, one JSON line
// per scored event, so a file and the stream give byte-identical records
// for the same events. Rejected rows go, with their row number, stage,
// reason and detail, to a separate writer or inline into the output.
//
// Lifecycle: Run reads, scores in batches through one predict.Batch, writes
// in input order and returns the totals, including how many rows lacked each
// input. It checks ctx between batches. It is synchronous and uses one
// goroutine; nothing is shared between calls. Row numbers are the line
// number for JSON Lines (blank lines count, and are skipped) and the data
// record number for CSV (the header is not counted); a reject also names
// the line its record starts on.
package batch
