package postgres

import (
	"context"
	"fmt"
	"hash/crc32"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vibemon/vibemon"
)

// appNamePrefix is the start of the application_name of every store's
// connections on the schema of searchPath: "vibemon " and a hash of it.
// The rest is random per Store.
func appNamePrefix(searchPath string) string {
	return fmt.Sprintf("vibemon %08x ", crc32.ChecksumIEEE([]byte(searchPath)))
}

// Conversion says what ConvertToHypertable did.
type Conversion struct {
	// Already: readings was a hypertable before; nothing was done.
	Already bool
	// Partitions is how many native partitions this run copied (earlier,
	// interrupted runs' excluded), the default partition included.
	Partitions int
	// Repaired is how many days the final check copied again because
	// readings had changed there since they were copied (a server ran
	// between an interrupted run and this one).
	Repaired int
	// Rows is how many readings the hypertable holds at the end.
	Rows int64
}

// ConvertProgress receives a conversion's progress: Start once with the
// readings to copy in all and those copied by earlier runs, Add after
// each statement with the rows it copied. Either may be nil.
type ConvertProgress struct {
	Start func(total, done int64)
	Add   func(n int64)
}

// ConvertToHypertable moves the readings of a native-partition schema into
// a TimescaleDB hypertable, laid out as Open lays out a new schema's
// (setupTimescale). It is an offline operation: it refuses while other
// processes' stores are connected to the schema (stop every vibemon serve
// first), and it holds the schema's migration lock, so a replica started
// meanwhile waits for it at Open.
//
// The readings are copied native partition by partition, an hour per
// statement, each partition in a transaction recorded in
// readings_conversion, so an interrupted conversion run again continues
// with the partitions not copied yet. The last transaction locks readings,
// compares both tables day by day (row count and a checksum of (device_id,
// seq)) and copies again any day that differs (readings that arrived or
// were pruned between runs), checks the totals, then drops readings and
// renames the hypertable into its place, with compression and its policy.
// Rollups and the idempotency key are untouched: the readings are the same.
func (s *Store) ConvertToHypertable(ctx context.Context, p ConvertProgress) (Conversion, error) {
	var c Conversion
	if s.hypertable.Load() {
		c.Already = true
		return c, nil
	}
	if err := s.checkAlone(ctx); err != nil {
		return c, err
	}
	switch {
	case !s.timescale:
		return c, vibemon.Errorf(vibemon.EINVALID, "timescaledb is not available on this PostgreSQL server: install the extension (and add it to shared_preload_libraries), restart PostgreSQL, then run the conversion again")
	case s.tsFuncs == "":
		return c, vibemon.Errorf(vibemon.EINVALID, "timescaledb is available but not installed in this database: run CREATE EXTENSION timescaledb as a superuser (or open the store with VIBEMON_TIMESCALEDB=auto), then run the conversion again")
	case s.tsLicense != "timescale":
		return c, vibemon.Errorf(vibemon.EINVALID, "timescaledb's licence here is %q, without compression; VibeMon uses hypertables with the \"timescale\" licence only (set timescaledb.license = 'timescale')", s.tsLicense)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return c, mapErr("convert to hypertable", err)
	}
	defer conn.Release()
	// A session lock: the copy spans many transactions. Open takes the
	// same key (migrations, setupTimescale), so no replica starts meanwhile.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock("+lockKey+")"); err != nil {
		return c, mapErr("convert to hypertable", err)
	}
	defer func() {
		// On a cancelled ctx too: the connection goes back to the pool.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock("+lockKey+")"); err != nil {
			conn.Conn().Close(uctx) // closing the session releases the lock
		}
	}()
	var hyper bool
	if err := conn.QueryRow(ctx, isHypertableSQL).Scan(&hyper); err != nil {
		return c, mapErr("convert to hypertable", err)
	}
	if hyper { // converted by another process since Open
		s.becameHypertable()
		c.Already = true
		return c, nil
	}

	cv := &converter{s: s, conn: conn, p: p}
	if err := cv.prepare(ctx); err != nil {
		return c, mapErr("convert to hypertable", err)
	}
	for _, pt := range cv.parts {
		if pt.copied {
			continue
		}
		if err := cv.copyPartition(ctx, pt); err != nil {
			return c, mapErr("convert to hypertable: copy "+pt.name, err)
		}
		c.Partitions++
	}
	if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return cv.checkAndSwap(ctx, tx, &c) }); err != nil {
		return c, mapErr("convert to hypertable: check and swap", err)
	}
	s.becameHypertable()
	if _, err := conn.Exec(ctx, "ANALYZE readings"); err != nil {
		s.log.Warn("analyze readings after the conversion failed; autovacuum will", "err", err)
	}
	s.log.Info("readings converted into a timescaledb hypertable", "rows", c.Rows, "partitions", c.Partitions, "repaired_days", c.Repaired)
	return c, nil
}

