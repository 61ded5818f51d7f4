package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Rollup layout (migrations 0014 and 0016, docs/postgres.md "Rollup
// layout").
//
// The merge writes rollup_1h hour by hour across all devices, so a month's
// rows of one device are spread over as many pages as the month has hours:
// a 30-day hourly query of one device then reads ~720 pages, which is what
// makes it slow when they are not cached. rollup_1h is partitioned by month,
// and ReorderRollups rewrites a month's partition in (device_id,
// bucket_start) order (what TimescaleDB's reorder policy does to a chunk),
// after which the same query reads ~70 pages: the month being written once
// a day (its whole days; the rows of today and those merged later are
// appended as before), and every month a final time once it has ended (plus
// ReorderAfter).

// ReorderAfter is how long after its end a month of rollup_1h is rewritten
// the final time: late data of the last days (a gateway that was offline)
// has mostly arrived by then.
const ReorderAfter = 2 * 24 * time.Hour

// rollupMonthName is the name of the rollup_1h partition of the month that
// starts at m (UTC).
func rollupMonthName(m time.Time) string { return "rollup_1h_" + m.UTC().Format("200601") }

// reorderedMonth is a month partition of rollup_1h that is not rewritten
// for good yet, with its last rewrite (zero: never).
type reorderedMonth struct {
	p    rangePart
	last time.Time
}

// monthRewrite is a rewrite that is due: rows before cutoff go in
// (device_id, bucket_start) order.
type monthRewrite struct {
	p      rangePart
	cutoff time.Time
	final  bool
}

// dueRewrites returns the rewrites due at now among months (oldest first),
// in the order ReorderRollups tries them:
//
//   - Daily, newest month first: a month that has not ended, or ended less
//     than ReorderAfter ago, is rewritten when it has a whole day before
//     cutoff and was not rewritten since: cutoff is the start of now's day
//     (UTC), or the month's end when that came first. So the month being
//     written is rewritten in the first run after each midnight (from its
//     second day on), and the month before it once more after its end, with
//     its last day.
//   - Final, oldest month first: a month that ended ReorderAfter ago or more
//     is rewritten a last time, whole, then never again.
//
// The daily rewrites come first because they are the months a query of
// the last 30 days reads; they are at most two a day, so a backlog of
// ended months (an upgrade) still gets nearly every hourly run.
func dueRewrites(months []reorderedMonth, now time.Time) []monthRewrite {
	u := now.UTC()
	today := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
	var daily, final []monthRewrite
	for _, m := range months {
		if !now.Before(m.p.to.Add(ReorderAfter)) {
			final = append(final, monthRewrite{p: m.p, cutoff: m.p.to, final: true})
			continue
		}
		cutoff := today
		if m.p.to.Before(cutoff) {
			cutoff = m.p.to
		}
		if m.p.from.Before(cutoff) && m.last.Before(cutoff) {
			daily = append([]monthRewrite{{p: m.p, cutoff: cutoff}}, daily...)
		}
	}
	return append(daily, final...)
}

// ReorderRollups rewrites one month of rollup_1h in (device_id,
// bucket_start) order, the first that dueRewrites finds due, and returns
// its partition's name ("" when none is due). A daily rewrite needs rows
// before its cutoff (an empty month waits); a final one is done even when
// the month is empty. One month per call bounds the work of a run; the
// periodic job (hourly) catches up on a year of ended months in half a day.
//
// The rewrite runs in one transaction: rollup_1h is locked against writes
// (SHARE: queries go on; merges, which write to all three rollup tables in
// one statement, wait), the month is copied in order into a new table,
// which takes its place (detach, attach, drop: an exclusive lock of
// rollup_1h for milliseconds), and the rewrite is recorded in
// rollup_reordered. In a daily rewrite, the rows of today (the merge still
// updates the current hour's) follow the sorted ones in the merge's (hour,
// device) order, with room for those updates; rows merged after a rewrite
// are appended as before. For a month of 1,000 devices, a rewrite takes
// seconds (docs/benchmarks.md), which is how long merges wait; ingest does
// not, and queries add the deltas not merged yet, so they stay current.
func (s *Store) ReorderRollups(ctx context.Context, now time.Time) (string, error) {
	var done monthRewrite
	var n int64
	err := s.tx(ctx, "reorder rollups", func(tx pgx.Tx) error {
		done = monthRewrite{}
		// One reorder at a time in the cluster; a replica that finds the
		// lock taken leaves the month to the holder.
		var got bool
		if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock(hashtextextended('vibemon:reorder:' || current_schema(), 0))").Scan(&got); err != nil || !got {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT c.relname, r.reordered_at FROM pg_inherits i
			JOIN pg_class c ON c.oid = i.inhrelid
			LEFT JOIN rollup_reordered r ON r.partition = c.relname
			WHERE i.inhparent = 'rollup_1h'::regclass AND c.relname <> 'rollup_1h_default'
			AND r.final IS NOT TRUE
			ORDER BY c.relname`)
		if err != nil {
			return err
		}
		var months []reorderedMonth
		var name string
		var last *time.Time
		_, err = pgx.ForEachRow(rows, []any{&name, &last}, func() error {
			m, err := time.Parse("200601", name[len("rollup_1h_"):])
			if p := monthPart(m); err == nil && p.name == name { // else not one of ours
				months = append(months, reorderedMonth{p: p})
				if last != nil {
					months[len(months)-1].last = *last
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range dueRewrites(months, now) {
			if !r.final {
				var has bool
				if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT FROM "+pgx.Identifier{r.p.name}.Sanitize()+" WHERE bucket_start < $1)", r.cutoff).Scan(&has); err != nil {
					return err
				}
				if !has {
					continue
				}
			}
			if n, err = reorderPartition(ctx, tx, r); err != nil {
				return fmt.Errorf("%s: %w", r.p.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO rollup_reordered (partition, reordered_at, row_count, final) VALUES ($1, $2, $3, $4)
				ON CONFLICT (partition) DO UPDATE SET reordered_at = excluded.reordered_at, row_count = excluded.row_count, final = excluded.final`,
				r.p.name, now, n, r.final); err != nil {
				return err
			}
			done = r
			return nil
		}
		return nil
	})
	if err != nil {
		return "", mapErr("reorder rollups", err)
	}
	if done.p.name != "" {
		s.log.Info("rewrote a month of hourly rollups in device order", "partition", done.p.name,
			"final", done.final, "sorted_before", done.cutoff, "rows", n)
	}
	return done.p.name, nil
}

