package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"math"
	"strings"
	"time"

	"github.com/vibemon/vibemon"
)

const ruleCols = "id, org_id, name, kind, asset_id, device_id, metric, op, threshold, clear, for_seconds, clear_for_seconds, fault, min_confidence, severity, enabled, created_at, remind_every_minutes, escalation, zone, within_days, offline_minutes, conditions, match_mode"

func scanRule(row interface{ Scan(...any) error }) (*vibemon.Rule, error) {
	var r vibemon.Rule
	var kind, op, sev string
	var created int64
	var esc, conds string
	if err := row.Scan(&r.ID, &r.OrgID, &r.Name, &kind, &r.AssetID, &r.DeviceID, &r.Metric, &op, &r.Threshold, &r.Clear,
		&r.ForSeconds, &r.ClearForSeconds, &r.Fault, &r.MinConfidence, &sev, &r.Enabled, &created, &r.RemindEveryMinutes, &esc,
		&r.Zone, &r.WithinDays, &r.OfflineMinutes, &conds, &r.Match); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(conds), &r.Conditions); err != nil || r.Conditions == nil {
		r.Conditions = []vibemon.Condition{}
	}
	if err := json.Unmarshal([]byte(esc), &r.Escalation); err != nil || r.Escalation == nil {
		r.Escalation = []vibemon.EscalationStep{}
	}
	r.Kind, r.Op, r.Severity, r.CreatedAt = vibemon.RuleKind(kind), vibemon.Op(op), vibemon.Severity(sev), msTime(created)
	return &r, nil
}

// CreateRule inserts r and sets its ID and CreatedAt. EINVALID when the rule
// is not valid or names an asset or device of another org.
func (s *Store) CreateRule(ctx context.Context, r *vibemon.Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	now := s.nowMS()
	return s.writeTx(ctx, "create rule", func(tx *sql.Tx) error {
		if err := orgExists(ctx, tx, r.OrgID); err != nil {
			return err
		}
		if err := assetOfOrg(ctx, tx, r.OrgID, r.AssetID); err != nil {
			return err
		}
		if err := deviceOfOrg(ctx, tx, r.OrgID, r.DeviceID); err != nil {
			return err
		}
		esc, err := escalationOfOrg(ctx, tx, r)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO rules (org_id, name, asset_id, device_id, metric, op, threshold, clear, severity, enabled, created_at,
			kind, for_seconds, clear_for_seconds, fault, min_confidence, remind_every_minutes, escalation)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.OrgID, r.Name, r.AssetID, r.DeviceID, r.Metric, string(r.Op),
			r.Threshold, r.Clear, string(r.Severity), r.Enabled, now, string(r.Kind), r.ForSeconds, r.ClearForSeconds, r.Fault, r.MinConfidence,
			r.RemindEveryMinutes, esc)
		if err != nil {
			return err
		}
		r.ID, _ = res.LastInsertId()
		r.CreatedAt = msTime(now)
		return saveRuleKind(ctx, tx, r)
	})
}

// GetRule returns ENOTFOUND when id is not a rule of orgID.
func (s *Store) GetRule(ctx context.Context, orgID, id int64) (*vibemon.Rule, error) {
	r, err := scanRule(s.rdb.QueryRowContext(ctx, "SELECT "+ruleCols+" FROM rules WHERE org_id = ? AND id = ?", orgID, id))
	if err == sql.ErrNoRows {
		return nil, mapErr("get rule", notFound("Rule"))
	}
	return r, mapErr("get rule", err)
}

// ListRules returns the org's rules ordered by ID.
func (s *Store) ListRules(ctx context.Context, orgID int64) ([]*vibemon.Rule, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+ruleCols+" FROM rules WHERE org_id = ? ORDER BY id", orgID)
	if err != nil {
		return nil, mapErr("list rules", err)
	}
	defer rows.Close()
	out := []*vibemon.Rule{}
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, mapErr("list rules", err)
		}
		out = append(out, r)
	}
	return out, mapErr("list rules", rows.Err())
}

