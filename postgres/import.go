package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/migrate"
)

// This file loads rows copied from another store with their ids kept, for
// `vibemon migrate` (the migrate.Target interface). Every Import method is
// idempotent: a row whose id (or unique key) exists is left alone, so an
// interrupted copy can be run again. Each call moves the table's identity
// past the largest id, so rows created later get fresh ids.

// importRows inserts rows in one transaction with OVERRIDING SYSTEM VALUE
// (identity columns keep the source's ids), then moves table's identity on.
func importRows[T any](ctx context.Context, s *Store, table, insert string, rows []*T, args func(*T) []any) error {
	return s.tx(ctx, "import "+table, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, r := range rows {
			b.Queue(insert, args(r)...)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return resetIdentity(ctx, tx, table)
	})
}

// resetIdentity makes the next generated id of table one past its largest.
func resetIdentity(ctx context.Context, tx pgx.Tx, table string) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%[1]s', 'id'),
		(SELECT coalesce(max(id), 0) + 1 FROM %[1]s), false)`, table))
	return err
}

// ImportOrgs inserts orgs with their ids, retentions and creation times.
func (s *Store) ImportOrgs(ctx context.Context, orgs []*vibemon.Org) error {
	if err := importRows(ctx, s, "orgs", `INSERT INTO orgs (id, name, retention_days, pruned_before, waveform_retention_days, created_at) OVERRIDING SYSTEM VALUE
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, orgs,
		func(o *vibemon.Org) []any {
			return []any{o.ID, o.Name, o.RetentionDays, o.PrunedBefore, o.WaveformRetentionDays, utc(o.CreatedAt)}
		}); err != nil || !s.caggs.Load() {
		return err
	}
	// Each org gets its continuous aggregates, for the retention stored.
	return s.tx(ctx, "import orgs", func(tx pgx.Tx) error {
		for _, o := range orgs {
			var days int32
			if err := tx.QueryRow(ctx, "SELECT retention_days FROM orgs WHERE id = $1", o.ID).Scan(&days); err != nil {
				return err
			}
			if err := s.ensureOrgAggregates(ctx, tx, o.ID, days); err != nil {
				return err
			}
		}
		return nil
	})
}

// ImportUsers inserts users with their ids and password hashes, so that
// people log in with the passwords they had.
func (s *Store) ImportUsers(ctx context.Context, users []*vibemon.User) error {
	return importRows(ctx, s, "users", `INSERT INTO users (id, org_id, email, email_key, name, role, password_hash, created_at)
		OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`, users,
		func(u *vibemon.User) []any {
			return []any{u.ID, u.OrgID, u.Email, emailKey(u.Email), u.Name, string(u.Role), u.PasswordHash, utc(u.CreatedAt)}
		})
}

// ImportAssets inserts assets with their ids.
func (s *Store) ImportAssets(ctx context.Context, assets []*vibemon.Asset) error {
	return importRows(ctx, s, "assets", `INSERT INTO assets (id, org_id, name, type, rpm, iso_group, foundation, bearing, created_at)
		OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`, assets,
		func(a *vibemon.Asset) []any {
			return []any{a.ID, a.OrgID, a.Name, a.Type, a.RPM, a.ISOGroup, string(a.Foundation), a.Bearing, utc(a.CreatedAt)}
		})
}

// ImportDevices inserts devices with their ids, assets and last-seen state.
func (s *Store) ImportDevices(ctx context.Context, devices []*vibemon.Device) error {
	return importRows(ctx, s, "devices", `INSERT INTO devices (id, org_id, asset_id, serial, name, firmware_version, last_seen_at, battery_v, created_at)
		OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`, devices,
		func(d *vibemon.Device) []any {
			return []any{d.ID, d.OrgID, nullID(d.AssetID), d.Serial, d.Name, d.FirmwareVersion, utcPtr(d.LastSeenAt), d.BatteryV, utc(d.CreatedAt)}
		})
}

// ImportRules inserts alert rules with their ids.
func (s *Store) ImportRules(ctx context.Context, rules []*vibemon.Rule) error {
	return importRows(ctx, s, "rules", `INSERT INTO rules (id, org_id, name, asset_id, device_id, metric, op, threshold, clear, severity, enabled, created_at,
		kind, for_seconds, clear_for_seconds, fault, min_confidence, remind_every_minutes, escalation,
		zone, within_days, offline_minutes, conditions, match_mode)
		OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
		$20, $21, $22, $23, $24) ON CONFLICT DO NOTHING`, rules,
		func(r *vibemon.Rule) []any {
			kind := r.Kind
			if kind == "" {
				kind = vibemon.RuleThreshold
			}
			return []any{r.ID, r.OrgID, r.Name, r.AssetID, r.DeviceID, r.Metric, string(r.Op), r.Threshold, r.Clear, string(r.Severity), r.Enabled, utc(r.CreatedAt),
				string(kind), r.ForSeconds, r.ClearForSeconds, r.Fault, r.MinConfidence, r.RemindEveryMinutes, escalationJSON(r.Escalation),
				r.Zone, r.WithinDays, r.OfflineMinutes, conditionsJSON(r.Conditions), matchMode(r.Match)}
		})
}

// ImportMaintenance inserts maintenance windows with their ids.
func (s *Store) ImportMaintenance(ctx context.Context, ws []*vibemon.MaintenanceWindow) error {
	return importRows(ctx, s, "maintenance_windows", `INSERT INTO maintenance_windows (id, org_id, asset_id, from_ts, to_ts, reason, created_by, created_at)
		OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`, ws,
		func(w *vibemon.MaintenanceWindow) []any {
			return []any{w.ID, w.OrgID, w.AssetID, utc(w.From), utc(w.To), w.Reason, w.CreatedBy, utc(w.CreatedAt)}
		})
}

