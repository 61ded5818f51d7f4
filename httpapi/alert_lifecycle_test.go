package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/inproc"
	"github.com/vibemon/vibemon/ws"
)

// liveAlert is a message of /ws/alerts as a client reads it.
type liveAlert struct {
	Type string `json:"type"`
	Data struct {
		ID         int64               `json:"id"`
		Status     string              `json:"status"`
		AssigneeID int64               `json:"assignee_id"`
		Event      *vibemon.AlertEvent `json:"event"`
	} `json:"data"`
}

// TestAlertLifecycleOverHTTPAndLive walks an alert through assignment,
// comment, acknowledgement and resolution over the API, as an engineer
// would, and checks that the timeline tells the story and that a panel
// connected to /ws/alerts (a real WebSocket client) hears every step, with
// its event, as it happens.
func TestAlertLifecycleOverHTTPAndLive(t *testing.T) {
	bus := inproc.NewBus(inproc.BusConfig{})
	var hub *ws.Hub
	e := newTestEnv(t, func(c *Config) {
		c.Bus = bus
		hub = ws.NewHub(ws.Config{Bus: bus, Verify: func(token string) (int64, int64, error) {
			cl, err := c.Issuer.Verify(token)
			return cl.OrgID, cl.UserID, err
		}, Devices: func(ctx context.Context, orgID, deviceID int64) (int64, error) {
			d, err := c.Store.GetDevice(ctx, orgID, deviceID)
			if err != nil {
				return 0, err
			}
			return d.AssetID, nil
		}})
		c.Live = hub.Handler()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Stop)
	a := e.newTenant(t, "acme")
	eng, viewer := a.users[vibemon.RoleEngineer], a.users[vibemon.RoleViewer]
	tok := a.token(vibemon.RoleEngineer)

	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/ws/alerts?token="+a.token(vibemon.RoleViewer), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	var ready struct{ Type string }
	readJSON(ctx, t, conn, &ready)
	if ready.Type != "ready" {
		t.Fatalf("first message %q, want ready", ready.Type)
	}
	next := func(kind vibemon.AlertEventKind) liveAlert {
		t.Helper()
		var m liveAlert
		readJSON(ctx, t, conn, &m)
		if m.Type != "alert" || m.Data.ID != a.alert.ID || m.Data.Event == nil || m.Data.Event.Kind != kind || m.Data.Event.AlertID != a.alert.ID {
			t.Fatalf("live message = %+v, want alert %d with a %s event", m, a.alert.ID, kind)
		}
		return m
	}
	path := func(action string) string { return fmt.Sprintf("/api/v1/alerts/%d/%s", a.alert.ID, action) }

	// Viewers read the timeline but cannot act.
	e.do(t, request{method: "POST", path: path("comments"), token: a.token(vibemon.RoleViewer), body: map[string]any{"comment": "x"}}).wantError(t, vibemon.EFORBIDDEN)
	e.do(t, request{method: "POST", path: path("assign"), token: a.token(vibemon.RoleViewer), body: map[string]any{"assignee_id": viewer.ID}}).wantError(t, vibemon.EFORBIDDEN)
	// Nobody is assigned who cannot act, nor a stranger, nor nobody by omission.
	e.do(t, request{method: "POST", path: path("assign"), token: tok, body: map[string]any{"assignee_id": viewer.ID}}).wantError(t, vibemon.EINVALID)
	e.do(t, request{method: "POST", path: path("assign"), token: tok, body: map[string]any{"assignee_id": 999999}}).wantError(t, vibemon.EINVALID)
	e.do(t, request{method: "POST", path: path("assign"), token: tok, body: map[string]any{}}).wantError(t, vibemon.EINVALID)
	e.do(t, request{method: "POST", path: path("comments"), token: tok, body: map[string]any{"comment": "   "}}).wantError(t, vibemon.EINVALID)

	var al vibemon.Alert
	e.do(t, request{method: "POST", path: path("assign"), token: tok, body: map[string]any{"assignee_id": eng.ID}}).wantStatus(t, 200).decode(t, &al)
	if al.AssigneeID != eng.ID {
		t.Errorf("assigned alert = %+v, want assignee %d", al, eng.ID)
	}
	if m := next(vibemon.EventAssigned); m.Data.AssigneeID != eng.ID || m.Data.Event.AssigneeID != eng.ID || m.Data.Event.UserID != eng.ID {
		t.Errorf("live assignment = %+v", m)
	}

	var c vibemon.AlertEvent
	e.do(t, request{method: "POST", path: path("comments"), token: tok, body: map[string]any{"comment": "DE bearing housing at 80 °C"}}).wantStatus(t, 201).decode(t, &c)
	if c.Kind != vibemon.EventCommented || c.UserID != eng.ID || c.Comment != "DE bearing housing at 80 °C" || c.ID == 0 {
		t.Errorf("comment = %+v", c)
	}
	if m := next(vibemon.EventCommented); m.Data.Event.ID != c.ID || m.Data.Event.Comment != c.Comment {
		t.Errorf("live comment = %+v, want event %d", m.Data.Event, c.ID)
	}

	e.do(t, request{method: "POST", path: path("ack"), token: tok, body: map[string]any{"comment": "greasing it now"}}).wantStatus(t, 200)
	if m := next(vibemon.EventAcknowledged); m.Data.Status != "acknowledged" || m.Data.Event.Comment != "greasing it now" {
		t.Errorf("live acknowledgement = %+v", m)
	}
	e.do(t, request{method: "POST", path: path("resolve"), token: tok}).wantStatus(t, 200)
	if m := next(vibemon.EventResolved); m.Data.Status != "resolved" || m.Data.Event.UserID != eng.ID {
		t.Errorf("live resolution = %+v", m)
	}
	e.do(t, request{method: "POST", path: path("assign"), token: tok, body: map[string]any{"assignee_id": 0}}).wantError(t, vibemon.ECONFLICT)

	var tl items[vibemon.AlertEvent]
	e.do(t, request{method: "GET", path: path("events"), token: a.token(vibemon.RoleViewer)}).wantStatus(t, 200).decode(t, &tl)
	var got []string
	for _, ev := range tl.Items {
		got = append(got, string(ev.Kind))
	}
	if strings.Join(got, ",") != "opened,assigned,commented,acknowledged,resolved" {
		t.Errorf("timeline = %v", got)
	}
	e.do(t, request{method: "GET", path: "/api/v1/alerts/999999/events", token: tok}).wantError(t, vibemon.ENOTFOUND)
}

// TestRuleEscalationOverHTTP sets, reads, changes and removes a rule's
// reminder and escalation policy, and checks that a bad one is refused
// with a message that says what to fix.
func TestRuleEscalationOverHTTP(t *testing.T) {
	e := newTestEnv(t)
	a := e.newTenant(t, "acme")
	tok := a.token(vibemon.RoleEngineer)
	eng, admin := a.users[vibemon.RoleEngineer], a.users[vibemon.RoleAdmin]
	body := map[string]any{"name": "zone D", "metric": "vel_rms_x", "op": "above", "threshold": 7.1, "severity": "critical",
		"remind_every_minutes": 10,
		"escalation":           []any{map[string]any{"after_minutes": 15, "user_ids": []int64{eng.ID}}, map[string]any{"after_minutes": 45, "user_ids": []int64{admin.ID}}}}
	var r vibemon.Rule
	e.do(t, request{method: "POST", path: "/api/v1/alert-rules", token: tok, body: body}).wantStatus(t, 201).decode(t, &r)
	if r.RemindEveryMinutes != 10 || len(r.Escalation) != 2 || r.Escalation[1].AfterMinutes != 45 || r.Escalation[1].UserIDs[0] != admin.ID {
		t.Fatalf("created rule = %+v", r)
	}
	var got vibemon.Rule
	e.do(t, request{method: "GET", path: fmt.Sprintf("/api/v1/alert-rules/%d", r.ID), token: a.token(vibemon.RoleViewer)}).wantStatus(t, 200).decode(t, &got)
	if got.RemindEveryMinutes != 10 || len(got.Escalation) != 2 {
		t.Errorf("GET rule = %+v", got)
	}
	for name, bad := range map[string]map[string]any{
		"unordered":   {"escalation": []any{map[string]any{"after_minutes": 45, "user_ids": []int64{eng.ID}}, map[string]any{"after_minutes": 15, "user_ids": []int64{admin.ID}}}},
		"no minutes":  {"escalation": []any{map[string]any{"after_minutes": 0, "user_ids": []int64{eng.ID}}}},
		"no users":    {"escalation": []any{map[string]any{"after_minutes": 5, "user_ids": []int64{}}}},
		"stranger":    {"escalation": []any{map[string]any{"after_minutes": 5, "user_ids": []int64{999999}}}},
		"negative":    {"remind_every_minutes": -1},
		"over a week": {"remind_every_minutes": 10081},
	} {
		d := e.do(t, request{method: "PATCH", path: fmt.Sprintf("/api/v1/alert-rules/%d", r.ID), token: tok, body: bad}).wantError(t, vibemon.EINVALID)
		if d.Message == "" {
			t.Errorf("%s: empty message", name)
		}
	}
	e.do(t, request{method: "PATCH", path: fmt.Sprintf("/api/v1/alert-rules/%d", r.ID), token: a.token(vibemon.RoleViewer),
		body: map[string]any{"remind_every_minutes": 0}}).wantError(t, vibemon.EFORBIDDEN)
	e.do(t, request{method: "PATCH", path: fmt.Sprintf("/api/v1/alert-rules/%d", r.ID), token: tok,
		body: map[string]any{"escalation": nil, "remind_every_minutes": 0}}).wantStatus(t, 200).decode(t, &got)
	if got.RemindEveryMinutes != 0 || got.Escalation == nil || len(got.Escalation) != 0 {
		t.Errorf("rule after removing its policy = %+v, want no reminders and escalation []", got)
	}
}

func readJSON(ctx context.Context, t *testing.T, c *websocket.Conn, v any) {
	t.Helper()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read live message: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("live message %s: %v", b, err)
	}
}
