// Package sqlite is the embedded vibemon.Store: one SQLite file in WAL mode,
// through the pure-Go driver modernc.org/sqlite (no cgo).
//
// Connections: a pool of query_only connections serves reads; exactly one
// connection (synchronous=FULL by default, so a returned write is durable)
// serves every write. Ingest goes through one writer goroutine that takes
// the first queued InsertReadings call, drains whatever else is queued (up
// to Options.MaxBatch readings) and runs them all in one transaction; each
// caller gets its own isNew flags, or the error when the transaction fails,
// in which case nothing of any caller is stored. CRUD writes run their own
// short transactions on the same connection.
//
// Schema (migrations/*.sql, applied in one transaction at Open and recorded
// in schema_migrations): readings is a WITHOUT ROWID table clustered on
// (device_id, seq), the idempotency key, with ts in unix milliseconds and one
// REAL column per vibemon.Metric (NULL = not measured). It has no secondary
// index, because a (device_id, ts) index costs more than 10x in ingest rate.
// rollup_1m, rollup_1h and rollup_1d hold per (device_id, bucket_start):
// the reading count, min_seq and max_seq, and per metric the non-null count,
// sum, min and max. They are updated in the ingest transaction, from the
// readings that were actually new, aggregated in memory first so that each
// rollup row is written once per transaction.
//
// Queries: a bucketed query reads only its rollup table. A raw query finds
// the seq range of [From, To) from rollup_1m, then scans that part of the
// clustered key and filters on ts, so it never scans a device's whole
// history (unless the device's seq order and time order disagree wildly).
// Completeness bounds its two scans the same way.
package sqlite