// reorderPartition replaces r's table by a copy with its rows before
// r.cutoff in (device_id, bucket_start) order, the others after them, and
// returns its row count.
func reorderPartition(ctx context.Context, tx pgx.Tx, r monthRewrite) (int64, error) {
	id := pgx.Identifier{r.p.name}.Sanitize()
	tmp := pgx.Identifier{r.p.name + "_sorted"}.Sanitize()
	// The parent first: a merge holds rollup_1h (its statement names the
	// parent) before it reaches the month, so locking only the month would
	// let a merge wait on it while holding the parent that the detach
	// below needs — a deadlock, and with the current month a merge is
	// always writing to it. Locking rollup_1h locks its partitions too.
	if _, err := tx.Exec(ctx, "LOCK TABLE rollup_1h IN SHARE MODE"); err != nil {
		return 0, err
	}
	// Rows before the cutoff are rarely updated again (late data): pack
	// their pages.
	if _, err := tx.Exec(ctx, "CREATE TABLE "+tmp+" (LIKE rollup_1h INCLUDING DEFAULTS) WITH (fillfactor = 100)"); err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, "INSERT INTO "+tmp+" SELECT * FROM "+id+" WHERE bucket_start < $1 ORDER BY device_id, bucket_start", r.cutoff)
	if err != nil {
		return 0, err
	}
	n := tag.RowsAffected()
	if !r.final {
		// The month is still written: the rows of today, whose current
		// hour the merge keeps updating, and those it appends later get
		// the month's usual room for in-place updates.
		if _, err := tx.Exec(ctx, "ALTER TABLE "+tmp+" SET ("+r.p.with+")"); err != nil {
			return 0, err
		}
		tag, err := tx.Exec(ctx, "INSERT INTO "+tmp+" SELECT * FROM "+id+" WHERE bucket_start >= $1 ORDER BY bucket_start, device_id", r.cutoff)
		if err != nil {
			return 0, err
		}
		n += tag.RowsAffected()
	}
	for _, sql := range []string{
		"ALTER TABLE " + tmp + " ADD PRIMARY KEY (device_id, bucket_start)",
		// Detaching locks rollup_1h exclusively until the commit, a few
		// milliseconds from here; rather than queue every query behind a
		// long one, give up and try again at the next run.
		"SET LOCAL lock_timeout = '5s'",
		"ALTER TABLE rollup_1h DETACH PARTITION " + id,
		"DROP TABLE " + id,
		"ALTER TABLE " + tmp + " RENAME TO " + id,
	} {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return 0, err
		}
	}
	if err := attachPartition(ctx, tx, r.p, id); err != nil {
		return 0, err
	}
	return n, nil
}