// converter carries one run of ConvertToHypertable on its connection.
type converter struct {
	s       *Store
	conn    *pgxpool.Conn
	p       ConvertProgress
	colList string // readings' columns, in order, quoted
	parts   []convPart
}

// convPart is a native partition of readings (the default one included).
type convPart struct {
	name   string
	rows   int64
	copied bool // by an earlier run (recorded in readings_conversion)
}

// prepare creates the hypertable and readings_conversion on the first run,
// lists the partitions and counts their readings, and calls Start.
func (cv *converter) prepare(ctx context.Context) error {
	var started bool
	if err := cv.conn.QueryRow(ctx, "SELECT to_regclass('readings_conversion') IS NOT NULL").Scan(&started); err != nil {
		return err
	}
	if !started {
		err := pgx.BeginFunc(ctx, cv.conn, func(tx pgx.Tx) error {
			return execAll(ctx, tx, append([]string{
				"DROP TABLE IF EXISTS readings_hyper",
				"CREATE TABLE readings_conversion (part text PRIMARY KEY, rows bigint NOT NULL, copied_at timestamptz NOT NULL DEFAULT now())",
			}, cv.s.hypertableStmts()...))
		})
		if err != nil {
			return fmt.Errorf("create the hypertable: %w", err)
		}
	}
	rows, err := cv.conn.Query(ctx, `SELECT quote_ident(attname) FROM pg_attribute
		WHERE attrelid = 'readings'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`)
	if err != nil {
		return err
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	cv.colList = strings.Join(cols, ", ")
	rows, err = cv.conn.Query(ctx, `SELECT c.relname, (SELECT count(*) FROM readings_conversion v WHERE v.part = c.relname) > 0
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'readings'::regclass ORDER BY c.relname`)
	if err != nil {
		return err
	}
	cv.parts, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (convPart, error) {
		var p convPart
		err := r.Scan(&p.name, &p.copied)
		return p, err
	})
	if err != nil {
		return err
	}
	var total, done int64
	for i := range cv.parts {
		q := "SELECT count(*) FROM ONLY " + pgx.Identifier{cv.parts[i].name}.Sanitize()
		if err := cv.conn.QueryRow(ctx, q).Scan(&cv.parts[i].rows); err != nil {
			return fmt.Errorf("count %s: %w", cv.parts[i].name, err)
		}
		total += cv.parts[i].rows
		if cv.parts[i].copied {
			done += cv.parts[i].rows
		}
	}
	if cv.p.Start != nil {
		cv.p.Start(total, done)
	}
	return nil
}

func (cv *converter) add(n int64) {
	if cv.p.Add != nil {
		cv.p.Add(n)
	}
}

// copyPartition copies one partition into the hypertable and records it,
// in one transaction: a daily partition an hour per statement (progress,
// and statements of bounded size), the default one, whose rows can be of
// any time, in one.
func (cv *converter) copyPartition(ctx context.Context, pt convPart) error {
	insert := "INSERT INTO readings_hyper (" + cv.colList + ") SELECT " + cv.colList + " FROM ONLY " + pgx.Identifier{pt.name}.Sanitize()
	var slices [][2]time.Time
	if day, err := time.Parse("20060102", strings.TrimPrefix(pt.name, "readings_")); err == nil {
		for h := day; h.Before(day.AddDate(0, 0, 1)); h = h.Add(time.Hour) {
			slices = append(slices, [2]time.Time{h, h.Add(time.Hour)})
		}
	}
	var copied int64
	err := pgx.BeginFunc(ctx, cv.conn, func(tx pgx.Tx) error {
		copied = 0
		run := func(q string, args ...any) error {
			tag, err := tx.Exec(ctx, q, args...)
			copied += tag.RowsAffected()
			cv.add(tag.RowsAffected())
			return err
		}
		if len(slices) == 0 {
			if err := run(insert); err != nil {
				return err
			}
		}
		for _, sl := range slices {
			if err := run(insert+" WHERE ts >= $1 AND ts < $2", sl[0], sl[1]); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, "INSERT INTO readings_conversion (part, rows) VALUES ($1, $2)", pt.name, copied)
		return err
	})
	if err != nil {
		cv.add(-copied) // rolled back
	}
	return err
}