// UpdateRule saves every field a user sets; ENOTFOUND as GetRule.
func (s *Store) UpdateRule(ctx context.Context, r *vibemon.Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return s.writeTx(ctx, "update rule", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM rules WHERE org_id = ? AND id = ?", r.OrgID, r.ID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("Rule")
		}
		if err := assetOfOrg(ctx, tx, r.OrgID, r.AssetID); err != nil {
			return err
		}
		if err := deviceOfOrg(ctx, tx, r.OrgID, r.DeviceID); err != nil {
			return err
		}
		esc, err := escalationOfOrg(ctx, tx, r)
		if err != nil {
			return err
		}
		var created int64
		err = tx.QueryRowContext(ctx, `UPDATE rules SET name = ?, asset_id = ?, device_id = ?, metric = ?, op = ?, threshold = ?,
			clear = ?, severity = ?, enabled = ?, kind = ?, for_seconds = ?, clear_for_seconds = ?, fault = ?, min_confidence = ?,
			remind_every_minutes = ?, escalation = ?
			WHERE org_id = ? AND id = ? RETURNING created_at`,
			r.Name, r.AssetID, r.DeviceID, r.Metric, string(r.Op), r.Threshold, r.Clear, string(r.Severity), r.Enabled,
			string(r.Kind), r.ForSeconds, r.ClearForSeconds, r.Fault, r.MinConfidence, r.RemindEveryMinutes, esc, r.OrgID, r.ID).Scan(&created)
		r.CreatedAt = msTime(created)
		if err != nil {
			return err
		}
		return saveRuleKind(ctx, tx, r)
	})
}

// DeleteRule removes the rule; its alerts stay for the record.
func (s *Store) DeleteRule(ctx context.Context, orgID, id int64) error {
	return s.writeTx(ctx, "delete rule", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM rules WHERE org_id = ? AND id = ?", orgID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("Rule")
		}
		return nil
	})
}

const alertCols = `id, org_id, rule_id, device_id, asset_id, severity, status, metric, value, peak, threshold, message,
	opened_at, updated_at, acked_at, acked_by, ack_comment, resolved_at, resolved_by, assignee_id, escalation_level`

func scanAlert(row interface{ Scan(...any) error }) (*vibemon.Alert, error) {
	var a vibemon.Alert
	var sev, status string
	var opened, updated int64
	var acked, resolved sql.NullInt64
	if err := row.Scan(&a.ID, &a.OrgID, &a.RuleID, &a.DeviceID, &a.AssetID, &sev, &status, &a.Metric, &a.Value, &a.Peak,
		&a.Threshold, &a.Message, &opened, &updated, &acked, &a.AckedBy, &a.AckComment, &resolved, &a.ResolvedBy,
		&a.AssigneeID, &a.EscalationLevel); err != nil {
		return nil, err
	}
	a.Severity, a.Status = vibemon.Severity(sev), vibemon.AlertStatus(status)
	a.OpenedAt, a.UpdatedAt = msTime(opened), msTime(updated)
	a.AckedAt, a.ResolvedAt = msPtr(acked), msPtr(resolved)
	return &a, nil
}

