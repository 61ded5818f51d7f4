package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vibemon/vibemon"
)

const maintenanceCols = "id, org_id, asset_id, from_ts, to_ts, reason, created_by, created_at"

func scanMaintenance(row pgx.Row) (*vibemon.MaintenanceWindow, error) {
	var w vibemon.MaintenanceWindow
	if err := row.Scan(&w.ID, &w.OrgID, &w.AssetID, &w.From, &w.To, &w.Reason, &w.CreatedBy, &w.CreatedAt); err != nil {
		return nil, err
	}
	w.From, w.To, w.CreatedAt = w.From.UTC(), w.To.UTC(), w.CreatedAt.UTC()
	return &w, nil
}

// CreateMaintenance validates and inserts w and sets its ID and CreatedAt;
// ENOTFOUND when w.AssetID is not an asset of w.OrgID.
func (s *Store) CreateMaintenance(ctx context.Context, w *vibemon.MaintenanceWindow) error {
	if err := w.Validate(); err != nil {
		return err
	}
	now := s.nowUTC()
	return s.tx(ctx, "create maintenance window", func(tx pgx.Tx) error {
		var ok bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM assets WHERE org_id = $1 AND id = $2)", w.OrgID, w.AssetID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return notFound("Asset")
		}
		err := tx.QueryRow(ctx, `INSERT INTO maintenance_windows (org_id, asset_id, from_ts, to_ts, reason, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, w.OrgID, w.AssetID, w.From, w.To, w.Reason, w.CreatedBy, now).Scan(&w.ID)
		w.CreatedAt = now
		return err
	})
}

// ListMaintenance returns the windows that end after endsAfter (zero: all),
// of one asset (assetID 0: of every asset), ordered by From, ID.
func (s *Store) ListMaintenance(ctx context.Context, orgID, assetID int64, endsAfter time.Time) ([]*vibemon.MaintenanceWindow, error) {
	q := "SELECT " + maintenanceCols + " FROM maintenance_windows WHERE org_id = $1 AND ($2::bigint = 0 OR asset_id = $2::bigint)"
	args := []any{orgID, assetID}
	if !endsAfter.IsZero() {
		q += " AND to_ts > $3"
		args = append(args, endsAfter)
	}
	rows, err := s.pool.Query(ctx, q+" ORDER BY from_ts, id", args...)
	if err != nil {
		return nil, mapErr("list maintenance windows", err)
	}
	out, err := collect(rows, scanMaintenance)
	return out, mapErr("list maintenance windows", err)
}

// DeleteMaintenance removes a window; ENOTFOUND when id is not a window of
// that asset of orgID.
func (s *Store) DeleteMaintenance(ctx context.Context, orgID, assetID, id int64) error {
	return s.tx(ctx, "delete maintenance window", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM maintenance_windows WHERE org_id = $1 AND asset_id = $2 AND id = $3", orgID, assetID, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("Maintenance window")
		}
		return nil
	})
}
