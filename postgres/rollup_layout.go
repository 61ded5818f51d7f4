package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Rollup layout (migration 0014, docs/postgres.md "Rollup layout").
//
// The merge writes rollup_1h hour by hour across all devices, so a month's
// rows of one device are spread over as many pages as the month has hours:
// a 30-day hourly query of one device then reads ~720 pages, which is what
// makes it slow when they are not cached. rollup_1h is partitioned by month;
// once a month has ended, ReorderRollups rewrites its partition in
// (device_id, bucket_start) order (what TimescaleDB's reorder policy does
// to a chunk), after which the same query reads ~30 pages.

// ReorderAfter is how long after its end a month of rollup_1h is rewritten:
// late data of the last days (a gateway that was offline) has mostly
// arrived by then.
const ReorderAfter = 2 * 24 * time.Hour

// rollupMonthName is the name of the rollup_1h partition of the month that
// starts at m (UTC).
func rollupMonthName(m time.Time) string { return "rollup_1h_" + m.UTC().Format("200601") }

// ReorderRollups rewrites the oldest month of rollup_1h that ended at least
// ReorderAfter before now and was not rewritten yet, in (device_id,
// bucket_start) order, and returns its partition's name ("" when none is
// due). One month per call bounds the work of a run; the periodic job
// (hourly) catches up on a year in half a day.
//
// The rewrite runs in one transaction: the month's partition is locked
// against writes (SHARE: queries go on, a merge that writes to it waits),
// copied in order into a new table, which takes its place (detach, attach,
// drop: an exclusive lock of rollup_1h for milliseconds), and the month is
// recorded in rollup_reordered. Rows that arrive in the month later are
// appended as before; the month is not rewritten again.
func (s *Store) ReorderRollups(ctx context.Context, now time.Time) (string, error) {
	var done string
	err := s.tx(ctx, "reorder rollups", func(tx pgx.Tx) error {
		done = ""
		// One reorder at a time in the cluster; a replica that finds the
		// lock taken leaves the month to the holder.
		var got bool
		if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock(hashtextextended('vibemon:reorder:' || current_schema(), 0))").Scan(&got); err != nil || !got {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_inherits i
			JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'rollup_1h'::regclass AND c.relname <> 'rollup_1h_default'
			AND NOT EXISTS (SELECT 1 FROM rollup_reordered r WHERE r.partition = c.relname)
			ORDER BY c.relname`)
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, name := range names {
			m, err := time.Parse("200601", name[len("rollup_1h_"):])
			if err != nil {
				continue // not one of ours
			}
			p := monthPart(m)
			if p.name != name || now.Sub(p.to) < ReorderAfter {
				continue
			}
			n, err := reorderPartition(ctx, tx, p)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO rollup_reordered (partition, reordered_at, row_count) VALUES ($1, $2, $3)", name, s.now(), n); err != nil {
				return err
			}
			done = name
			return nil
		}
		return nil
	})
	if err != nil {
		return "", mapErr("reorder rollups", err)
	}
	if done != "" {
		s.log.Info("rewrote a month of hourly rollups in device order", "partition", done)
	}
	return done, nil
}

// reorderPartition replaces p's table by a copy in (device_id,
// bucket_start) order and returns its row count.
func reorderPartition(ctx context.Context, tx pgx.Tx, p rangePart) (int64, error) {
	id := pgx.Identifier{p.name}.Sanitize()
	tmp := pgx.Identifier{p.name + "_sorted"}.Sanitize()
	if _, err := tx.Exec(ctx, "LOCK TABLE "+id+" IN SHARE MODE"); err != nil {
		return 0, err
	}
	// Rows of an ended month are rarely updated again: pack the pages.
	if _, err := tx.Exec(ctx, "CREATE TABLE "+tmp+" (LIKE rollup_1h INCLUDING DEFAULTS) WITH (fillfactor = 100)"); err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, "INSERT INTO "+tmp+" SELECT * FROM "+id+" ORDER BY device_id, bucket_start")
	if err != nil {
		return 0, err
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
	if err := attachPartition(ctx, tx, p, id); err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
