package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
)

const ruleCols = "id, org_id, name, kind, asset_id, device_id, metric, op, threshold, clear, for_seconds, clear_for_seconds, fault, min_confidence, severity, enabled, created_at, remind_every_minutes, escalation, zone, within_days, offline_minutes, conditions, match_mode"

func scanRule(row pgx.Row) (*vibemon.Rule, error) {
	var r vibemon.Rule
	var kind, op, sev string
	var esc, conds []byte
	if err := row.Scan(&r.ID, &r.OrgID, &r.Name, &kind, &r.AssetID, &r.DeviceID, &r.Metric, &op, &r.Threshold, &r.Clear,
		&r.ForSeconds, &r.ClearForSeconds, &r.Fault, &r.MinConfidence, &sev, &r.Enabled, &r.CreatedAt, &r.RemindEveryMinutes, &esc,
		&r.Zone, &r.WithinDays, &r.OfflineMinutes, &conds, &r.Match); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(conds, &r.Conditions); err != nil || r.Conditions == nil {
		r.Conditions = []vibemon.Condition{}
	}
	if err := json.Unmarshal(esc, &r.Escalation); err != nil || r.Escalation == nil {
		r.Escalation = []vibemon.EscalationStep{}
	}
	r.Kind, r.Op, r.Severity, r.CreatedAt = vibemon.RuleKind(kind), vibemon.Op(op), vibemon.Severity(sev), r.CreatedAt.UTC()
	return &r, nil
}

// CreateRule inserts r and sets its ID and CreatedAt. EINVALID when the rule
// is not valid or names an asset or device of another org.
func (s *Store) CreateRule(ctx context.Context, r *vibemon.Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	now := s.nowUTC()
	return s.tx(ctx, "create rule", func(tx pgx.Tx) error {
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
		err = tx.QueryRow(ctx, `INSERT INTO rules (org_id, name, asset_id, device_id, metric, op, threshold, clear, severity, enabled, created_at,
			kind, for_seconds, clear_for_seconds, fault, min_confidence, remind_every_minutes, escalation)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING id`, r.OrgID, r.Name, r.AssetID, r.DeviceID, r.Metric, string(r.Op),
			r.Threshold, r.Clear, string(r.Severity), r.Enabled, now, string(r.Kind), r.ForSeconds, r.ClearForSeconds, r.Fault, r.MinConfidence,
			r.RemindEveryMinutes, esc).Scan(&r.ID)
		r.CreatedAt = now
		if err != nil {
			return err
		}
		return saveRuleKind(ctx, tx, r)
	})
}

// GetRule returns ENOTFOUND when id is not a rule of orgID.
func (s *Store) GetRule(ctx context.Context, orgID, id int64) (*vibemon.Rule, error) {
	r, err := scanRule(s.pool.QueryRow(ctx, "SELECT "+ruleCols+" FROM rules WHERE org_id = $1 AND id = $2", orgID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, mapErr("get rule", notFound("Rule"))
	}
	return r, mapErr("get rule", err)
}

// ListRules returns the org's rules ordered by ID.
func (s *Store) ListRules(ctx context.Context, orgID int64) ([]*vibemon.Rule, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+ruleCols+" FROM rules WHERE org_id = $1 ORDER BY id", orgID)
	if err != nil {
		return nil, mapErr("list rules", err)
	}
	out, err := collect(rows, scanRule)
	return out, mapErr("list rules", err)
}

// UpdateRule saves every field a user sets; ENOTFOUND as GetRule, EINVALID
// as CreateRule.
func (s *Store) UpdateRule(ctx context.Context, r *vibemon.Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return s.tx(ctx, "update rule", func(tx pgx.Tx) error {
		var ok bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM rules WHERE org_id = $1 AND id = $2)", r.OrgID, r.ID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
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
		err = tx.QueryRow(ctx, `UPDATE rules SET name = $1, asset_id = $2, device_id = $3, metric = $4, op = $5, threshold = $6,
			clear = $7, severity = $8, enabled = $9, kind = $12, for_seconds = $13, clear_for_seconds = $14, fault = $15,
			min_confidence = $16, remind_every_minutes = $17, escalation = $18 WHERE org_id = $10 AND id = $11 RETURNING created_at`,
			r.Name, r.AssetID, r.DeviceID, r.Metric, string(r.Op), r.Threshold, r.Clear, string(r.Severity), r.Enabled,
			r.OrgID, r.ID, string(r.Kind), r.ForSeconds, r.ClearForSeconds, r.Fault, r.MinConfidence, r.RemindEveryMinutes, esc).Scan(&r.CreatedAt)
		r.CreatedAt = r.CreatedAt.UTC()
		if err != nil {
			return err
		}
		return saveRuleKind(ctx, tx, r)
	})
}

// DeleteRule removes the rule; its alerts stay for the record. ENOTFOUND as
// GetRule.
func (s *Store) DeleteRule(ctx context.Context, orgID, id int64) error {
	return s.tx(ctx, "delete rule", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM rules WHERE org_id = $1 AND id = $2", orgID, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("Rule")
		}
		return nil
	})
}

