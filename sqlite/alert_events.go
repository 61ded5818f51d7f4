package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/vibemon/vibemon"
)

// escalationOfOrg checks that every user the rule's escalation names is a
// user of its org and returns the policy as stored (JSON).
func escalationOfOrg(ctx context.Context, tx *sql.Tx, r *vibemon.Rule) (string, error) {
	for _, id := range r.EscalationUserIDs() {
		if err := userOfOrg(ctx, tx, r.OrgID, id, "escalation user_ids"); err != nil {
			return "", err
		}
	}
	b, err := json.Marshal(r.Escalation)
	return string(b), err
}

// userOfOrg is EINVALID when id is not a user of orgID; field names the
// request field in the message.
func userOfOrg(ctx context.Context, tx *sql.Tx, orgID, id int64, field string) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE org_id = ? AND id = ?", orgID, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return vibemon.Errorf(vibemon.EINVALID, "%s: %d is not a user of this organization.", field, id)
	}
	return nil
}

// appendEvent inserts e in tx and sets e.ID. There is one writer
// connection, so ids increase in commit order.
func appendEvent(ctx context.Context, tx *sql.Tx, e *vibemon.AlertEvent) error {
	e.At = e.At.UTC().Truncate(time.Millisecond)
	res, err := tx.ExecContext(ctx, `INSERT INTO alert_events (org_id, alert_id, kind, at, user_id, assignee_id, level, comment)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.OrgID, e.AlertID, string(e.Kind), e.At.UnixMilli(), e.UserID, e.AssigneeID, e.Level, e.Comment)
	if err != nil {
		return err
	}
	e.ID, err = res.LastInsertId()
	return err
}

const eventCols = "id, org_id, alert_id, kind, at, user_id, assignee_id, level, comment"

func scanEvent(row interface{ Scan(...any) error }) (*vibemon.AlertEvent, error) {
	var e vibemon.AlertEvent
	var kind string
	var at int64
	if err := row.Scan(&e.ID, &e.OrgID, &e.AlertID, &kind, &at, &e.UserID, &e.AssigneeID, &e.Level, &e.Comment); err != nil {
		return nil, err
	}
	e.Kind, e.At = vibemon.AlertEventKind(kind), msTime(at)
	return &e, nil
}

func (s *Store) queryEvents(ctx context.Context, op, q string, args ...any) ([]*vibemon.AlertEvent, error) {
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	out := []*vibemon.AlertEvent{}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, e)
	}
	return out, mapErr(op, rows.Err())
}

// AssignAlert sets the alert's assignee (0: nobody) and appends an
// "assigned" event. EINVALID when assigneeID is not a user of orgID,
// ECONFLICT when the alert is resolved, ENOTFOUND as GetAlert.
func (s *Store) AssignAlert(ctx context.Context, orgID, id, assigneeID, byUserID int64, at time.Time) (*vibemon.Alert, error) {
	if assigneeID < 0 {
		return nil, vibemon.Errorf(vibemon.EINVALID, "assignee_id must be a user id, or 0 for nobody.")
	}
	var out *vibemon.Alert
	err := s.writeTx(ctx, "assign alert", func(tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, "SELECT status FROM alerts WHERE org_id = ? AND id = ?", orgID, id).Scan(&status)
		if err == sql.ErrNoRows {
			return notFound("Alert")
		} else if err != nil {
			return err
		}
		if status == string(vibemon.AlertResolved) {
			return vibemon.Errorf(vibemon.ECONFLICT, "The alert is resolved; there is nothing left to assign.")
		}
		if assigneeID != 0 {
			if err := userOfOrg(ctx, tx, orgID, assigneeID, "assignee_id"); err != nil {
				return err
			}
		}
		out, err = scanAlert(tx.QueryRowContext(ctx, `UPDATE alerts SET assignee_id = ?, updated_at = max(updated_at, ?)
			WHERE id = ? RETURNING `+alertCols, assigneeID, at.UnixMilli(), id))
		if err != nil {
			return err
		}
		out.Appended = &vibemon.AlertEvent{OrgID: orgID, AlertID: id, Kind: vibemon.EventAssigned, At: at,
			UserID: byUserID, AssigneeID: assigneeID}
		return appendEvent(ctx, tx, out.Appended)
	})
	return out, err
}

// AddAlertEvent appends a "commented", "reminded" or "escalated" event; see
// vibemon.AlertStore.
func (s *Store) AddAlertEvent(ctx context.Context, e *vibemon.AlertEvent) error {
	if err := e.ValidateAdded(); err != nil {
		return err
	}
	e.At = e.At.UTC().Truncate(time.Millisecond)
	return s.writeTx(ctx, "add alert event", func(tx *sql.Tx) error {
		var status string
		var level int
		var reminded sql.NullInt64
		err := tx.QueryRowContext(ctx, "SELECT status, escalation_level, reminded_at FROM alerts WHERE org_id = ? AND id = ?",
			e.OrgID, e.AlertID).Scan(&status, &level, &reminded)
		if err == sql.ErrNoRows {
			return notFound("Alert")
		} else if err != nil {
			return err
		}
		switch e.Kind {
		case vibemon.EventEscalated:
			if status != string(vibemon.AlertOpen) || level >= e.Level {
				return vibemon.Errorf(vibemon.ECONFLICT, "The alert is %s at escalation level %d; it does not escalate to level %d.", status, level, e.Level)
			}
			if _, err := tx.ExecContext(ctx, "UPDATE alerts SET escalation_level = ? WHERE id = ?", e.Level, e.AlertID); err != nil {
				return err
			}
		case vibemon.EventReminded:
			if status != string(vibemon.AlertOpen) || (reminded.Valid && reminded.Int64 >= e.At.UnixMilli()) {
				return vibemon.Errorf(vibemon.ECONFLICT, "The alert is %s or was reminded of at or after %s already.", status, e.At.Format(time.RFC3339))
			}
			if _, err := tx.ExecContext(ctx, "UPDATE alerts SET reminded_at = ? WHERE id = ?", e.At.UnixMilli(), e.AlertID); err != nil {
				return err
			}
		}
		return appendEvent(ctx, tx, e)
	})
}

// ListAlertEvents returns the alert's timeline ordered by id; ENOTFOUND
// when id is not an alert of orgID.
func (s *Store) ListAlertEvents(ctx context.Context, orgID, alertID int64) ([]*vibemon.AlertEvent, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM alerts WHERE org_id = ? AND id = ?", orgID, alertID).Scan(&n); err != nil {
		return nil, mapErr("list alert events", err)
	}
	if n == 0 {
		return nil, mapErr("list alert events", notFound("Alert"))
	}
	return s.queryEvents(ctx, "list alert events", "SELECT "+eventCols+" FROM alert_events WHERE org_id = ? AND alert_id = ? ORDER BY id", orgID, alertID)
}

// AlertEventsAfter returns up to limit events of every org with an id above
// afterID, ordered by id.
func (s *Store) AlertEventsAfter(ctx context.Context, afterID int64, limit int) ([]*vibemon.AlertEvent, error) {
	return s.queryEvents(ctx, "alert events after", "SELECT "+eventCols+" FROM alert_events WHERE id > ? ORDER BY id LIMIT ?", afterID, pageLimit(limit))
}

// DueAlerts returns open alerts of every org whose rule has reminders or an
// escalation policy, by id, after afterID.
func (s *Store) DueAlerts(ctx context.Context, afterID int64, limit int) ([]*vibemon.Alert, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+prefixed("a.", alertCols)+` FROM alerts a JOIN rules r ON r.id = a.rule_id AND r.org_id = a.org_id
		WHERE a.status = 'open' AND a.id > ? AND (r.remind_every_minutes > 0 OR r.escalation <> '[]') ORDER BY a.id LIMIT ?`, afterID, pageLimit(limit))
	if err != nil {
		return nil, mapErr("due alerts", err)
	}
	defer rows.Close()
	out := []*vibemon.Alert{}
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, mapErr("due alerts", err)
		}
		out = append(out, a)
	}
	return out, mapErr("due alerts", rows.Err())
}

// pageLimit is limit within 1..1000, 100 when unset.
func pageLimit(limit int) int {
	if limit <= 0 {
		return 100
	}
	return min(limit, 1000)
}

// prefixed qualifies each column of a comma-separated list with p.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}