// ImportAlerts inserts alerts with their ids and their whole lifecycle
// (status, acknowledgement, resolution).
func (s *Store) ImportAlerts(ctx context.Context, alerts []*vibemon.Alert) error {
	return importRows(ctx, s, "alerts", `INSERT INTO alerts (id, org_id, rule_id, device_id, asset_id, severity, status, metric,
		value, peak, threshold, message, opened_at, updated_at, acked_at, acked_by, ack_comment, resolved_at, resolved_by,
		assignee_id, escalation_level)
		OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
		ON CONFLICT DO NOTHING`, alerts,
		func(a *vibemon.Alert) []any {
			return []any{a.ID, a.OrgID, a.RuleID, a.DeviceID, a.AssetID, string(a.Severity), string(a.Status), a.Metric,
				a.Value, a.Peak, a.Threshold, a.Message, utc(a.OpenedAt), utc(a.UpdatedAt), utcPtr(a.AckedAt), a.AckedBy,
				a.AckComment, utcPtr(a.ResolvedAt), a.ResolvedBy, a.AssigneeID, a.EscalationLevel}
		})
}

// ImportAlertEvents inserts alert timeline events with their ids, so the
// ids keep their order (the outbox readers' cursors stay meaningful).
func (s *Store) ImportAlertEvents(ctx context.Context, es []*vibemon.AlertEvent) error {
	err := importRows(ctx, s, "alert_events", `INSERT INTO alert_events (id, org_id, alert_id, kind, at, user_id, assignee_id, level, comment)
		OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`, es,
		func(e *vibemon.AlertEvent) []any {
			return []any{e.ID, e.OrgID, e.AlertID, string(e.Kind), utc(e.At), e.UserID, e.AssigneeID, e.Level, e.Comment}
		})
	if err != nil {
		return err
	}
	// The source notified (or chose not to notify) of these events; the
	// dispatcher here starts after them, so moving up sends nothing old.
	_, err = s.pool.Exec(ctx, `INSERT INTO notify_cursors (name, position) SELECT 'alert_events', coalesce(max(id), 0) FROM alert_events
		ON CONFLICT (name) DO UPDATE SET position = greatest(notify_cursors.position, excluded.position)`)
	return mapErr("import alert events", err)
}

// ImportAPIKeys inserts API keys with their ids and hashes, so gateways keep
// working with the keys they have.
func (s *Store) ImportAPIKeys(ctx context.Context, keys []*vibemon.APIKey) error {
	return importRows(ctx, s, "api_keys", `INSERT INTO api_keys (id, org_id, name, role, prefix, hash, created_by, created_at, last_used_at, revoked_at)
		OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`, keys,
		func(k *vibemon.APIKey) []any {
			return []any{k.ID, k.OrgID, k.Name, string(k.Role), k.Prefix, k.Hash, k.CreatedBy, utc(k.CreatedAt), utcPtr(k.LastUsedAt), utcPtr(k.RevokedAt)}
		})
}

// ImportWaveforms inserts bursts with their ids, data and analyses.
func (s *Store) ImportWaveforms(ctx context.Context, ws []*vibemon.Waveform) error {
	return importRows(ctx, s, "waveforms", `INSERT INTO waveforms (id, org_id, device_id, ts, sample_rate_hz, axes, samples, scale,
		data, analysis_status, analysis, created_at) OVERRIDING SYSTEM VALUE
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`, ws,
		func(w *vibemon.Waveform) []any {
			return []any{w.ID, w.OrgID, w.DeviceID, utc(w.TS), w.SampleRateHz, w.Axes, w.Samples, w.Scale,
				vibemon.EncodeSamples(w.Data), w.AnalysisStatus, w.Analysis, utc(w.CreatedAt)}
		})
}

// ImportModels inserts or replaces trained models.
func (s *Store) ImportModels(ctx context.Context, models []*vibemon.Model) error {
	return s.tx(ctx, "import models", func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, m := range models {
			b.Queue(`INSERT INTO models (org_id, device_id, kind, data, rows, trained_at) VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (device_id, kind) DO UPDATE SET data = excluded.data, rows = excluded.rows, trained_at = excluded.trained_at`,
				m.OrgID, m.DeviceID, m.Kind, m.Data, m.Rows, utc(m.TrainedAt))
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

// CountRows returns the number of rows of each table a copy carries
// (migrate.Tables; readings in all partitions, so a reading stored twice
// would count twice).
func (s *Store) CountRows(ctx context.Context) (map[string]int64, error) {
	out := make(map[string]int64, len(migrate.Tables))
	for _, t := range migrate.Tables {
		var n int64
		if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			return nil, mapErr("count "+t, err)
		}
		out[t] = n
	}
	return out, nil
}

// CountReadingsByDevice returns the number of readings of each device that
// has any.
func (s *Store) CountReadingsByDevice(ctx context.Context) (map[int64]int64, error) {
	rows, err := s.pool.Query(ctx, "SELECT device_id, count(*) FROM readings GROUP BY device_id")
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

// escalationJSON is a rule's escalation policy as stored ('[]' when none).
func escalationJSON(steps []vibemon.EscalationStep) []byte {
	if len(steps) == 0 {
		return []byte("[]")
	}
	b, _ := json.Marshal(steps)
	return b
}
