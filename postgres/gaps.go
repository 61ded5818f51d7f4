package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

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
	now := s.nowUTC()
	err := s.tx(ctx, "report gaps", func(tx pgx.Tx) error {
		stored = 0
		var ok bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM devices WHERE org_id = $1 AND id = $2)", orgID, deviceID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return notFound("Device")
		}
		b := &pgx.Batch{}
		for _, g := range gaps {
			b.Queue(`INSERT INTO device_gaps (device_id, from_seq, to_seq, reason, at, created_at)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, deviceID, g.FromSeq, g.ToSeq, g.Reason, utc(g.At), now)
		}
		br := tx.SendBatch(ctx, b)
		for range gaps {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return err
			}
			stored += int(tag.RowsAffected())
		}
		return br.Close()
	})
	if err != nil {
		return 0, err
	}
	return stored, nil
}

// reportedGaps returns the device's reported gaps that overlap first..last.
func reportedGaps(ctx context.Context, tx pgx.Tx, deviceID, first, last int64) ([]vibemon.ReportedGap, error) {
	rows, err := tx.Query(ctx, `SELECT from_seq, to_seq, reason, at FROM device_gaps
		WHERE device_id = $1 AND to_seq >= $2 AND from_seq <= $3 ORDER BY from_seq`, deviceID, first, last)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []vibemon.ReportedGap
	for rows.Next() {
		var g vibemon.ReportedGap
		if err := rows.Scan(&g.FromSeq, &g.ToSeq, &g.Reason, &g.At); err != nil {
			return nil, err
		}
		g.At = g.At.UTC()
		out = append(out, g)
	}
	return out, rows.Err()
}
