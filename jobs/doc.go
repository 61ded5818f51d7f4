// Package jobs runs VibeMon's background work on River (riverqueue.com), a
// job queue with retries, unique jobs and leader-elected periodic jobs. The
// embedded server keeps River's tables in their own SQLite file (jobs.db in
// the data dir), through River's SQLite driver on a pool of one connection,
// as the driver's documentation advises: River's maintenance goroutines
// would otherwise meet SQLITE_BUSY. A clustered server passes its
// PostgreSQL pool (Config.PGPool) instead: River's tables live in that
// database, its migrations run at New under an advisory lock, and every
// replica shares one queue, so a job runs on one replica and the periodic
// jobs run on River's elected leader only. The job code is the same.
//
// Workers:
//   - AnalyzeWaveform analyses a stored burst (package analysis), stores the
//     result and opens or updates a diagnosis alert per fault found with
//     confidence of at least its diagnosis rule's MinConfidence, unless the
//     asset is in a maintenance window (see docs/decisions.md,
//     "Diagnosis alerts").
//   - TrainBaselines, periodic (hourly, run by the leader only), fits each
//     device's anomaly model when it has none or an old one.
//   - EnsurePartitions, periodic (hourly, leader only, when
//     Config.Partitions is set), creates the store's time partitions
//     ahead of their day and, when the store is a RollupReorderer,
//     rewrites a month of hourly rollups in device order (the current
//     month once a day, an ended month a final time).
//   - MergeRollups, periodic (every 5 s, leader only, when Config.Rollups
//     is set), moves the rollup deltas of ingest into the rollup tables.
//   - CheckOfflineRules, periodic (every minute, leader only), opens,
//     updates and resolves the alerts of offline rules from the devices'
//     last_seen_at; CheckHealthRules (every 10 minutes, leader only) those
//     of anomaly and forecast rules from the asset health analytics
//     (rule_kinds.go, docs/alerts.md "More rule kinds").
//
// Every job is idempotent: running it twice stores the same result and
// updates the same alert, so River may retry freely.
package jobs
