package alerting_test

import (
	"context"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/alerting"
)

// TestEvaluateReturnsEveryTimelineEvent: a batch in which an alert opens,
// is updated and resolves returns the opened event and the resolved event
// (so live clients hear of both), and the alert's timeline in the store
// says the same, with the reading times.
func TestEvaluateReturnsEveryTimelineEvent(t *testing.T) {
	f := newFixture(t)
	changed := f.feed(t, f.dev, 0, 5.0, 6.0, 3.0)
	var kinds []vibemon.AlertEventKind
	for _, a := range changed {
		if a.Appended != nil {
			kinds = append(kinds, a.Appended.Kind)
		}
	}
	if len(kinds) != 2 || kinds[0] != vibemon.EventOpened || kinds[1] != vibemon.EventResolved {
		t.Fatalf("events of the batch = %v, want [opened resolved]", kinds)
	}
	if first := changed[0]; first.Status != vibemon.AlertOpen || first.Value != 5 {
		t.Errorf("opened entry = %+v, want the alert as it opened", first)
	}
	if last := changed[len(changed)-1]; last.Status != vibemon.AlertResolved || last.Peak != 6 {
		t.Errorf("last entry = %+v, want the resolved alert with peak 6", last)
	}
	es, err := f.store.ListAlertEvents(context.Background(), f.org.ID, changed[0].ID)
	must(t, err)
	if len(es) != 2 || !es[0].At.Equal(f.t0) || !es[1].At.Equal(f.t0.Add(2*time.Second)) || es[1].UserID != 0 {
		t.Errorf("timeline = %+v %+v, want opened at the first reading, resolved by the system at the third", es[0], es[1])
	}
	// Opening and updating in one batch: one entry, the latest state with
	// the opened event; later updates append nothing.
	changed = f.feed(t, f.dev, 10, 5.0, 5.2)
	if len(changed) != 1 || changed[0].Appended == nil || changed[0].Appended.Kind != vibemon.EventOpened || changed[0].Value != 5.2 {
		t.Errorf("open and update in one batch = %d entries, want one with the opened event and value 5.2", len(changed))
	}
	changed = f.feed(t, f.dev, 12, 5.5, 5.8)
	if len(changed) != 1 || changed[0].Appended != nil {
		t.Errorf("an update = %d entries, want one without an event", len(changed))
	}
}

// TestDueEvents checks the schedule of reminders and escalation steps.
func TestDueEvents(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rule := &vibemon.Rule{RemindEveryMinutes: 10, Escalation: []vibemon.EscalationStep{{AfterMinutes: 15}, {AfterMinutes: 45}}}
	a := &vibemon.Alert{ID: 1, OrgID: 2, Status: vibemon.AlertOpen, OpenedAt: t0}
	cases := []struct {
		at    time.Duration
		level int
		want  string
	}{
		{9 * time.Minute, 0, ""},
		{10 * time.Minute, 0, "reminded@10m0s"},
		{14*time.Minute + 59*time.Second, 0, "reminded@10m0s"},
		{15 * time.Minute, 0, "escalated1@15m0s reminded@10m0s"},
		{15 * time.Minute, 1, "reminded@10m0s"},
		{50 * time.Minute, 0, "escalated1@15m0s escalated2@45m0s reminded@50m0s"},
		{3 * time.Hour, 2, "reminded@3h0m0s"},
	}
	for _, c := range cases {
		a.EscalationLevel = c.level
		got := ""
		for _, e := range alerting.DueEvents(rule, a, t0.Add(c.at)) {
			if got != "" {
				got += " "
			}
			got += string(e.Kind)
			if e.Level > 0 {
				got += string(rune('0' + e.Level))
			}
			got += "@" + e.At.Sub(t0).String()
		}
		if got != c.want {
			t.Errorf("at +%v, level %d: due %q, want %q", c.at, c.level, got, c.want)
		}
	}
	a.Status = vibemon.AlertAcknowledged
	if due := alerting.DueEvents(rule, a, t0.Add(time.Hour)); len(due) != 0 {
		t.Errorf("acknowledged alert: %d events due, want none", len(due))
	}
}
