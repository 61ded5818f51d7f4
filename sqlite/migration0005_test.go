package sqlite

import (
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

// TestMigration0005GivesOldAlertsTheirTimeline builds a database at schema
// 4 with an open, an acknowledged and a resolved alert, opens it (which
// applies 0005) and checks that each alert's timeline says what its row
// says, with the times and people of the row, in order.
func TestMigration0005GivesOldAlertsTheirTimeline(t *testing.T) {
	path, db, exec := atSchema(t, 5)
	t0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	ms0 := t0.UnixMilli()
	min := int64(time.Minute / time.Millisecond)
	exec("INSERT INTO orgs (id, name, created_at) VALUES (1, 'plant', 0)")
	exec("INSERT INTO devices (id, org_id, serial, name, firmware_version, created_at) VALUES (1, 1, 'n1', '', '', 0)")
	insert := `INSERT INTO alerts (id, org_id, rule_id, device_id, asset_id, severity, status, metric, value, peak, threshold, message,
		opened_at, updated_at, acked_at, acked_by, ack_comment, resolved_at, resolved_by) VALUES (?, 1, ?, 1, 0, 'warning', ?, 'vel_rms_x', 8, 8, 7.1, 'm', ?, ?, ?, ?, ?, ?, ?)`
	exec(insert, 1, 1, "open", ms0, ms0, nil, 0, "", nil, 0)
	exec(insert, 2, 2, "acknowledged", ms0+min, ms0+2*min, ms0+2*min, 7, "on it", nil, 0)
	exec(insert, 3, 3, "resolved", ms0+3*min, ms0+9*min, ms0+4*min, 7, "", ms0+9*min, 0)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openTest(t, path)
	type ev struct {
		kind    vibemon.AlertEventKind
		at      int64 // minutes after t0
		user    int64
		comment string
	}
	want := map[int64][]ev{
		1: {{vibemon.EventOpened, 0, 0, ""}},
		2: {{vibemon.EventOpened, 1, 0, ""}, {vibemon.EventAcknowledged, 2, 7, "on it"}},
		3: {{vibemon.EventOpened, 3, 0, ""}, {vibemon.EventAcknowledged, 4, 7, ""}, {vibemon.EventResolved, 9, 0, ""}},
	}
	for id, w := range want {
		got, err := s.ListAlertEvents(t.Context(), 1, id)
		if err != nil {
			t.Fatal(err)
		}
		ok := len(got) == len(w)
		for i := 0; ok && i < len(w); i++ {
			ok = got[i].Kind == w[i].kind && got[i].At.Equal(t0.Add(time.Duration(w[i].at)*time.Minute)) &&
				got[i].UserID == w[i].user && got[i].Comment == w[i].comment
		}
		if !ok {
			t.Errorf("timeline of alert %d after 0005 = %v, want %v", id, got, w)
		}
	}
	a, err := s.GetAlert(t.Context(), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if a.AssigneeID != 0 || a.EscalationLevel != 0 {
		t.Errorf("old alert after 0005 = %+v, want unassigned at level 0", a)
	}
	// 0006 starts the notification dispatcher after these events: an
	// upgrade must not notify everybody of every old alert.
	events, err := s.AlertEventsAfter(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := s.NotifyCursor(t.Context(), "alert_events")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 6 || cur != events[len(events)-1].ID {
		t.Errorf("notification cursor after the upgrade at %d, want the last of the %d backfilled events", cur, len(events))
	}
}
