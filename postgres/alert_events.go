package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
)

// alertEventsLockKey is the transaction-level advisory lock every insert
// into alert_events takes just before it. An identity column hands out ids
// in the order transactions ask, not in the order they commit; with the
// lock held from the id's allocation to the commit, ids increase in commit
// order, so a reader of AlertEventsAfter that remembers the last id it saw
// misses no event. It must be the last lock a transaction takes (every
// caller locks the alert row first), so it cannot deadlock. Alert events
// are rare (state changes, not value updates): the serialization is cheap.
const alertEventsLockKey int64 = 0x76626d_0005 // "vbm", migration 0005

// escalationOfOrg checks that every user the rule's escalation names is a
// user of its org and returns the policy as stored (JSON).
func escalationOfOrg(ctx context.Context, tx pgx.Tx, r *vibemon.Rule) ([]byte, error) {
	for _, id := range r.EscalationUserIDs() {
		if err := userOfOrg(ctx, tx, r.OrgID, id, "escalation user_ids"); err != nil {
			return nil, err
		}
	}
	return json.Marshal(r.Escalation)
}

// userOfOrg is EINVALID when id is not a user of orgID; field names the
// request field in the message.
func userOfOrg(ctx context.Context, tx pgx.Tx, orgID, id int64, field string) error {
	var ok bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM users WHERE org_id = $1 AND id = $2)", orgID, id).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return vibemon.Errorf(vibemon.EINVALID, "%s: %d is not a user of this organization.", field, id)
	}
	return nil
}

