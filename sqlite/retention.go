package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/vibemon/vibemon"
)

// pruneBatch is how many readings one delete transaction removes at most:
// small enough that ingest's writes, which share the one write connection,
// wait only milliseconds between batches.
const pruneBatch = 5000

var _ vibemon.ReadingPruner = (*Store)(nil)

// PruneReadings deletes, for every org with a retention, its devices'
// readings older than now minus RetentionDays days and their 1-minute
// rollups of the whole minutes before that, pruneBatch rows per
// transaction. Hourly and daily rollups are kept.
func (s *Store) PruneReadings(ctx context.Context, now time.Time) (vibemon.RetentionReport, error) {
	rep := vibemon.RetentionReport{PartitionsDropped: []string{}}
	// First, before anything is deleted, each org's pruned_before moves up
	// to its cutoff: from then on ingest refuses what is about to go, also
	// if retention_days is raised later (Reading.CheckRetention).
	if err := s.writeTx(ctx, "prune readings", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE orgs SET pruned_before = max(pruned_before, ? - retention_days * 86400000)
			WHERE retention_days > 0`, now.UnixMilli())
		return err
	}); err != nil {
		return rep, err
	}
	targets, err := exportAll(ctx, s, "prune readings", `SELECT d.id, ? - o.retention_days * 86400000 FROM devices d JOIN orgs o ON o.id = d.org_id
		WHERE o.retention_days > 0 ORDER BY d.id`, scanPruneTarget, now.UnixMilli())
	if err != nil {
		return rep, err
	}
	for _, t := range targets {
		n, err := s.deleteInBatches(ctx, "prune readings", `DELETE FROM readings WHERE device_id = ? AND seq IN
			(SELECT seq FROM readings WHERE device_id = ? AND ts < ? LIMIT ?)`, pruneBatch, t.id, t.id, t.cutoff)
		rep.RowsDeleted += n
		if err != nil {
			return rep, err
		}
		// Then the 1-minute rollups of the whole minutes before the cutoff
		// (after the readings: raw queries find readings through them).
		before := t.cutoff - t.cutoff%int64(time.Minute/time.Millisecond)
		n, err = s.deleteInBatches(ctx, "prune minute rollups", `DELETE FROM rollup_1m WHERE device_id = ? AND bucket_start IN
			(SELECT bucket_start FROM rollup_1m WHERE device_id = ? AND bucket_start < ? LIMIT ?)`, pruneBatch, t.id, t.id, before)
		rep.MinuteRollupsDeleted += n
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// waveformPruneBatch is how many bursts (about 24 KB each) one delete
// transaction removes at most, so that ingest's writes wait only briefly.
const waveformPruneBatch = 200

// PruneWaveforms deletes, for every org with a waveform retention, its
// bursts older than now minus WaveformRetentionDays days,
// waveformPruneBatch per transaction.
func (s *Store) PruneWaveforms(ctx context.Context, now time.Time) (int64, error) {
	targets, err := exportAll(ctx, s, "prune waveforms", `SELECT id, ? - waveform_retention_days * 86400000 FROM orgs
		WHERE waveform_retention_days > 0 ORDER BY id`, scanPruneTarget, now.UnixMilli())
	if err != nil {
		return 0, err
	}
	var total int64
	for _, t := range targets {
		n, err := s.deleteInBatches(ctx, "prune waveforms", `DELETE FROM waveforms WHERE id IN
			(SELECT id FROM waveforms WHERE org_id = ? AND ts < ? LIMIT ?)`, waveformPruneBatch, t.id, t.cutoff)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// pruneTarget is a device (readings) or an org (bursts) and the time, unix
// ms, before which its data goes.
type pruneTarget struct{ id, cutoff int64 }

func scanPruneTarget(row interface{ Scan(...any) error }) (*pruneTarget, error) {
	var t pruneTarget
	return &t, row.Scan(&t.id, &t.cutoff)
}

// deleteInBatches runs query, a DELETE of at most batch rows whose last
// argument is batch, each time in its own write transaction (ingest's
// writes wait one batch at most), until it deletes fewer than batch rows,
// and returns how many rows it deleted.
func (s *Store) deleteInBatches(ctx context.Context, op, query string, batch int, args ...any) (int64, error) {
	args = append(args, batch)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var n int64
		err := s.writeTx(ctx, op, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, query, args...)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		total += n
		if err != nil || n < int64(batch) {
			return total, err
		}
	}
}
