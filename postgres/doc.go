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
// include ts, the idempotency key (device_id, seq) lives in the narrow
// table reading_keys, written in the same transaction. rollup_1m, rollup_1h
// and rollup_1d hold per (device_id, bucket_start) the count and, per
// metric, the non-null count, sum, min and max; ingest adds to them with
// INSERT ... ON CONFLICT DO UPDATE.
//
// Ingest (InsertReadings) COPYs a batch into a per-connection temporary
// staging table, locks the batch's devices in id order, then runs one
// statement that claims new keys, inserts their readings, updates the
// rollups and the devices' last-seen state, and returns which readings were
// new. See docs/postgres.md for the design choices and measurements.
package postgres
