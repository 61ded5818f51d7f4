package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/inproc"
)

func TestAssetsAndDevices(t *testing.T) {
	pres := inproc.NewPresence(inproc.PresenceConfig{TTL: time.Minute})
	e := newTestEnv(t, func(c *Config) { c.Presence = pres })
	a := e.newTenant(t, "acme")
	tok := a.token(vibemon.RoleEngineer)

	var as vibemon.Asset
	e.do(t, request{method: "POST", path: "/api/v1/assets", token: tok, body: map[string]any{"name": " Fan 2 ", "type": "fan", "rpm": 2950, "iso_group": 2, "foundation": "flexible", "bearing": "6205"}}).
		wantStatus(t, 201).decode(t, &as)
	if as.ID == 0 || as.Name != "Fan 2" || as.OrgID != a.org.ID || as.CreatedAt.IsZero() {
		t.Fatalf("created asset = %+v", as)
	}
	e.do(t, request{method: "PATCH", path: fmt.Sprintf("/api/v1/assets/%d", as.ID), token: tok, body: map[string]any{"rpm": 1490}}).
		wantStatus(t, 200).decode(t, &as)
	if as.RPM != 1490 || as.Bearing != "6205" {
		t.Errorf("patched asset = %+v, want rpm 1490 and the bearing kept", as)
	}
	for _, tt := range []struct{ body, names string }{
		{`{"name":"x","iso_group":3,"foundation":"rigid"}`, "iso_group"},
		{`{"name":"x","iso_group":"2","foundation":"rigid"}`, "iso_group"},
		{`{"name":"x","iso_group":1,"foundation":"rigid","id":5}`, "id"},
		{`{"iso_group":1,"foundation":"rigid"}`, "name"},
	} {
		d := e.do(t, request{method: "POST", path: "/api/v1/assets", token: tok, body: tt.body}).wantError(t, vibemon.EINVALID)
		if !strings.Contains(d.Message, tt.names) {
			t.Errorf("POST /assets %s: message %q does not name %q", tt.body, d.Message, tt.names)
		}
	}

	// Registration is idempotent on the serial.
	var d1, d2 deviceJSON
	body := map[string]any{"serial": "AA:BB:CC", "name": "NDE", "asset_id": as.ID, "firmware_version": "1.0.0"}
	e.do(t, request{method: "POST", path: "/api/v1/devices", token: tok, body: body}).wantStatus(t, 201).decode(t, &d1)
	e.do(t, request{method: "POST", path: "/api/v1/devices", token: tok, body: body}).wantStatus(t, 200).decode(t, &d2)
	if d1.ID == 0 || d1.ID != d2.ID || d1.Online {
		t.Fatalf("register twice: %+v then %+v", d1.Device, d2.Device)
	}
	if _, err := pres.Touch(context.Background(), a.org.ID, d1.ID, testNow); err != nil {
		t.Fatal(err)
	}
	var ds items[deviceJSON]
	e.do(t, request{method: "GET", path: fmt.Sprintf("/api/v1/assets/%d/devices", as.ID), token: tok}).wantStatus(t, 200).decode(t, &ds)
	if len(ds.Items) != 1 || ds.Items[0].ID != d1.ID || !ds.Items[0].Online {
		t.Fatalf("asset devices = %+v, want the new device, online", ds.Items)
	}
	e.do(t, request{method: "PATCH", path: fmt.Sprintf("/api/v1/devices/%d", d1.ID), token: tok, body: map[string]any{"asset_id": 0, "name": "spare"}}).
		wantStatus(t, 200).decode(t, &d2)
	if d2.AssetID != 0 || d2.Name != "spare" || d2.FirmwareVersion != "1.0.0" {
		t.Errorf("patched device = %+v", d2.Device)
	}
	e.do(t, request{method: "PATCH", path: fmt.Sprintf("/api/v1/devices/%d", d1.ID), token: tok, body: map[string]any{"serial": "other"}}).wantError(t, vibemon.EINVALID)
	e.do(t, request{method: "GET", path: fmt.Sprintf("/api/v1/devices/%d/latest", d1.ID), token: tok}).wantError(t, vibemon.ENOTFOUND)
	e.do(t, request{method: "DELETE", path: fmt.Sprintf("/api/v1/devices/%d", d1.ID), token: tok}).wantStatus(t, 204)
	e.do(t, request{method: "GET", path: fmt.Sprintf("/api/v1/devices/%d", d1.ID), token: tok}).wantError(t, vibemon.ENOTFOUND)
	e.do(t, request{method: "DELETE", path: fmt.Sprintf("/api/v1/assets/%d", as.ID), token: tok}).wantStatus(t, 204)
	e.do(t, request{method: "GET", path: "/api/v1/assets/x", token: tok}).wantError(t, vibemon.EINVALID)
}

