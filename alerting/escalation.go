package alerting

import (
	"time"

	"github.com/vibemon/vibemon"
)

// DueEvents returns the "escalated" and "reminded" events that rule's
// policy makes due for alert a at now, for a store's AddAlertEvent:
//
//   - one "escalated" event for every step above a.EscalationLevel whose
//     AfterMinutes since a.OpenedAt have passed, in level order, each at
//     the time it fell due;
//   - one "reminded" event at the latest multiple of RemindEveryMinutes
//     since a.OpenedAt that has passed, if any. A reminder that fell due
//     while nobody checked is not sent late one by one: only the latest.
//
// Nothing is due for an alert that is not open (acknowledged or resolved).
// The store appends each escalation and each reminder once and refuses
// repeats, so a caller may pass every due event on every run.
func DueEvents(rule *vibemon.Rule, a *vibemon.Alert, now time.Time) []*vibemon.AlertEvent {
	if a.Status != vibemon.AlertOpen || rule == nil {
		return nil
	}
	var out []*vibemon.AlertEvent
	for k := a.EscalationLevel + 1; k <= len(rule.Escalation); k++ {
		due := a.OpenedAt.Add(time.Duration(rule.Escalation[k-1].AfterMinutes) * time.Minute)
		if now.Before(due) {
			break
		}
		out = append(out, &vibemon.AlertEvent{OrgID: a.OrgID, AlertID: a.ID, Kind: vibemon.EventEscalated, At: due, Level: k})
	}
	if rule.RemindEveryMinutes > 0 {
		every := time.Duration(rule.RemindEveryMinutes) * time.Minute
		if n := now.Sub(a.OpenedAt) / every; n >= 1 {
			out = append(out, &vibemon.AlertEvent{OrgID: a.OrgID, AlertID: a.ID, Kind: vibemon.EventReminded, At: a.OpenedAt.Add(n * every)})
		}
	}
	return out
}
