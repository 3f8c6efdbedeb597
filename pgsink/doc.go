// Package pgsink writes the prediction topic into a PostgreSQL table,
// exactly once: `streamscore sink postgres`.
//
// Lifecycle: New checks the Config and prepares a connection pool; Run
// creates the tables (DDL, when sink.postgres.create_table is on), checks
// that the tables fit DDL (columns, types, the offsets key, privileges),
// joins the consumer group over the prediction topic and loops:
//
//  1. poll (read_committed) until batch_size records or flush_interval passed;
//  2. map each record to a Row (ParseRow); a record that is not a storable
//     prediction becomes a Reject with its reason;
//  3. one transaction: COPY the rows, COPY the rejects, and move each
//     partition's stored offset in <table>_offsets from the value this
//     instance expects to the batch's end (compare and set);
//  4. let a waiting rebalance through (franz-go BlockRebalanceOnPoll), so a
//     partition is only given up between transactions.
//
// Partitions start at the offsets stored in PostgreSQL, not Kafka's
// (AdjustFetchOffsetsFn); committed offsets also go to Kafka after each
// transaction, for the broker-side lag only. A compare and set that fails
// (another owner wrote: a zombie after a rebalance, an ambiguous commit)
// rolls the batch back and re-reads from the stored offsets; so the table
// holds each record exactly once whatever is killed when.
//
// When PostgreSQL is down the batch is dropped and its partitions rewound,
// consumption waits (the poll loop blocks, so franz-go stops fetching once
// its buffers are full), Ready is false, and the server is retried with
// backoff; the outage is logged once. A server error that waiting does not
// cure (authentication, privileges, a missing table) stops Run with it.
//
// Metrics (NewMetrics): streamscore_sink_rows_written_total,
// streamscore_sink_records_skipped_total{reason},
// streamscore_sink_batch_duration_seconds, streamscore_sink_batch_records,
// streamscore_sink_lag_records{topic,partition},
// streamscore_sink_errors_total{kind}, streamscore_sink_postgres_up,
// streamscore_sink_assigned_partitions.
//
// Ready is safe for concurrent use; Run is called once.
package pgsink
