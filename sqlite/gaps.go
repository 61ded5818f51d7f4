package sqlite

import (
	"context"
	"database/sql"

	"github.com/vibemon/vibemon"
)

// ReportGaps stores the gaps a gateway recorded for the device; a gap
// already stored (same range and reason) is skipped.
func (s *Store) ReportGaps(ctx context.Context, orgID, deviceID int64, gaps []vibemon.ReportedGap) (int, error) {
	for i := range gaps {
		if err := gaps[i].Validate(); err != nil {
			return 0, vibemon.Errorf(vibemon.EINVALID, "gaps[%d]: %s", i, vibemon.ErrorMessage(err))
		}
	}
	stored := 0
	now := s.nowMS()
	err := s.writeTx(ctx, "report gaps", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM devices WHERE org_id = ? AND id = ?", orgID, deviceID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("Device")
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO device_gaps (device_id, from_seq, to_seq, reason, at, created_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, g := range gaps {
			res, err := ins.ExecContext(ctx, deviceID, g.FromSeq, g.ToSeq, g.Reason, g.At.UnixMilli(), now)
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			stored += int(k)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return stored, nil
}

// reportedGaps returns the device's reported gaps that overlap first..last.
func reportedGaps(ctx context.Context, tx *sql.Tx, deviceID, first, last int64) ([]vibemon.ReportedGap, error) {
	rows, err := tx.QueryContext(ctx, `SELECT from_seq, to_seq, reason, at FROM device_gaps
		WHERE device_id = ? AND to_seq >= ? AND from_seq <= ? ORDER BY from_seq`, deviceID, first, last)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []vibemon.ReportedGap
	for rows.Next() {
		var g vibemon.ReportedGap
		var at int64
		if err := rows.Scan(&g.FromSeq, &g.ToSeq, &g.Reason, &at); err != nil {
			return nil, err
		}
		g.At = msTime(at)
		out = append(out, g)
	}
	return out, rows.Err()
}
