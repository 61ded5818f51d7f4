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
}

// ReadingPruner removes raw readings older than their org's retention.
// Both stores implement it; the periodic PruneReadings job calls it once
// per cluster.
type ReadingPruner interface {
	// PruneReadings deletes every reading whose ts is more than its org's
	// RetentionDays × 24 h before now (orgs with 0 keep everything), in
	// bounded steps so that ingest goes on meanwhile. Rollups are kept.
	PruneReadings(ctx context.Context, now time.Time) (RetentionReport, error)
}
