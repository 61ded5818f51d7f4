package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/migrate"
)

// This file lists everything the store keeps, across orgs and in id order,
// for `vibemon migrate` (the migrate.Source interface). The domain's
// interfaces are scoped to one org and hide resolved alerts and raw pages,
// which a copy needs.

// exportAll runs query and scans every row with scan.
func exportAll[T any](ctx context.Context, s *Store, op, query string, scan func(interface{ Scan(...any) error }) (*T, error), args ...any) ([]*T, error) {
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	out := []*T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, v)
	}
	return out, mapErr(op, rows.Err())
}

// ExportOrgs returns every org in id order.
func (s *Store) ExportOrgs(ctx context.Context) ([]*vibemon.Org, error) {
	return exportAll(ctx, s, "export orgs", "SELECT id, name, retention_days, pruned_before, waveform_retention_days, created_at FROM orgs ORDER BY id",
		func(row interface{ Scan(...any) error }) (*vibemon.Org, error) {
			var o vibemon.Org
			var created, pruned int64
			if err := row.Scan(&o.ID, &o.Name, &o.RetentionDays, &pruned, &o.WaveformRetentionDays, &created); err != nil {
				return nil, err
			}
			o.CreatedAt = msTime(created)
			o.PrunedBefore = prunedTime(pruned)
			return &o, nil
		})
}

// ExportUsers returns every user of every org, with password hashes, in id
// order.
func (s *Store) ExportUsers(ctx context.Context) ([]*vibemon.User, error) {
	return exportAll(ctx, s, "export users", "SELECT "+userCols+" FROM users ORDER BY id", scanUser)
}

// ExportAssets returns every asset of every org in id order.
func (s *Store) ExportAssets(ctx context.Context) ([]*vibemon.Asset, error) {
	return exportAll(ctx, s, "export assets", "SELECT "+assetCols+" FROM assets ORDER BY id", scanAsset)
}

// ExportDevices returns every device of every org in id order.
func (s *Store) ExportDevices(ctx context.Context) ([]*vibemon.Device, error) {
	return exportAll(ctx, s, "export devices", "SELECT "+deviceCols+" FROM devices ORDER BY id", scanDevice)
}

// ExportMaintenance returns every maintenance window of every org in id
// order.
func (s *Store) ExportMaintenance(ctx context.Context) ([]*vibemon.MaintenanceWindow, error) {
	return exportAll(ctx, s, "export maintenance windows", "SELECT "+maintenanceCols+" FROM maintenance_windows ORDER BY id", scanMaintenance)
}

// ExportRules returns every rule of every org in id order.
func (s *Store) ExportRules(ctx context.Context) ([]*vibemon.Rule, error) {
	return exportAll(ctx, s, "export rules", "SELECT "+ruleCols+" FROM rules ORDER BY id", scanRule)
}

// ExportAlerts returns every alert of every org, resolved ones included, in
// id order.
func (s *Store) ExportAlerts(ctx context.Context) ([]*vibemon.Alert, error) {
	return exportAll(ctx, s, "export alerts", "SELECT "+alertCols+" FROM alerts ORDER BY id", scanAlert)
}

// ExportAPIKeys returns every API key, revoked ones too, in id order.
func (s *Store) ExportAPIKeys(ctx context.Context) ([]*vibemon.APIKey, error) {
	return exportAll(ctx, s, "export api keys", "SELECT "+apiKeyCols+" FROM api_keys ORDER BY id", scanAPIKey)
}

// ExportAlertEvents returns every alert's timeline, in id order.
func (s *Store) ExportAlertEvents(ctx context.Context) ([]*vibemon.AlertEvent, error) {
	return exportAll(ctx, s, "export alert events", "SELECT "+eventCols+" FROM alert_events ORDER BY id", scanEvent)
}

// ExportModels returns every trained model.
func (s *Store) ExportModels(ctx context.Context) ([]*vibemon.Model, error) {
	return exportAll(ctx, s, "export models", "SELECT org_id, device_id, kind, data, rows, trained_at FROM models ORDER BY device_id, kind",
		func(row interface{ Scan(...any) error }) (*vibemon.Model, error) {
			var m vibemon.Model
			var trained int64
			if err := row.Scan(&m.OrgID, &m.DeviceID, &m.Kind, &m.Data, &m.Rows, &trained); err != nil {
				return nil, err
			}
			m.TrainedAt = msTime(trained)
			return &m, nil
		})
}

// ExportWaveforms returns up to limit bursts with ids above afterID, in id
// order, with their data and analysis.
func (s *Store) ExportWaveforms(ctx context.Context, afterID int64, limit int) ([]*vibemon.Waveform, error) {
	return exportAll(ctx, s, "export waveforms", "SELECT "+waveformCols+", data, analysis FROM waveforms WHERE id > ? ORDER BY id LIMIT ?",
		func(row interface{ Scan(...any) error }) (*vibemon.Waveform, error) {
			var data, analysis []byte
			w, err := scanWaveform(row, &data, &analysis)
			if err != nil {
				return nil, err
			}
			w.Data, w.Analysis = vibemon.DecodeSamples(data), analysis
			return w, nil
		}, afterID, limit)
}

// ExportReadings returns up to limit readings of the device with seq above
// afterSeq, in seq order (the table's primary key order, so each page is a
// range scan).
func (s *Store) ExportReadings(ctx context.Context, deviceID, afterSeq int64, limit int) ([]vibemon.Reading, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT device_id, seq, ts, "+strings.Join(metricCols(), ", ")+
		" FROM readings WHERE device_id = ? AND seq > ? ORDER BY seq LIMIT ?", deviceID, afterSeq, limit)
	if err != nil {
		return nil, mapErr("export readings", err)
	}
	defer rows.Close()
	out := make([]vibemon.Reading, 0, limit)
	vals := make([]sql.NullFloat64, vibemon.NumMetrics)
	dst := make([]any, 3+len(vals))
	for rows.Next() {
		var r vibemon.Reading
		var ts int64
		dst[0], dst[1], dst[2] = &r.DeviceID, &r.Seq, &ts
		for i := range vals {
			dst[3+i] = &vals[i]
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, mapErr("export readings", err)
		}
		r.TS = msTime(ts)
		for i, v := range vals {
			r.Values[i] = nullNaN(v)
		}
		out = append(out, r)
	}
	return out, mapErr("export readings", rows.Err())
}

// CountRows returns the number of rows of each table a copy carries
// (migrate.Tables).
func (s *Store) CountRows(ctx context.Context) (map[string]int64, error) {
	out := make(map[string]int64, len(migrate.Tables))
	for _, t := range migrate.Tables {
		var n int64
		if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			return nil, mapErr(fmt.Sprintf("count %s", t), err)
		}
		out[t] = n
	}
	return out, nil
}

// CountReadingsByDevice returns the number of readings of each device that
// has any.
func (s *Store) CountReadingsByDevice(ctx context.Context) (map[int64]int64, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT device_id, count(*) FROM readings GROUP BY device_id")
	if err != nil {
		return nil, mapErr("count readings by device", err)
	}
	defer rows.Close()
	out := map[int64]int64{}
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, mapErr("count readings by device", err)
		}
		out[id] = n
	}
	return out, mapErr("count readings by device", rows.Err())
}
