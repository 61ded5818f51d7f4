package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
)

var _ vibemon.ReadingPruner = (*Store)(nil)

// PruneReadings removes readings older than their org's retention in two
// steps. When every org has a retention, the daily partitions that end at
// least the longest retention before now are dropped whole (DETACH, DROP:
// no row is visited, no dead tuple is left). Then, for each device of an
// org with a retention, the rows still older than its org's cutoff are
// deleted one device-day per statement, so each statement is bounded and
// ingest goes on between them. Each such device's reading_seen blocks whose
// newest reading (ts_max) is older than the cutoff are deleted too: every
// reading they mark is gone, and ingest refuses a resend of any of them
// (vibemon.Reading.CheckRetention), so the bits would never be read again.
// Rollups are kept.
//
// A block an ingest transaction is claiming meanwhile is safe either way:
// if the ingest commits first, its ts_max is recent and the delete's
// re-check skips the row; if the delete commits first, the claim's upsert
// inserts the block afresh with the batch's bits.
func (s *Store) PruneReadings(ctx context.Context, now time.Time) (vibemon.RetentionReport, error) {
	rep := vibemon.RetentionReport{PartitionsDropped: []string{}}
	// Current readings are in the rollups only once the merge has rolled
	// them up from the table (rollup.go): have it do that up to now first,
	// so that none of them is deleted before it is counted.
	if _, _, err := s.mergeRollups(ctx, now.Add(-rollupLag), true); err != nil {
		return rep, err
	}
	// First, before anything is deleted, each org's pruned_before moves up
	// to its cutoff: from then on ingest refuses what is about to go, also
	// if retention_days is raised later (Reading.CheckRetention).
	if _, err := s.pool.Exec(ctx, `UPDATE orgs SET pruned_before = greatest(pruned_before, $1::timestamptz - retention_days * interval '24 hours')
		WHERE retention_days > 0`, now); err != nil {
		return rep, mapErr("prune readings", err)
	}
	rows, err := s.pool.Query(ctx, "SELECT retention_days FROM orgs")
	if err != nil {
		return rep, mapErr("prune readings", err)
	}
	days, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return rep, mapErr("prune readings", err)
	}
	longest, unlimited := 0, len(days) == 0
	for _, d := range days {
		if d == 0 {
			unlimited = true
		}
		longest = max(longest, int(d))
	}
	if !unlimited {
		if rep.PartitionsDropped, err = s.dropPartitionsBefore(ctx, now.Add(-time.Duration(longest)*24*time.Hour)); err != nil {
			return rep, err
		}
	}

	type target struct {
		device, org int64
		cutoff      time.Time
	}
	rows, err = s.pool.Query(ctx, `SELECT d.id, o.id, o.retention_days FROM devices d JOIN orgs o ON o.id = d.org_id
		WHERE o.retention_days > 0 ORDER BY d.id`)
	if err != nil {
		return rep, mapErr("prune readings", err)
	}
	targets, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (target, error) {
		var t target
		var days int32
		err := r.Scan(&t.device, &t.org, &days)
		t.cutoff = now.Add(-time.Duration(days) * 24 * time.Hour)
		if s.caggs.Load() {
			// Whole minutes: the minute aggregate may recompute the
			// cutoff's minute from its readings (caggs.go).
			t.cutoff = t.cutoff.Truncate(time.Minute)
		}
		return t, err
	})
	if err != nil {
		return rep, mapErr("prune readings", err)
	}
	for _, t := range targets {
		tag, err := s.pool.Exec(ctx, "DELETE FROM reading_seen WHERE device_id = $1 AND ts_max < $2", t.device, t.cutoff)
		if err != nil {
			return rep, mapErr("prune reading_seen", err)
		}
		rep.SeenBlocksDeleted += tag.RowsAffected()
		n, err := s.pruneMinutes(ctx, "rollup_1m", t.device, t.cutoff.Truncate(time.Minute))
		rep.MinuteRollupsDeleted += n
		if err != nil {
			return rep, err
		}
		if s.caggs.Load() {
			// The minute aggregate keeps the cutoff's hour, which the
			// hourly one may refresh from (caggs.go).
			n, err := s.pruneMinuteAggregate(ctx, t.org, t.device, t.cutoff.Truncate(time.Hour))
			rep.MinuteRollupsDeleted += n
			if err != nil {
				return rep, err
			}
		}
		var oldest *time.Time
		if err := s.pool.QueryRow(ctx, "SELECT min(ts) FROM readings WHERE device_id = $1", t.device).Scan(&oldest); err != nil {
			return rep, mapErr("prune readings", err)
		}
		if oldest == nil {
			continue
		}
		for from := oldest.UTC().Truncate(24 * time.Hour); from.Before(t.cutoff); from = from.AddDate(0, 0, 1) {
			to := from.AddDate(0, 0, 1)
			if to.After(t.cutoff) {
				to = t.cutoff
			}
			tag, err := s.pool.Exec(ctx, "DELETE FROM readings WHERE device_id = $1 AND ts >= $2 AND ts < $3", t.device, from, to)
			if err != nil {
				return rep, mapErr("prune readings", err)
			}
			rep.RowsDeleted += tag.RowsAffected()
		}
	}
	return rep, nil
}

