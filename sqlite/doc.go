// Package sqlite is the embedded vibemon.Store: one SQLite file in WAL mode,
// through the pure-Go driver modernc.org/sqlite.
//
// Reads go through a pool of read-only connections; every write goes through
// exactly one write connection. Readings are written by one writer goroutine
// that coalesces concurrent InsertReadings calls into one transaction, and
// that updates the 1-minute, 1-hour and 1-day rollups in the same
// transaction, so that long-range queries never scan raw readings.
package sqlite
