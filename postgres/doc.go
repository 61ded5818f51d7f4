// Package postgres is the clustered vibemon.Store: PostgreSQL through
// pgx/v5 and a pgxpool, for deployments with several server replicas.
//
// Schema (migrations/*.sql, embedded, applied at Open in one transaction
// under a per-schema advisory lock and recorded in schema_migrations): the
// same tables as the SQLite store, with timestamptz times and identity ids.
// readings is range-partitioned by day on ts, with a (device_id, ts, seq)
// index; partitions around now are created by EnsurePartitions (at Open,
// hourly by the store, or by a job), and a default partition catches
// readings outside them. Because a partitioned table's unique keys must
// include ts, the idempotency key (device_id, seq) is kept in reading_seen:
// one bitmap of 512 sequence numbers per device and block. rollup_1m,
// rollup_1h and rollup_1d hold per (device_id, bucket_start) the count and,
// per metric, the non-null count, sum, min and max; ingest adds to them
// with INSERT ... ON CONFLICT DO UPDATE.
//
// Ingest (InsertReadings) reads the batch's bitmaps, decides in Go which
// readings are new and aggregates them per (device, bucket), COPYs the new
// readings straight into readings, then in one round trip claims their bits
// (optimistically: a lost race rolls back and retries), upserts the rollup
// deltas and moves the devices' last-seen state. See docs/postgres.md for
// the design choices and measurements.
package postgres
