package vibemon

import (
	"context"
	"strings"
	"time"
)

// MaxRetentionDays is the longest retention an org may set (100 years);
// 0 means unlimited.
const MaxRetentionDays = 36500

// Validate trims the name and checks what CreateOrg and UpdateOrg require.
func (o *Org) Validate() error {
	o.Name = strings.TrimSpace(o.Name)
	switch {
	case o.Name == "" || len(o.Name) > 200:
		return Errorf(EINVALID, "name is required (at most 200 characters).")
	case o.RetentionDays < 0 || o.RetentionDays > MaxRetentionDays:
		return Errorf(EINVALID, "retention_days must be 0 (keep raw readings forever) or 1 to %d days.", MaxRetentionDays)
	case o.WaveformRetentionDays < 0 || o.WaveformRetentionDays > MaxRetentionDays:
		return Errorf(EINVALID, "waveform_retention_days must be 0 (keep bursts forever) or 1 to %d days.", MaxRetentionDays)
	}
	return nil
}

// RetentionHorizon is the oldest reading time an org that keeps raw
// readings retentionDays days accepts and keeps at now: now minus
// retentionDays × 24 h. It is the zero time when retentionDays is 0
// (unlimited).
func RetentionHorizon(retentionDays int, now time.Time) time.Time {
	if retentionDays <= 0 {
		return time.Time{}
	}
	return now.Add(-time.Duration(retentionDays) * 24 * time.Hour)
}

// CheckRetention returns EINVALID when the reading is older than its org's
// retention horizon at now (retentionDays, 0: unlimited), or older than
// prunedBefore, the time before which retention has already deleted the
// org's readings (Org.PrunedBefore; zero: never).
//
// This is the rule that keeps ingest idempotent across retention: once
// PruneReadings removed a reading (and, on PostgreSQL, its seen bitmap),
// nothing is left to tell a resend of it from a new reading, so it would
// be stored, and counted in the kept rollups, a second time. Every reading
// PruneReadings removes is older than the horizon at any later time while
// retentionDays stays, and older than prunedBefore for ever (PruneReadings
// moves it up before it deletes), so refusing what is older than either
// refuses every such resend, also after retentionDays was raised. The
// price: a gateway that syncs readings older than the retention (a queue
// kept offline longer than that) has them refused; it records them as a
// gap with reason "rejected".
func (r *Reading) CheckRetention(retentionDays int, prunedBefore, now time.Time) error {
	h := RetentionHorizon(retentionDays, now)
	if !h.IsZero() && r.TS.Before(h) {
		return Errorf(EINVALID, "ts %s is older than this organization's retention of %d days (raw readings before %s are deleted); "+
			"it is not stored: sent again after its deletion it could not be told from a new reading.",
			r.TS.UTC().Format(time.RFC3339), retentionDays, h.UTC().Format(time.RFC3339))
	}
	if r.TS.Before(prunedBefore) {
		return Errorf(EINVALID, "ts %s is older than %s, before which this organization's raw readings were deleted by its retention; "+
			"it is not stored: it could not be told from a deleted reading sent again.",
			r.TS.UTC().Format(time.RFC3339), prunedBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// RetentionReport says what one PruneReadings call removed.
type RetentionReport struct {
	// PartitionsDropped names the whole daily partitions dropped
	// (PostgreSQL only), oldest first.
	PartitionsDropped []string `json:"partitions_dropped"`
	// RowsDeleted counts readings deleted row by row.
	RowsDeleted int64 `json:"rows_deleted"`
	// MinuteRollupsDeleted counts the 1-minute rollup rows deleted: those
	// of whole minutes before the cutoff, whose readings are gone too.
	// Hourly and daily rollups are kept.
	MinuteRollupsDeleted int64 `json:"minute_rollups_deleted"`
	// SeenBlocksDeleted counts the idempotency bitmaps deleted
	// (PostgreSQL's reading_seen rows, one per device and 512 sequence
	// numbers, whose newest reading is older than the horizon).
	SeenBlocksDeleted int64 `json:"seen_blocks_deleted"`
}

// ReadingPruner removes raw data older than its org's retention: readings
// and bursts. Both stores implement it; the periodic PruneReadings job
// calls it once per cluster.
type ReadingPruner interface {
	// PruneWaveforms deletes every burst (waveform, with its analysis)
	// whose ts is more than its org's WaveformRetentionDays × 24 h before
	// now (orgs with 0 keep every burst), in bounded steps, and returns
	// how many it deleted. A burst is not an idempotency key: one sent
	// again later is stored again.
	PruneWaveforms(ctx context.Context, now time.Time) (int64, error)
	// PruneReadings deletes every reading whose ts is more than its org's
	// RetentionDays × 24 h before now (orgs with 0 keep everything), in
	// bounded steps so that ingest goes on meanwhile, and the idempotency
	// keys of those readings where the store keeps them apart (PostgreSQL's
	// reading_seen), and the 1-minute rollups of the whole minutes before
	// the horizon (which otherwise grow as fast as the readings at one
	// summary a minute). Hourly and daily rollups are kept. Ingest refuses
	// readings older than the horizon (Reading.CheckRetention), so a pruned
	// reading sent again is not stored again, nor rolled up into a pruned
	// minute.
	PruneReadings(ctx context.Context, now time.Time) (RetentionReport, error)
}
