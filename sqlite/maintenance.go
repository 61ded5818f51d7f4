package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/vibemon/vibemon"
)

const maintenanceCols = "id, org_id, asset_id, from_ts, to_ts, reason, created_by, created_at"

func scanMaintenance(row interface{ Scan(...any) error }) (*vibemon.MaintenanceWindow, error) {
	var w vibemon.MaintenanceWindow
	var from, to, created int64
	if err := row.Scan(&w.ID, &w.OrgID, &w.AssetID, &from, &to, &w.Reason, &w.CreatedBy, &created); err != nil {
		return nil, err
	}
	w.From, w.To, w.CreatedAt = msTime(from), msTime(to), msTime(created)
	return &w, nil
}

// CreateMaintenance validates and inserts w and sets its ID and CreatedAt;
// ENOTFOUND when w.AssetID is not an asset of w.OrgID.
func (s *Store) CreateMaintenance(ctx context.Context, w *vibemon.MaintenanceWindow) error {
	if err := w.Validate(); err != nil {
		return err
	}
	now := s.nowMS()
	return s.writeTx(ctx, "create maintenance window", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM assets WHERE org_id = ? AND id = ?", w.OrgID, w.AssetID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("Asset")
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO maintenance_windows (org_id, asset_id, from_ts, to_ts, reason, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, w.OrgID, w.AssetID, w.From.UnixMilli(), w.To.UnixMilli(), w.Reason, w.CreatedBy, now)
		if err != nil {
			return err
		}
		w.ID, _ = res.LastInsertId()
		w.CreatedAt = msTime(now)
		return nil
	})
}

// ListMaintenance returns the windows that end after endsAfter (zero: all),
// of one asset (assetID 0: of every asset), ordered by From, ID.
func (s *Store) ListMaintenance(ctx context.Context, orgID, assetID int64, endsAfter time.Time) ([]*vibemon.MaintenanceWindow, error) {
	after := int64(-1 << 62)
	if !endsAfter.IsZero() {
		after = endsAfter.UnixMilli()
	}
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+maintenanceCols+` FROM maintenance_windows
		WHERE org_id = ? AND (? = 0 OR asset_id = ?) AND to_ts > ? ORDER BY from_ts, id`, orgID, assetID, assetID, after)
	if err != nil {
		return nil, mapErr("list maintenance windows", err)
	}
	defer rows.Close()
	out := []*vibemon.MaintenanceWindow{}
	for rows.Next() {
		w, err := scanMaintenance(rows)
		if err != nil {
			return nil, mapErr("list maintenance windows", err)
		}
		out = append(out, w)
	}
	return out, mapErr("list maintenance windows", rows.Err())
}

// DeleteMaintenance removes a window; ENOTFOUND when id is not a window of
// that asset of orgID.
func (s *Store) DeleteMaintenance(ctx context.Context, orgID, assetID, id int64) error {
	return s.writeTx(ctx, "delete maintenance window", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM maintenance_windows WHERE org_id = ? AND asset_id = ? AND id = ?", orgID, assetID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("Maintenance window")
		}
		return nil
	})
}