// pruneMinutes deletes device's rows of table (rollup_1m, or a minute
// aggregate's materialization) of the minutes before before (a whole
// minute: their readings are gone), a day per statement from its oldest
// row, and returns how many.
func (s *Store) pruneMinutes(ctx context.Context, table string, device int64, before time.Time) (int64, error) {
	var oldest *time.Time
	if err := s.pool.QueryRow(ctx, "SELECT min(bucket_start) FROM "+table+" WHERE device_id = $1", device).Scan(&oldest); err != nil || oldest == nil {
		return 0, mapErr("prune minute rollups", err)
	}
	var n int64
	for from := oldest.UTC().Truncate(24 * time.Hour); from.Before(before); from = from.AddDate(0, 0, 1) {
		to := from.AddDate(0, 0, 1)
		if to.After(before) {
			to = before
		}
		tag, err := s.pool.Exec(ctx, "DELETE FROM "+table+" WHERE device_id = $1 AND bucket_start >= $2 AND bucket_start < $3", device, from, to)
		if err != nil {
			return n, mapErr("prune minute rollups", err)
		}
		n += tag.RowsAffected()
	}
	return n, nil
}

// dropPartitionsBefore detaches and drops every daily partition of readings
// whose day ends at or before cutoff, oldest first, and returns their names.
func (s *Store) dropPartitionsBefore(ctx context.Context, cutoff time.Time) ([]string, error) {
	if s.hypertable.Load() {
		return s.dropChunksBefore(ctx, cutoff)
	}
	names, err := s.Partitions(ctx)
	if err != nil {
		return nil, err
	}
	dropped := []string{}
	for _, name := range names {
		day, err := time.Parse("20060102", strings.TrimPrefix(name, "readings_"))
		if err != nil || !strings.HasPrefix(name, "readings_") {
			continue // not one of ours
		}
		if day.AddDate(0, 0, 1).After(cutoff) {
			break // names sort by day
		}
		s.partMu.Lock()
		err = s.tx(ctx, "drop partition", func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock("+lockKey+")"); err != nil {
				return err
			}
			id := pgx.Identifier{name}.Sanitize()
			if _, err := tx.Exec(ctx, "ALTER TABLE readings DETACH PARTITION "+id); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "DROP TABLE "+id)
			return err
		})
		if err == nil {
			delete(s.parts, name)
		}
		s.partMu.Unlock()
		if err != nil {
			return dropped, fmt.Errorf("drop partition %s: %w", name, err)
		}
		s.log.Info("dropped partition past retention", "name", name)
		dropped = append(dropped, name)
	}
	return dropped, nil
}

// waveformPruneBatch is how many bursts (about 24 KB each, in TOAST) one
// delete statement removes at most.
const waveformPruneBatch = 500

// PruneWaveforms deletes, for every org with a waveform retention, its
// bursts older than now minus WaveformRetentionDays days, found through
// waveforms_org_ts (migration 0021), waveformPruneBatch per statement.
func (s *Store) PruneWaveforms(ctx context.Context, now time.Time) (int64, error) {
	rows, err := s.pool.Query(ctx, "SELECT id, $1::timestamptz - waveform_retention_days * interval '24 hours' FROM orgs WHERE waveform_retention_days > 0 ORDER BY id", now)
	if err != nil {
		return 0, mapErr("prune waveforms", err)
	}
	type target struct {
		org    int64
		cutoff time.Time
	}
	targets, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (target, error) {
		var t target
		err := row.Scan(&t.org, &t.cutoff)
		return t, err
	})
	if err != nil {
		return 0, mapErr("prune waveforms", err)
	}
	var total int64
	for _, t := range targets {
		for {
			tag, err := s.pool.Exec(ctx, `DELETE FROM waveforms WHERE id IN
				(SELECT id FROM waveforms WHERE org_id = $1 AND ts < $2 LIMIT $3)`, t.org, t.cutoff, waveformPruneBatch)
			if err != nil {
				return total, mapErr("prune waveforms", err)
			}
			total += tag.RowsAffected()
			if tag.RowsAffected() < waveformPruneBatch {
				break
			}
		}
	}
	return total, nil
}
