package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Timescale says whether the store keeps readings in a TimescaleDB
// hypertable (docs/postgres.md, "TimescaleDB").
type Timescale int

const (
	// TimescaleAuto, the default, uses TimescaleDB when the extension is
	// available with the "timescale" licence (compression needs it) and the
	// schema's readings table is new: still empty, or a hypertable already.
	// An installation that already holds readings in native partitions
	// keeps them until ConvertToHypertable (vibemon timescale convert).
	TimescaleAuto Timescale = iota
	// TimescaleOff keeps native daily partitions even where TimescaleDB is
	// available.
	TimescaleOff
)

// DefaultCompressAfter is the age after which TimescaleDB's compression
// policy compresses a chunk of readings.
const DefaultCompressAfter = 7 * 24 * time.Hour

// Hypertable reports whether readings is a TimescaleDB hypertable.
func (s *Store) Hypertable() bool { return s.hypertable.Load() }

// TimescaleLicense returns the TimescaleDB licence (SHOW
// timescaledb.license: "timescale" or "apache"), or "" when the extension
// is not installed in the database.
func (s *Store) TimescaleLicense() string { return s.tsLicense }

// setupTimescale decides the readings layout at Open (see Timescale) and,
// for a new schema, turns readings into a hypertable: chunks of a day by
// ts, compressed by device (segmentby device_id, ordered by ts and seq),
// with a compression policy. Rollups stay the store's own tables (see
// docs/postgres.md for why not continuous aggregates).
func (s *Store) setupTimescale(ctx context.Context) error {
	var def string
	var version *string // installed_version: NULL until CREATE EXTENSION
	err := s.pool.QueryRow(ctx, "SELECT default_version, installed_version FROM pg_available_extensions WHERE name = 'timescaledb'").Scan(&def, &version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		s.log.Info("timescaledb is not available; readings use native daily partitions")
		return nil
	case err != nil:
		s.log.Warn("cannot detect timescaledb; readings use native daily partitions", "err", err)
		return nil
	}
	s.timescale = true
	installed := version != nil
	if !installed && s.opts.Timescale != TimescaleOff {
		// Creating an extension needs a privileged role (and
		// timescaledb in shared_preload_libraries); a database where that
		// fails stays on native partitions, with the reason logged.
		// In public, not in the store's schema: a schema dropped with its
		// store (a test's, a tenant's) must not take the extension along.
		if _, err := s.pool.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS timescaledb SCHEMA public"); err != nil {
			// Another replica may have created it at the same moment.
			if installed, _ = s.timescaleInstalled(ctx); !installed {
				s.log.Warn("timescaledb is available but could not be created; readings use native daily partitions (CREATE EXTENSION timescaledb as a superuser to use it)", "err", err)
				return nil
			}
		}
		installed, version = true, &def // CREATE EXTENSION installs the default version
	}
	if !installed {
		s.log.Info("timescaledb is available but not installed in this database; readings use native daily partitions", "default_version", def)
		return nil
	}
	// The licence decides what TimescaleDB offers: "apache" lacks
	// compression and the policies, which need "timescale".
	if err := s.pool.QueryRow(ctx, "SHOW timescaledb.license").Scan(&s.tsLicense); err != nil {
		return mapErr("timescaledb licence", err)
	}
	var nsp string
	if err := s.pool.QueryRow(ctx, "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'timescaledb'").Scan(&nsp); err != nil {
		return mapErr("timescaledb", err)
	}
	s.tsFuncs = pgx.Identifier{nsp}.Sanitize() + "."
	// A schema whose readings are a hypertable already stays one, whatever
	// the setting: TimescaleOff and the licence only decide conversions.
	convert := s.opts.Timescale != TimescaleOff
	if convert && s.tsLicense != "timescale" {
		s.log.Warn("timescaledb's licence is "+s.tsLicense+", without compression; a new schema's readings use native daily partitions", "license", s.tsLicense)
		convert = false
	}
	err = s.tx(ctx, "timescaledb", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock("+lockKey+")"); err != nil {
			return err
		}
		var hyper, empty bool
		if err := tx.QueryRow(ctx, isHypertableSQL).Scan(&hyper); err != nil {
			return err
		}
		if hyper {
			s.hypertable.Store(true)
			return s.ensureCompressionPolicy(ctx, tx)
		}
		if !convert {
			return nil
		}
		if err := tx.QueryRow(ctx, "SELECT NOT EXISTS (SELECT 1 FROM readings)").Scan(&empty); err != nil {
			return err
		}
		if !empty {
			s.log.Warn("timescaledb is available, but readings already holds data in native daily partitions; they stay until `vibemon timescale convert` moves them into a hypertable (docs/postgres.md, TimescaleDB)")
			return nil
		}
		// Left by a conversion of readings that are gone since.
		if err := execAll(ctx, tx, []string{"DROP TABLE IF EXISTS readings_hyper", "DROP TABLE IF EXISTS readings_conversion"}); err != nil {
			return err
		}
		if err := execAll(ctx, tx, append(s.hypertableStmts(), s.swapStmts()...)); err != nil {
			return err
		}
		s.hypertable.Store(true)
		return nil
	})
	if err != nil {
		return err
	}
	if s.hypertable.Load() {
		s.becameHypertable()
		s.log.Info("readings are a timescaledb hypertable", "version", *version, "license", s.tsLicense)
	}
	return nil
}