// recordingBus keeps published events.
type recordingBus struct {
	mu     sync.Mutex
	events []vibemon.Event
}

func (b *recordingBus) Publish(_ context.Context, evs ...vibemon.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, evs...)
	return nil
}

func (b *recordingBus) Subscribe(func(vibemon.Event)) func() { return func() {} }

func TestRulesAndAlerts(t *testing.T) {
	bus := &recordingBus{}
	e := newTestEnv(t, func(c *Config) { c.Bus = bus })
	a := e.newTenant(t, "acme")
	tok := a.token(vibemon.RoleEngineer)

	var r vibemon.Rule
	e.do(t, request{method: "POST", path: "/api/v1/alert-rules", token: tok, body: map[string]any{"name": "hot", "device_id": a.device.ID, "metric": "temp_c", "op": "above", "threshold": 80, "severity": "critical"}}).
		wantStatus(t, 201).decode(t, &r)
	if !r.Enabled || r.Clear != 80 || r.OrgID != a.org.ID {
		t.Fatalf("created rule = %+v, want enabled with clear = threshold", r)
	}
	e.do(t, request{method: "PATCH", path: fmt.Sprintf("/api/v1/alert-rules/%d", r.ID), token: tok, body: map[string]any{"threshold": 85}}).
		wantStatus(t, 200).decode(t, &r)
	if r.Threshold != 85 || r.Clear != 85 {
		t.Errorf("patched rule = %+v, want clear to follow threshold 85", r)
	}
	e.do(t, request{method: "PATCH", path: fmt.Sprintf("/api/v1/alert-rules/%d", r.ID), token: tok, body: map[string]any{"clear": 90}}).wantError(t, vibemon.EINVALID)
	e.do(t, request{method: "POST", path: "/api/v1/alert-rules", token: tok, body: map[string]any{"name": "x", "metric": "speed", "op": "above", "threshold": 1, "severity": "info"}}).wantError(t, vibemon.EINVALID)
	e.do(t, request{method: "DELETE", path: fmt.Sprintf("/api/v1/alert-rules/%d", r.ID), token: tok}).wantStatus(t, 204)

	var list items[vibemon.Alert]
	e.do(t, request{method: "GET", path: "/api/v1/alerts?status=open", token: a.token(vibemon.RoleViewer)}).wantStatus(t, 200).decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != a.alert.ID {
		t.Fatalf("open alerts = %+v", list.Items)
	}
	e.do(t, request{method: "GET", path: "/api/v1/alerts?status=closed", token: tok}).wantError(t, vibemon.EINVALID)
	path := fmt.Sprintf("/api/v1/alerts/%d", a.alert.ID)
	var al vibemon.Alert
	e.do(t, request{method: "POST", path: path + "/ack", token: tok, body: map[string]string{"comment": "on it"}}).wantStatus(t, 200).decode(t, &al)
	if al.Status != vibemon.AlertAcknowledged || al.AckComment != "on it" || al.AckedBy != a.users[vibemon.RoleEngineer].ID {
		t.Errorf("acked alert = %+v", al)
	}
	e.do(t, request{method: "POST", path: path + "/ack", token: tok}).wantError(t, vibemon.ECONFLICT)
	e.do(t, request{method: "POST", path: path + "/resolve", token: tok}).wantStatus(t, 200).decode(t, &al)
	if al.Status != vibemon.AlertResolved || al.ResolvedAt == nil {
		t.Errorf("resolved alert = %+v", al)
	}
	e.do(t, request{method: "POST", path: path + "/resolve", token: tok}).wantError(t, vibemon.ECONFLICT)
	bus.mu.Lock()
	defer bus.mu.Unlock()
	if len(bus.events) != 2 || bus.events[0].Type != vibemon.EventAlert || bus.events[0].OrgID != a.org.ID || !bytes.Contains(bus.events[1].Data, []byte(`"resolved"`)) {
		t.Errorf("published %+v, want two alert events of org A", bus.events)
	}
}