// UpsertAlert opens a new alert for (a.RuleID, a.DeviceID), or, when one is
// unresolved, updates its Value, Peak (the worst of the stored peak, a.Peak
// and a.Value) and UpdatedAt. It fills a with the stored alert. EINVALID
// when the rule or device is not the org's.
func (s *Store) UpsertAlert(ctx context.Context, a *vibemon.Alert) (bool, error) {
	if err := a.Validate(); err != nil {
		return false, err
	}
	at := a.UpdatedAt
	if at.IsZero() {
		at = s.now()
	}
	atMS := at.UnixMilli()
	opened := false
	err := s.writeTx(ctx, "upsert alert", func(tx *sql.Tx) error {
		cur, err := scanAlert(tx.QueryRowContext(ctx, "SELECT "+alertCols+` FROM alerts
			WHERE org_id = ? AND rule_id = ? AND device_id = ? AND status <> 'resolved'`, a.OrgID, a.RuleID, a.DeviceID))
		if err == nil {
			peak := vibemon.WorsePeak(cur.Threshold, cur.Peak, a.Value)
			if !math.IsNaN(a.Peak) {
				peak = vibemon.WorsePeak(cur.Threshold, peak, a.Peak)
			}
			got, err := scanAlert(tx.QueryRowContext(ctx, `UPDATE alerts SET value = ?, peak = ?, updated_at = ?
				WHERE id = ? RETURNING `+alertCols, a.Value, peak, atMS, cur.ID))
			if err != nil {
				return err
			}
			*a = *got
			return nil
		} else if err != sql.ErrNoRows {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM rules WHERE org_id = ? AND id = ?", a.OrgID, a.RuleID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return vibemon.Errorf(vibemon.EINVALID, "rule_id %d is not a rule of this organization.", a.RuleID)
		}
		var assetID int64
		err = tx.QueryRowContext(ctx, "SELECT coalesce(asset_id, 0) FROM devices WHERE org_id = ? AND id = ?", a.OrgID, a.DeviceID).Scan(&assetID)
		if err == sql.ErrNoRows {
			return vibemon.Errorf(vibemon.EINVALID, "device_id %d is not a device of this organization.", a.DeviceID)
		} else if err != nil {
			return err
		}
		if a.AssetID == 0 {
			a.AssetID = assetID
		}
		peak := a.Value
		if !math.IsNaN(a.Peak) {
			peak = vibemon.WorsePeak(a.Threshold, peak, a.Peak)
		}
		opened_ := a.OpenedAt
		if opened_.IsZero() {
			opened_ = at
		}
		got, err := scanAlert(tx.QueryRowContext(ctx, `INSERT INTO alerts (org_id, rule_id, device_id, asset_id, severity, status,
			metric, value, peak, threshold, message, opened_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?) RETURNING `+alertCols,
			a.OrgID, a.RuleID, a.DeviceID, a.AssetID, string(a.Severity), a.Metric, a.Value, peak, a.Threshold,
			a.Message, opened_.UnixMilli(), atMS))
		if err != nil {
			return err
		}
		*a = *got
		opened = true
		a.Appended = &vibemon.AlertEvent{OrgID: a.OrgID, AlertID: a.ID, Kind: vibemon.EventOpened, At: a.OpenedAt}
		return appendEvent(ctx, tx, a.Appended)
	})
	return opened, err
}

// GetAlert returns ENOTFOUND when id is not an alert of orgID.
func (s *Store) GetAlert(ctx context.Context, orgID, id int64) (*vibemon.Alert, error) {
	a, err := scanAlert(s.rdb.QueryRowContext(ctx, "SELECT "+alertCols+" FROM alerts WHERE org_id = ? AND id = ?", orgID, id))
	if err == sql.ErrNoRows {
		return nil, mapErr("get alert", notFound("Alert"))
	}
	return a, mapErr("get alert", err)
}

// UnresolvedAlert returns the unresolved alert of (ruleID, deviceID),
// ENOTFOUND when there is none.
func (s *Store) UnresolvedAlert(ctx context.Context, orgID, ruleID, deviceID int64) (*vibemon.Alert, error) {
	a, err := scanAlert(s.rdb.QueryRowContext(ctx, "SELECT "+alertCols+` FROM alerts
		WHERE org_id = ? AND rule_id = ? AND device_id = ? AND status <> 'resolved'`, orgID, ruleID, deviceID))
	if err == sql.ErrNoRows {
		return nil, mapErr("unresolved alert", notFound("Alert"))
	}
	return a, mapErr("unresolved alert", err)
}