const alertCols = `id, org_id, rule_id, device_id, asset_id, severity, status, metric, value, peak, threshold, message,
	opened_at, updated_at, acked_at, acked_by, ack_comment, resolved_at, resolved_by, assignee_id, escalation_level`

func scanAlert(row pgx.Row) (*vibemon.Alert, error) {
	var a vibemon.Alert
	var sev, status string
	if err := row.Scan(&a.ID, &a.OrgID, &a.RuleID, &a.DeviceID, &a.AssetID, &sev, &status, &a.Metric, &a.Value, &a.Peak,
		&a.Threshold, &a.Message, &a.OpenedAt, &a.UpdatedAt, &a.AckedAt, &a.AckedBy, &a.AckComment, &a.ResolvedAt, &a.ResolvedBy,
		&a.AssigneeID, &a.EscalationLevel); err != nil {
		return nil, err
	}
	a.Severity, a.Status = vibemon.Severity(sev), vibemon.AlertStatus(status)
	a.OpenedAt, a.UpdatedAt = a.OpenedAt.UTC(), a.UpdatedAt.UTC()
	a.AckedAt, a.ResolvedAt = utcPtr(a.AckedAt), utcPtr(a.ResolvedAt)
	return &a, nil
}

// UpsertAlert opens a new alert for (a.RuleID, a.DeviceID), or, when one is
// unresolved, updates its Value, Peak (the worst of the stored peak, a.Peak
// and a.Value) and UpdatedAt. It fills a with the stored alert. EINVALID
// when the rule or device is not the org's. Concurrent upserts of one
// (rule, device) open one alert: the partial unique index decides, and the
// loser updates the winner's alert.
func (s *Store) UpsertAlert(ctx context.Context, a *vibemon.Alert) (bool, error) {
	if err := a.Validate(); err != nil {
		return false, err
	}
	at := a.UpdatedAt
	if at.IsZero() {
		at = s.now()
	}
	at = utc(at)
	in := *a
	opened := false
	err := s.tx(ctx, "upsert alert", func(tx pgx.Tx) error {
		opened = false
		for {
			cur, err := scanAlert(tx.QueryRow(ctx, "SELECT "+alertCols+` FROM alerts
				WHERE org_id = $1 AND rule_id = $2 AND device_id = $3 AND status <> 'resolved' FOR UPDATE`, in.OrgID, in.RuleID, in.DeviceID))
			if err == nil {
				peak := vibemon.WorsePeak(cur.Threshold, cur.Peak, in.Value)
				if !math.IsNaN(in.Peak) {
					peak = vibemon.WorsePeak(cur.Threshold, peak, in.Peak)
				}
				got, err := scanAlert(tx.QueryRow(ctx, `UPDATE alerts SET value = $1, peak = $2, updated_at = $3
					WHERE id = $4 RETURNING `+alertCols, in.Value, peak, at, cur.ID))
				if err != nil {
					return err
				}
				*a = *got
				return nil
			} else if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			var ok bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM rules WHERE org_id = $1 AND id = $2)", in.OrgID, in.RuleID).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return vibemon.Errorf(vibemon.EINVALID, "rule_id %d is not a rule of this organization.", in.RuleID)
			}
			var assetID int64
			err = tx.QueryRow(ctx, "SELECT coalesce(asset_id, 0) FROM devices WHERE org_id = $1 AND id = $2", in.OrgID, in.DeviceID).Scan(&assetID)
			if errors.Is(err, pgx.ErrNoRows) {
				return vibemon.Errorf(vibemon.EINVALID, "device_id %d is not a device of this organization.", in.DeviceID)
			} else if err != nil {
				return err
			}
			if in.AssetID != 0 {
				assetID = in.AssetID
			}
			peak := in.Value
			if !math.IsNaN(in.Peak) {
				peak = vibemon.WorsePeak(in.Threshold, peak, in.Peak)
			}
			openedAt := in.OpenedAt
			if openedAt.IsZero() {
				openedAt = at
			}
			got, err := scanAlert(tx.QueryRow(ctx, `INSERT INTO alerts (org_id, rule_id, device_id, asset_id, severity, status,
				metric, value, peak, threshold, message, opened_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9, $10, $11, $12)
				ON CONFLICT (rule_id, device_id) WHERE status <> 'resolved' DO NOTHING RETURNING `+alertCols,
				in.OrgID, in.RuleID, in.DeviceID, assetID, string(in.Severity), in.Metric, in.Value, peak, in.Threshold,
				in.Message, utc(openedAt), at))
			if errors.Is(err, pgx.ErrNoRows) {
				continue // another upsert opened it first: update theirs
			} else if err != nil {
				return err
			}
			*a = *got
			opened = true
			a.Appended = &vibemon.AlertEvent{OrgID: a.OrgID, AlertID: a.ID, Kind: vibemon.EventOpened, At: a.OpenedAt}
			return appendEvent(ctx, tx, a.Appended)
		}
	})
	return opened, err
}