func TestOperations(t *testing.T) {
	var ready error
	mounted := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
	}
	e := newTestEnv(t, func(c *Config) {
		c.Ready = func(context.Context) error { return ready }
		c.Live, c.Web = mounted("live"), mounted("web")
	})
	a := e.newTenant(t, "acme")
	if res := e.do(t, request{method: "GET", path: "/healthz"}).wantStatus(t, 200); string(res.body) != "ok\n" {
		t.Errorf("healthz body %q", res.body)
	}
	e.do(t, request{method: "GET", path: "/readyz"}).wantStatus(t, 200)
	ready = errors.New("disk on fire")
	if res := e.do(t, request{method: "GET", path: "/readyz"}); bytes.Contains(res.body, []byte("fire")) {
		t.Errorf("readyz leaks the error: %s", res.body)
	} else {
		res.wantError(t, vibemon.EUNAVAILABLE)
	}
	e.do(t, request{method: "GET", path: "/api/v1/assets", token: a.token(vibemon.RoleViewer)}).wantStatus(t, 200)
	res := e.do(t, request{method: "GET", path: "/metrics"}).wantStatus(t, 200)
	for _, want := range []string{`vibemon_http_requests_total{method="GET",route="GET /api/v1/assets",status="200"} 1`, "vibemon_http_request_duration_seconds_bucket", "vibemon_readings_accepted_total"} {
		if !bytes.Contains(res.body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	e.do(t, request{method: "GET", path: "/api/v1/nothing", token: a.token(vibemon.RoleViewer)}).wantError(t, vibemon.ENOTFOUND)
	e.do(t, request{method: "PUT", path: "/api/v1/assets", token: a.token(vibemon.RoleViewer)}).wantError(t, vibemon.ENOTFOUND)
	if res := e.do(t, request{method: "GET", path: "/ws/telemetry"}); string(res.body) != "live" {
		t.Errorf("/ws/telemetry served %q, want the Live handler", res.body)
	}
	if res := e.do(t, request{method: "GET", path: "/assets"}); string(res.body) != "web" {
		t.Errorf("/assets served %q, want the Web handler", res.body)
	}
}

func TestInternalErrorsDoNotLeak(t *testing.T) {
	var logs bytes.Buffer
	e := newTestEnv(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	a := e.newTenant(t, "acme")
	e.store.Close() // every store call now fails with an outside error
	res := e.do(t, request{method: "GET", path: "/api/v1/assets", token: a.token(vibemon.RoleViewer)})
	if d := res.wantError(t, vibemon.EINTERNAL); d.Message != "Internal error." {
		t.Errorf("message %q, want the generic one", d.Message)
	}
	if !strings.Contains(logs.String(), "internal error") {
		t.Errorf("the internal error was not logged: %s", logs.String())
	}
}

func TestRecoverPanics(t *testing.T) {
	var logs bytes.Buffer
	s := newServer(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	h := s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("secret detail") }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
	got := response{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
	got.wantError(t, vibemon.EINTERNAL)
	if bytes.Contains(got.body, []byte("secret")) || !strings.Contains(logs.String(), "secret detail") {
		t.Errorf("panic: body %s, logs %s; want it logged, not answered", got.body, logs.String())
	}
}

// TestAlertListAssignee: GET /alerts filters by assignee: "me" for the
// signed-in user, "none", or a user id.
func TestAlertListAssignee(t *testing.T) {
	e := newTestEnv(t)
	a := e.newTenant(t, "acme")
	tok := a.token(vibemon.RoleEngineer)
	var l0 items[vibemon.Alert]
	e.do(t, request{method: "GET", path: "/api/v1/alerts?assignee=none", token: tok}).wantStatus(t, 200).decode(t, &l0)
	if len(l0.Items) != 1 {
		t.Fatalf("unassigned alerts before anyone took one: %d, want 1", len(l0.Items))
	}
	// The engineer takes the alert: it is theirs, nobody else's, and no
	// longer unassigned.
	e.do(t, request{method: "POST", path: fmt.Sprintf("/api/v1/alerts/%d/assign", a.alert.ID), token: tok,
		body: map[string]any{"assignee_id": a.users[vibemon.RoleEngineer].ID}}).wantStatus(t, 200)
	for _, tc := range []struct {
		query, role string
		want        int
	}{
		{"assignee=me", "engineer", 1}, {"assignee=me", "viewer", 0}, {"assignee=none", "viewer", 0},
		{fmt.Sprintf("assignee=%d", a.users[vibemon.RoleEngineer].ID), "viewer", 1},
	} {
		role := vibemon.RoleEngineer
		if tc.role == "viewer" {
			role = vibemon.RoleViewer
		}
		var l items[vibemon.Alert]
		e.do(t, request{method: "GET", path: "/api/v1/alerts?" + tc.query, token: a.token(role)}).wantStatus(t, 200).decode(t, &l)
		if len(l.Items) != tc.want {
			t.Errorf("GET /alerts?%s as %s: %d alerts, want %d", tc.query, tc.role, len(l.Items), tc.want)
		}
	}
	e.do(t, request{method: "GET", path: "/api/v1/alerts?assignee=someone", token: tok}).wantError(t, vibemon.EINVALID)
}