// ListAlerts returns the org's alerts newest first. EINVALID for an unknown
// status filter.
func (s *Store) ListAlerts(ctx context.Context, orgID int64, f vibemon.AlertFilter) ([]*vibemon.Alert, error) {
	var where strings.Builder
	args := []any{orgID}
	where.WriteString("org_id = ?")
	switch f.Status {
	case "":
	case vibemon.AlertOpen, vibemon.AlertAcknowledged, vibemon.AlertResolved:
		where.WriteString(" AND status = ?")
		args = append(args, string(f.Status))
	default:
		return nil, vibemon.Errorf(vibemon.EINVALID, "status must be open, acknowledged or resolved.")
	}
	if f.DeviceID != 0 {
		where.WriteString(" AND device_id = ?")
		args = append(args, f.DeviceID)
	}
	if f.AssetID != 0 {
		where.WriteString(" AND asset_id = ?")
		args = append(args, f.AssetID)
	}
	switch {
	case f.AssigneeID != 0 && f.Unassigned:
		return nil, vibemon.Errorf(vibemon.EINVALID, "filter by one assignee or by unassigned, not both.")
	case f.AssigneeID != 0:
		where.WriteString(" AND assignee_id = ?")
		args = append(args, f.AssigneeID)
	case f.Unassigned:
		where.WriteString(" AND assignee_id = 0")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	} else if limit > 1000 {
		limit = 1000
	}
	args = append(args, limit)
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+alertCols+" FROM alerts WHERE "+where.String()+" ORDER BY id DESC LIMIT ?", args...)
	if err != nil {
		return nil, mapErr("list alerts", err)
	}
	defer rows.Close()
	out := []*vibemon.Alert{}
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, mapErr("list alerts", err)
		}
		out = append(out, a)
	}
	return out, mapErr("list alerts", rows.Err())
}

// AckAlert acknowledges an open alert; ECONFLICT when it is not open.
func (s *Store) AckAlert(ctx context.Context, orgID, id, userID int64, comment string, at time.Time) (*vibemon.Alert, error) {
	if len(comment) > vibemon.MaxAlertComment {
		return nil, vibemon.Errorf(vibemon.EINVALID, "comment is longer than %d characters.", vibemon.MaxAlertComment)
	}
	var out *vibemon.Alert
	err := s.writeTx(ctx, "ack alert", func(tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, "SELECT status FROM alerts WHERE org_id = ? AND id = ?", orgID, id).Scan(&status)
		if err == sql.ErrNoRows {
			return notFound("Alert")
		} else if err != nil {
			return err
		}
		if status != string(vibemon.AlertOpen) {
			return vibemon.Errorf(vibemon.ECONFLICT, "The alert is %s, not open.", status)
		}
		out, err = scanAlert(tx.QueryRowContext(ctx, `UPDATE alerts SET status = 'acknowledged', acked_at = ?, acked_by = ?,
			ack_comment = ?, updated_at = ? WHERE id = ? RETURNING `+alertCols, at.UnixMilli(), userID, comment, at.UnixMilli(), id))
		if err != nil {
			return err
		}
		out.Appended = &vibemon.AlertEvent{OrgID: orgID, AlertID: id, Kind: vibemon.EventAcknowledged, At: at,
			UserID: userID, Comment: comment}
		return appendEvent(ctx, tx, out.Appended)
	})
	return out, err
}

// ResolveAlert resolves an unresolved alert (userID 0: automatically);
// ECONFLICT when it is already resolved.
func (s *Store) ResolveAlert(ctx context.Context, orgID, id, userID int64, at time.Time) (*vibemon.Alert, error) {
	var out *vibemon.Alert
	err := s.writeTx(ctx, "resolve alert", func(tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, "SELECT status FROM alerts WHERE org_id = ? AND id = ?", orgID, id).Scan(&status)
		if err == sql.ErrNoRows {
			return notFound("Alert")
		} else if err != nil {
			return err
		}
		if status == string(vibemon.AlertResolved) {
			return vibemon.Errorf(vibemon.ECONFLICT, "The alert is already resolved.")
		}
		out, err = scanAlert(tx.QueryRowContext(ctx, `UPDATE alerts SET status = 'resolved', resolved_at = ?, resolved_by = ?,
			updated_at = ? WHERE id = ? RETURNING `+alertCols, at.UnixMilli(), userID, at.UnixMilli(), id))
		if err != nil {
			return err
		}
		out.Appended = &vibemon.AlertEvent{OrgID: orgID, AlertID: id, Kind: vibemon.EventResolved, At: at, UserID: userID}
		return appendEvent(ctx, tx, out.Appended)
	})
	return out, err
}