// isHypertableSQL asks whether the schema's readings is a hypertable.
const isHypertableSQL = `SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables
	WHERE hypertable_schema = current_schema() AND hypertable_name = 'readings')`

// hypertableStmts create readings_hyper, a hypertable with readings'
// columns: chunks of a day by ts, the (device_id, ts, seq) index (as
// readings_hyper_device_ts; the name readings' own index has is taken).
func (s *Store) hypertableStmts() []string {
	f := func(name string) string { return s.tsFuncs + name }
	return []string{
		"CREATE TABLE readings_hyper (LIKE readings INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
		"CREATE INDEX readings_hyper_device_ts ON readings_hyper (device_id, ts, seq)",
		"SELECT " + f("create_hypertable") + "('readings_hyper', " + f("by_range") + "('ts', interval '1 day'), create_default_indexes => false)",
	}
}

// swapStmts replace readings (and its partitions) by readings_hyper, and
// give it compression segmented by device, ordered by ts and seq, and the
// compression policy.
func (s *Store) swapStmts() []string {
	return []string{
		"DROP TABLE readings",
		"ALTER TABLE readings_hyper RENAME TO readings",
		"ALTER INDEX readings_hyper_device_ts RENAME TO readings_device_ts",
		"ALTER TABLE readings SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id', timescaledb.compress_orderby = 'ts, seq')",
		s.addCompressionPolicy(),
	}
}

// compressAfter is the compression policy's age for a new policy.
func (s *Store) compressAfter() time.Duration {
	if s.opts.CompressAfter > 0 {
		return s.opts.CompressAfter
	}
	return DefaultCompressAfter
}

func (s *Store) addCompressionPolicy() string {
	return fmt.Sprintf("SELECT %sadd_compression_policy('readings', compress_after => interval '%d seconds')", s.tsFuncs, int64(s.compressAfter()/time.Second))
}

// ensureCompressionPolicy gives an existing hypertable the compression
// policy of Options.CompressAfter when that is set and differs (replicas
// are meant to share the setting), and a policy at all when it has none.
func (s *Store) ensureCompressionPolicy(ctx context.Context, tx pgx.Tx) error {
	var same *bool // nil: no policy
	err := tx.QueryRow(ctx, `SELECT (config->>'compress_after')::interval = make_interval(secs => $1)
		FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression'
		AND hypertable_schema = current_schema() AND hypertable_name = 'readings'`, s.compressAfter().Seconds()).Scan(&same)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		s.log.Info("readings had no compression policy; added", "compress_after", s.compressAfter())
		return execAll(ctx, tx, []string{s.addCompressionPolicy()})
	case err != nil:
		return err
	case s.opts.CompressAfter == 0 || *same:
		return nil
	}
	s.log.Info("compression policy of readings changed", "compress_after", s.compressAfter())
	return execAll(ctx, tx, []string{"SELECT " + s.tsFuncs + "remove_compression_policy('readings')", s.addCompressionPolicy()})
}