// GetAlert returns ENOTFOUND when id is not an alert of orgID.
func (s *Store) GetAlert(ctx context.Context, orgID, id int64) (*vibemon.Alert, error) {
	a, err := scanAlert(s.pool.QueryRow(ctx, "SELECT "+alertCols+" FROM alerts WHERE org_id = $1 AND id = $2", orgID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, mapErr("get alert", notFound("Alert"))
	}
	return a, mapErr("get alert", err)
}

// UnresolvedAlert returns the unresolved alert of (ruleID, deviceID),
// ENOTFOUND when there is none.
func (s *Store) UnresolvedAlert(ctx context.Context, orgID, ruleID, deviceID int64) (*vibemon.Alert, error) {
	a, err := scanAlert(s.pool.QueryRow(ctx, "SELECT "+alertCols+` FROM alerts
		WHERE org_id = $1 AND rule_id = $2 AND device_id = $3 AND status <> 'resolved'`, orgID, ruleID, deviceID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, mapErr("unresolved alert", notFound("Alert"))
	}
	return a, mapErr("unresolved alert", err)
}

// ListAlerts returns the org's alerts newest first. EINVALID for an unknown
// status filter.
func (s *Store) ListAlerts(ctx context.Context, orgID int64, f vibemon.AlertFilter) ([]*vibemon.Alert, error) {
	var where strings.Builder
	args := []any{orgID}
	where.WriteString("org_id = $1")
	add := func(cond string, v any) {
		args = append(args, v)
		where.WriteString(" AND " + cond + " = $" + strconv.Itoa(len(args)))
	}
	switch f.Status {
	case "":
	case vibemon.AlertOpen, vibemon.AlertAcknowledged, vibemon.AlertResolved:
		add("status", string(f.Status))
	default:
		return nil, vibemon.Errorf(vibemon.EINVALID, "status must be open, acknowledged or resolved.")
	}
	if f.DeviceID != 0 {
		add("device_id", f.DeviceID)
	}
	if f.AssetID != 0 {
		add("asset_id", f.AssetID)
	}
	switch {
	case f.AssigneeID != 0 && f.Unassigned:
		return nil, vibemon.Errorf(vibemon.EINVALID, "filter by one assignee or by unassigned, not both.")
	case f.AssigneeID != 0:
		add("assignee_id", f.AssigneeID)
	case f.Unassigned:
		add("assignee_id", int64(0))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	} else if limit > 1000 {
		limit = 1000
	}
	args = append(args, limit)
	rows, err := s.pool.Query(ctx, "SELECT "+alertCols+" FROM alerts WHERE "+where.String()+
		" ORDER BY id DESC LIMIT $"+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, mapErr("list alerts", err)
	}
	out, err := collect(rows, scanAlert)
	return out, mapErr("list alerts", err)
}

// AckAlert acknowledges an open alert; ECONFLICT when it is not open,
// ENOTFOUND when id is not an alert of orgID.
func (s *Store) AckAlert(ctx context.Context, orgID, id, userID int64, comment string, at time.Time) (*vibemon.Alert, error) {
	if len(comment) > vibemon.MaxAlertComment {
		return nil, vibemon.Errorf(vibemon.EINVALID, "comment is longer than %d characters.", vibemon.MaxAlertComment)
	}
	var out *vibemon.Alert
	err := s.tx(ctx, "ack alert", func(tx pgx.Tx) error {
		var status string
		err := tx.QueryRow(ctx, "SELECT status FROM alerts WHERE org_id = $1 AND id = $2 FOR UPDATE", orgID, id).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("Alert")
		} else if err != nil {
			return err
		}
		if status != string(vibemon.AlertOpen) {
			return vibemon.Errorf(vibemon.ECONFLICT, "The alert is %s, not open.", status)
		}
		out, err = scanAlert(tx.QueryRow(ctx, `UPDATE alerts SET status = 'acknowledged', acked_at = $1, acked_by = $2,
			ack_comment = $3, updated_at = $1 WHERE id = $4 RETURNING `+alertCols, utc(at), userID, comment, id))
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
// ECONFLICT when it is already resolved, ENOTFOUND as AckAlert.
func (s *Store) ResolveAlert(ctx context.Context, orgID, id, userID int64, at time.Time) (*vibemon.Alert, error) {
	var out *vibemon.Alert
	err := s.tx(ctx, "resolve alert", func(tx pgx.Tx) error {
		var status string
		err := tx.QueryRow(ctx, "SELECT status FROM alerts WHERE org_id = $1 AND id = $2 FOR UPDATE", orgID, id).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("Alert")
		} else if err != nil {
			return err
		}
		if status == string(vibemon.AlertResolved) {
			return vibemon.Errorf(vibemon.ECONFLICT, "The alert is already resolved.")
		}
		out, err = scanAlert(tx.QueryRow(ctx, `UPDATE alerts SET status = 'resolved', resolved_at = $1, resolved_by = $2,
			updated_at = $1 WHERE id = $3 RETURNING `+alertCols, utc(at), userID, id))
		if err != nil {
			return err
		}
		out.Appended = &vibemon.AlertEvent{OrgID: orgID, AlertID: id, Kind: vibemon.EventResolved, At: at, UserID: userID}
		return appendEvent(ctx, tx, out.Appended)
	})
	return out, err
}
