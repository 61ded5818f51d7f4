// Package jobs runs VibeMon's background work on River (riverqueue.com), a
// job queue with retries, unique jobs and leader-elected periodic jobs. The
// embedded server keeps River's tables in their own SQLite file (jobs.db in
// the data dir), through River's SQLite driver on a pool of one connection,
// as the driver's documentation advises: River's maintenance goroutines
// would otherwise meet SQLITE_BUSY.
//
// Workers:
//   - AnalyzeWaveform analyses a stored burst (package analysis), stores the
//     result and opens or updates a diagnosis alert per fault found with
//     confidence of at least MinAlertConfidence (see docs/decisions.md,
//     "Diagnosis alerts").
//   - TrainBaselines, periodic (hourly, run by the leader only), fits each
//     device's anomaly model when it has none or an old one.
//
// Every job is idempotent: running it twice stores the same result and
// updates the same alert, so River may retry freely.
package jobs