// execAll runs stmts in tx; an error names the statement that failed.
func execAll(ctx context.Context, tx pgx.Tx, stmts []string) error {
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", strings.SplitN(q, "(", 2)[0], err)
		}
	}
	return nil
}

func (s *Store) timescaleInstalled(ctx context.Context) (bool, error) {
	var installed bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')").Scan(&installed)
	return installed, mapErr("timescaledb", err)
}

// RunTimescaleJobs runs TimescaleDB's policy jobs on readings now (CALL
// run_job), as its background workers would on their schedule, and returns
// their ids. Tests and operators use it; on a hypertable only.
func (s *Store) RunTimescaleJobs(ctx context.Context) ([]int32, error) {
	if !s.hypertable.Load() {
		return nil, errors.New("run timescaledb jobs: readings is not a hypertable")
	}
	// With continuous aggregates, their refresh policies too: each org's
	// were added minute, hour, day, so job order refreshes each from the
	// one it reads.
	rows, err := s.pool.Query(ctx, `SELECT job_id FROM timescaledb_information.jobs
		WHERE hypertable_schema = current_schema() AND hypertable_name = 'readings'
		OR proc_name = 'policy_refresh_continuous_aggregate' AND (config->>'mat_hypertable_id')::int IN
			(SELECT mat_hypertable_id FROM _timescaledb_catalog.continuous_agg WHERE user_view_schema = current_schema())
		ORDER BY job_id`)
	if err != nil {
		return nil, mapErr("run timescaledb jobs", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, mapErr("run timescaledb jobs", err)
	}
	for _, id := range ids {
		if _, err := s.pool.Exec(ctx, "CALL "+s.tsFuncs+"run_job($1)", id); err != nil {
			return ids, mapErr(fmt.Sprintf("run timescaledb job %d", id), err)
		}
	}
	return ids, nil
}

// Chunk is one chunk of the readings hypertable.
type Chunk struct {
	Name       string
	Start, End time.Time
	Compressed bool
}

// Chunks returns the chunks of the readings hypertable, oldest first.
func (s *Store) Chunks(ctx context.Context) ([]Chunk, error) {
	rows, err := s.pool.Query(ctx, `SELECT chunk_name, range_start, range_end, is_compressed FROM timescaledb_information.chunks
		WHERE hypertable_schema = current_schema() AND hypertable_name = 'readings' ORDER BY range_start`)
	if err != nil {
		return nil, mapErr("chunks", err)
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Chunk, error) {
		var c Chunk
		err := r.Scan(&c.Name, &c.Start, &c.End, &c.Compressed)
		return c, err
	})
	return cs, mapErr("chunks", err)
}

// CompressionStats is how much compression saves on the readings
// hypertable: its compressed chunks' bytes before and after (table,
// indexes and TOAST).
type CompressionStats struct {
	Chunks, Compressed int64
	Before, After      int64
}

// CompressionStats reads hypertable_compression_stats of readings.
func (s *Store) CompressionStats(ctx context.Context) (CompressionStats, error) {
	var c CompressionStats
	if !s.hypertable.Load() {
		return c, errors.New("compression stats: readings is not a hypertable")
	}
	var before, after *int64 // NULL while no chunk is compressed
	err := s.pool.QueryRow(ctx, "SELECT total_chunks, number_compressed_chunks, before_compression_total_bytes, after_compression_total_bytes FROM "+
		s.tsFuncs+"hypertable_compression_stats('readings')").Scan(&c.Chunks, &c.Compressed, &before, &after)
	if before != nil && after != nil {
		c.Before, c.After = *before, *after
	}
	return c, mapErr("compression stats", err)
}

// dropChunksBefore is dropPartitionsBefore on a hypertable: drop_chunks of
// the chunks whose range ends at or before cutoff.
func (s *Store) dropChunksBefore(ctx context.Context, cutoff time.Time) ([]string, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+s.tsFuncs+"drop_chunks('readings', older_than => $1::timestamptz)", cutoff)
	if err != nil {
		return nil, mapErr("drop chunks", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, mapErr("drop chunks", err)
	}
	for i, n := range names {
		names[i] = n[strings.LastIndexByte(n, '.')+1:] // as Chunks names them
		s.log.Info("dropped chunk past retention", "name", n)
	}
	return names, nil
}