// appendEvent inserts e in tx and sets e.ID; see alertEventsLockKey. The
// caller holds the lock of e's alert row.
func appendEvent(ctx context.Context, tx pgx.Tx, e *vibemon.AlertEvent) error {
	e.At = utc(e.At)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", alertEventsLockKey); err != nil {
		return err
	}
	return tx.QueryRow(ctx, `INSERT INTO alert_events (org_id, alert_id, kind, at, user_id, assignee_id, level, comment)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, e.OrgID, e.AlertID, string(e.Kind), e.At, e.UserID, e.AssigneeID,
		e.Level, e.Comment).Scan(&e.ID)
}

const eventCols = "id, org_id, alert_id, kind, at, user_id, assignee_id, level, comment"

func scanEvent(row pgx.Row) (*vibemon.AlertEvent, error) {
	var e vibemon.AlertEvent
	var kind string
	if err := row.Scan(&e.ID, &e.OrgID, &e.AlertID, &kind, &e.At, &e.UserID, &e.AssigneeID, &e.Level, &e.Comment); err != nil {
		return nil, err
	}
	e.Kind, e.At = vibemon.AlertEventKind(kind), e.At.UTC()
	return &e, nil
}

// lockAlert locks the alert row and returns its status, escalation level
// and last reminder; ENOTFOUND when id is not an alert of orgID.
func lockAlert(ctx context.Context, tx pgx.Tx, orgID, id int64) (status string, level int, reminded *time.Time, err error) {
	err = tx.QueryRow(ctx, "SELECT status, escalation_level, reminded_at FROM alerts WHERE org_id = $1 AND id = $2 FOR UPDATE",
		orgID, id).Scan(&status, &level, &reminded)
	if errors.Is(err, pgx.ErrNoRows) {
		err = notFound("Alert")
	}
	return status, level, reminded, err
}

// AssignAlert sets the alert's assignee (0: nobody) and appends an
// "assigned" event. EINVALID when assigneeID is not a user of orgID,
// ECONFLICT when the alert is resolved, ENOTFOUND as GetAlert.
func (s *Store) AssignAlert(ctx context.Context, orgID, id, assigneeID, byUserID int64, at time.Time) (*vibemon.Alert, error) {
	if assigneeID < 0 {
		return nil, vibemon.Errorf(vibemon.EINVALID, "assignee_id must be a user id, or 0 for nobody.")
	}
	var out *vibemon.Alert
	err := s.tx(ctx, "assign alert", func(tx pgx.Tx) error {
		status, _, _, err := lockAlert(ctx, tx, orgID, id)
		if err != nil {
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
		out, err = scanAlert(tx.QueryRow(ctx, `UPDATE alerts SET assignee_id = $1, updated_at = greatest(updated_at, $2)
			WHERE id = $3 RETURNING `+alertCols, assigneeID, utc(at), id))
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
	e.At = utc(e.At)
	return s.tx(ctx, "add alert event", func(tx pgx.Tx) error {
		status, level, reminded, err := lockAlert(ctx, tx, e.OrgID, e.AlertID)
		if err != nil {
			return err
		}
		switch e.Kind {
		case vibemon.EventEscalated:
			if status != string(vibemon.AlertOpen) || level >= e.Level {
				return vibemon.Errorf(vibemon.ECONFLICT, "The alert is %s at escalation level %d; it does not escalate to level %d.", status, level, e.Level)
			}
			if _, err := tx.Exec(ctx, "UPDATE alerts SET escalation_level = $1 WHERE id = $2", e.Level, e.AlertID); err != nil {
				return err
			}
		case vibemon.EventReminded:
			if status != string(vibemon.AlertOpen) || (reminded != nil && !reminded.Before(e.At)) {
				return vibemon.Errorf(vibemon.ECONFLICT, "The alert is %s or was reminded of at or after %s already.", status, e.At.Format(time.RFC3339))
			}
			if _, err := tx.Exec(ctx, "UPDATE alerts SET reminded_at = $1 WHERE id = $2", e.At, e.AlertID); err != nil {
				return err
			}
		}
		return appendEvent(ctx, tx, e)
	})
}

// ListAlertEvents returns the alert's timeline ordered by id; ENOTFOUND
// when id is not an alert of orgID.
func (s *Store) ListAlertEvents(ctx context.Context, orgID, alertID int64) ([]*vibemon.AlertEvent, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM alerts WHERE org_id = $1 AND id = $2)", orgID, alertID).Scan(&ok); err != nil {
		return nil, mapErr("list alert events", err)
	}
	if !ok {
		return nil, mapErr("list alert events", notFound("Alert"))
	}
	rows, err := s.pool.Query(ctx, "SELECT "+eventCols+" FROM alert_events WHERE org_id = $1 AND alert_id = $2 ORDER BY id", orgID, alertID)
	if err != nil {
		return nil, mapErr("list alert events", err)
	}
	out, err := collect(rows, scanEvent)
	return out, mapErr("list alert events", err)
}

// AlertEventsAfter returns up to limit events of every org with an id above
// afterID, ordered by id.
func (s *Store) AlertEventsAfter(ctx context.Context, afterID int64, limit int) ([]*vibemon.AlertEvent, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+eventCols+" FROM alert_events WHERE id > $1 ORDER BY id LIMIT $2", afterID, pageLimit(limit))
	if err != nil {
		return nil, mapErr("alert events after", err)
	}
	out, err := collect(rows, scanEvent)
	return out, mapErr("alert events after", err)
}

// DueAlerts returns open alerts of every org whose rule has reminders or an
// escalation policy, by id, after afterID.
func (s *Store) DueAlerts(ctx context.Context, afterID int64, limit int) ([]*vibemon.Alert, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+prefixed("a.", alertCols)+` FROM alerts a JOIN rules r ON r.id = a.rule_id AND r.org_id = a.org_id
		WHERE a.status = 'open' AND a.id > $1 AND (r.remind_every_minutes > 0 OR r.escalation <> '[]'::jsonb) ORDER BY a.id LIMIT $2`,
		afterID, pageLimit(limit))
	if err != nil {
		return nil, mapErr("due alerts", err)
	}
	out, err := collect(rows, scanAlert)
	return out, mapErr("due alerts", err)
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