// checkAndSwap, under a lock on readings, copies again every day on which
// the hypertable differs from readings, checks that none differs then,
// and puts the hypertable in readings' place.
func (cv *converter) checkAndSwap(ctx context.Context, tx pgx.Tx, c *Conversion) error {
	if _, err := tx.Exec(ctx, "LOCK TABLE readings IN ACCESS EXCLUSIVE MODE"); err != nil {
		return err
	}
	c.Repaired = 0
	days, err := differingDays(ctx, tx)
	if err != nil {
		return err
	}
	for _, d := range days {
		if _, err := tx.Exec(ctx, "DELETE FROM readings_hyper WHERE ts >= $1 AND ts < $2", d, d.AddDate(0, 0, 1)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO readings_hyper ("+cv.colList+") SELECT "+cv.colList+" FROM readings WHERE ts >= $1 AND ts < $2", d, d.AddDate(0, 0, 1)); err != nil {
			return err
		}
		c.Repaired++
	}
	if len(days) > 0 {
		if again, err := differingDays(ctx, tx); err != nil {
			return err
		} else if len(again) > 0 {
			return fmt.Errorf("the hypertable still differs from readings on %d days after copying them again", len(again))
		}
	}
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM readings_hyper").Scan(&c.Rows); err != nil {
		return err
	}
	return execAll(ctx, tx, append(cv.s.swapStmts(), "DROP TABLE readings_conversion"))
}

// differingDays compares readings and readings_hyper day by day (UTC):
// row counts and a checksum of (device_id, seq), the reading's identity.
func differingDays(ctx context.Context, tx pgx.Tx) ([]time.Time, error) {
	const perDay = `SELECT date_bin('1 day', ts, timestamptz 'epoch') AS day, count(*) AS n,
		sum(hashint8(seq # (device_id << 40))) AS h FROM %s GROUP BY 1`
	rows, err := tx.Query(ctx, `SELECT coalesce(a.day, b.day) FROM (`+fmt.Sprintf(perDay, "readings")+`) a
		FULL JOIN (`+fmt.Sprintf(perDay, "readings_hyper")+`) b ON a.day = b.day
		WHERE a.n IS DISTINCT FROM b.n OR a.h IS DISTINCT FROM b.h ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[time.Time])
}

// checkAlone refuses when another process's store is connected to this
// schema (by the application_name Open gives its connections).
func (s *Store) checkAlone(ctx context.Context) error {
	if s.appName == "" {
		s.log.Warn("the database URL sets application_name, so running replicas cannot be detected: make sure no vibemon serve uses this schema")
		return nil
	}
	prefix := s.appName[:len(s.appName)-8]
	var n int
	// The backend of a connection its process just closed stays listed
	// for a moment: a process stopped right before is given up to 3 s.
	for wait := 0; wait < 15; wait++ {
		err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND starts_with(application_name, $1) AND application_name <> $2`, prefix, s.appName).Scan(&n)
		if err != nil {
			return mapErr("convert to hypertable", err)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if n > 0 {
		return vibemon.Errorf(vibemon.ECONFLICT, "%d connections of other VibeMon processes use this schema: stop every vibemon serve (and any other vibemon command) on it, then run the conversion again; it runs offline", n)
	}
	return nil
}

// becameHypertable switches the store to the hypertable layout.
func (s *Store) becameHypertable() {
	s.hypertable.Store(true)
	s.partMu.Lock()
	clear(s.parts)
	s.partMu.Unlock()
}
