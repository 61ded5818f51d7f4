package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

// snapshot is everything of an org, as JSON, to tell whether it changed.
func (e *testEnv) snapshot(t *testing.T, tn *tenant) string {
	t.Helper()
	ctx := context.Background()
	org := tn.org.ID
	var parts []any
	add := func(v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		parts = append(parts, v)
	}
	add(e.store.GetOrg(ctx, org))
	add(e.store.ListUsers(ctx, org))
	add(e.store.ListAssets(ctx, org))
	add(e.store.ListDevices(ctx, org))
	add(e.store.ListRules(ctx, org))
	add(e.store.ListAlerts(ctx, org, vibemon.AlertFilter{Limit: 1000}))
	add(e.store.ListAlertEvents(ctx, org, tn.alert.ID))
	add(e.store.ListAPIKeys(ctx, org))
	add(e.store.ListMaintenance(ctx, org, 0, time.Time{}))
	add(e.store.ListWebhooks(ctx, org))
	add(e.store.ListNotificationPrefs(ctx, org))
	add(e.store.ListFirmware(ctx, org))
	add(e.store.GetDeviceSettings(ctx, org, tn.device.ID))
	if st, err := e.store.GetOTAStatus(ctx, org, tn.device.ID); vibemon.ErrorCode(err) != vibemon.ENOTFOUND {
		add(st, err)
	}
	for _, r := range []vibemon.Role{vibemon.RoleOwner, vibemon.RoleAdmin, vibemon.RoleEngineer, vibemon.RoleViewer} {
		add(e.store.ListPushTokens(ctx, org, tn.users[r].ID))
	}
	pts, err := e.store.QueryReadings(ctx, org, vibemon.ReadingQuery{DeviceID: tn.device.ID, From: testNow.Add(-48 * time.Hour), To: testNow.Add(2 * time.Hour), Bucket: vibemon.BucketRaw})
	add(fmt.Sprint(pts), err) // NaN does not marshal
	for _, u := range tn.users {
		parts = append(parts, u.PasswordHash)
	}
	b, err := json.Marshal(parts)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return string(b)
}

// TestTenancyWalk calls every route with org A's owner token and org B's
// ids: nothing of B may be seen or changed.
func TestTenancyWalk(t *testing.T) {
	e := newTestEnv(t, withReports)
	a := e.newTenant(t, "acme")
	b := e.newTenant(t, "bravo")
	bKey := &vibemon.APIKey{OrgID: b.org.ID, Name: "bravo gateway", Role: vibemon.RoleEngineer, Prefix: "vmk_bbbb", Hash: vibemon.HashAPIKey("vmk_bravo")}
	if err := e.store.CreateAPIKey(context.Background(), bKey); err != nil {
		t.Fatal(err)
	}
	bWindow := &vibemon.MaintenanceWindow{OrgID: b.org.ID, AssetID: b.asset.ID, From: testNow, To: testNow.Add(time.Hour), Reason: "bravo overhaul"}
	if err := e.store.CreateMaintenance(context.Background(), bWindow); err != nil {
		t.Fatal(err)
	}
	bHook := &vibemon.Webhook{OrgID: b.org.ID, Name: "bravo hook", URL: "https://bravo.test/hook", Secret: "bravo-secret-0123456789", Enabled: true}
	if err := e.store.CreateWebhook(context.Background(), bHook); err != nil {
		t.Fatal(err)
	}
	if err := e.store.AddPushToken(context.Background(), &vibemon.PushToken{OrgID: b.org.ID, UserID: b.users[vibemon.RoleOwner].ID, Token: "bravo-token"}); err != nil {
		t.Fatal(err)
	}
	bFirmware := &vibemon.FirmwareImage{OrgID: b.org.ID, Version: "2.0.0", Hardware: "sim", Signature: strings.Repeat("00", 64), Notes: "bravo build", Data: []byte("bravo image")}
	if err := e.store.CreateFirmware(context.Background(), bFirmware); err != nil {
		t.Fatal(err)
	}
	if err := e.store.PutDeviceSettings(context.Background(), b.org.ID, &vibemon.DeviceSettings{DeviceID: b.device.ID, IntervalS: 30, TargetFirmwareID: bFirmware.ID}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.PutOTAStatus(context.Background(), b.org.ID, &vibemon.OTAStatus{DeviceID: b.device.ID, FirmwareID: bFirmware.ID, State: vibemon.OTAStateTransferring, BytesDone: 3, BytesTotal: 11}); err != nil {
		t.Fatal(err)
	}
	before := e.snapshot(t, b)
	tok := a.token(vibemon.RoleOwner)

	// Routes with an {id}: B's id of the path's kind; a body that would be
	// valid for A.
	idOf := map[string]int64{
		"users": b.users[vibemon.RoleViewer].ID, "assets": b.asset.ID, "devices": b.device.ID,
		"alert-rules": b.rule.ID, "alerts": b.alert.ID, "api-keys": bKey.ID, "webhooks": bHook.ID,
		"firmware": bFirmware.ID,
	}
	bodyOf := map[string]any{
		"PATCH /api/v1/users/{id}":             map[string]any{"name": "pwned", "role": "viewer", "password": "new password"},
		"PATCH /api/v1/assets/{id}":            map[string]any{"name": "pwned"},
		"PATCH /api/v1/webhooks/{id}":          map[string]any{"name": "pwned", "enabled": false},
		"PATCH /api/v1/devices/{id}":           map[string]any{"name": "pwned", "asset_id": a.asset.ID},
		"PATCH /api/v1/alert-rules/{id}":       map[string]any{"name": "pwned", "enabled": false},
		"POST /api/v1/assets/{id}/maintenance": map[string]any{"from": testNow.Format(time.RFC3339), "to": testNow.Add(time.Hour).Format(time.RFC3339), "reason": "pwned"},
		"POST /api/v1/alerts/{id}/ack":         map[string]any{"comment": "pwned"},
		"POST /api/v1/alerts/{id}/assign":      map[string]any{"assignee_id": a.users[vibemon.RoleEngineer].ID},
		"POST /api/v1/alerts/{id}/comments":    map[string]any{"comment": "pwned"},
		"PUT /api/v1/devices/{id}/settings":    map[string]any{"interval_s": 1},
		"POST /api/v1/devices/{id}/ota-status": map[string]any{"state": "failed", "error": "pwned"},
		"POST /api/v1/devices/{id}/gaps":       map[string]any{"gaps": []any{map[string]any{"from_seq": 1, "to_seq": 2, "reason": "queue_full", "at": testNow.Format(time.RFC3339)}}},
	}
	// noB fails when an answer mentions anything of B (every name of B's
	// rows contains "bravo").
	noB := func(t *testing.T, res response) {
		t.Helper()
		if bytes.Contains(bytes.ToLower(res.body), []byte("bravo")) {
			t.Errorf("answer shows org B: %s", res.body)
		}
	}
	ok := func(method, path string, body any, status int) func(t *testing.T) {
		return func(t *testing.T) {
			res := e.do(t, request{method: method, path: path, token: tok, body: body})
			res.wantStatus(t, status)
			noB(t, res)
		}
	}
	// Routes without an {id}: what B's ids in a query or body must do.
	others := map[string]func(t *testing.T){
		"GET /healthz":              ok("GET", "/healthz", nil, 200),
		"GET /readyz":               ok("GET", "/readyz", nil, 200),
		"GET /metrics":              ok("GET", "/metrics", nil, 200),
		"GET /api/v1/openapi.json":  ok("GET", "/api/v1/openapi.json", nil, 200),
		"POST /api/v1/auth/login":   ok("POST", "/api/v1/auth/login", map[string]string{"email": "viewer@bravo.test", "password": "guess"}, 401),
		"POST /api/v1/auth/refresh": ok("POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": "guess"}, 401),
		"POST /api/v1/auth/logout":  ok("POST", "/api/v1/auth/logout", map[string]string{"refresh_token": "guess"}, 204),
		"GET /api/v1/me":            ok("GET", "/api/v1/me", nil, 200),
		"GET /api/v1/orgs/current":  ok("GET", "/api/v1/orgs/current", nil, 200),
		"PATCH /api/v1/orgs/current": func(t *testing.T) {
			var o vibemon.Org
			res := e.do(t, request{method: "PATCH", path: "/api/v1/orgs/current", token: tok, body: map[string]string{"name": "Acme Ltd"}})
			res.wantStatus(t, 200).decode(t, &o)
			if o.ID != a.org.ID {
				t.Errorf("renamed org %d, want A's %d", o.ID, a.org.ID)
			}
		},
		"GET /api/v1/users":            ok("GET", "/api/v1/users", nil, 200),
		"GET /api/v1/me/notifications": ok("GET", "/api/v1/me/notifications", nil, 200),
		"PUT /api/v1/me/notifications": func(t *testing.T) {
			// B's asset cannot be a filter.
			e.do(t, request{method: "PUT", path: "/api/v1/me/notifications", token: tok, body: map[string]any{"channels": []string{"email"}, "asset_ids": []int64{b.asset.ID}}}).
				wantError(t, vibemon.EINVALID)
			ok("PUT", "/api/v1/me/notifications", map[string]any{"channels": []string{"email"}, "min_severity": "critical"}, 200)(t)
		},
		"POST /api/v1/me/telegram-link": ok("POST", "/api/v1/me/telegram-link", nil, 503), // no Telegram in this server
		// No webhook in this server; with one, a code links only the user it
		// was issued to, whoever sends it (telegram_test.go).
		"POST /api/v1/telegram/webhook": ok("POST", "/api/v1/telegram/webhook", map[string]any{"update_id": 1}, 404),
		"POST /api/v1/me/push-tokens": func(t *testing.T) {
			// B's token becomes A's owner's (a device changes hands), which
			// takes it from B: B's snapshot then differs, so use a new one.
			ok("POST", "/api/v1/me/push-tokens", map[string]string{"token": "acme-token"}, 201)(t)
		},
		"DELETE /api/v1/me/push-tokens": func(t *testing.T) {
			e.do(t, request{method: "DELETE", path: "/api/v1/me/push-tokens?token=bravo-token", token: tok}).wantError(t, vibemon.ENOTFOUND)
		},
		"GET /api/v1/webhooks": ok("GET", "/api/v1/webhooks", nil, 200),
		"GET /api/v1/firmware": ok("GET", "/api/v1/firmware", nil, 200),
		"POST /api/v1/firmware": func(t *testing.T) {
			// B's version and hardware are free in A: a new image of A.
			var f vibemon.FirmwareImage
			e.do(t, request{method: "POST", path: "/api/v1/firmware?version=2.0.0&hardware=sim&signature=" + strings.Repeat("00", 64), token: tok, body: []byte("acme image")}).
				wantStatus(t, 201).decode(t, &f)
			if f.OrgID != a.org.ID || f.ID == bFirmware.ID {
				t.Errorf("uploaded %+v, want an image of A", f)
			}
		},
		"POST /api/v1/webhooks": func(t *testing.T) {
			var h vibemon.Webhook
			e.do(t, request{method: "POST", path: "/api/v1/webhooks", token: tok, body: map[string]any{"name": "ops", "url": "https://ops.acme.test/hook"}}).
				wantStatus(t, 201).decode(t, &h)
			if h.OrgID != a.org.ID || len(h.Secret) < 16 {
				t.Errorf("created webhook %+v, want one of A with a generated secret", h)
			}
		},
		"POST /api/v1/users": func(t *testing.T) {
			// E-mails are unique across orgs, so B's is taken.
			e.do(t, request{method: "POST", path: "/api/v1/users", token: tok,
				body: map[string]any{"email": "viewer@bravo.test", "name": "x", "role": "viewer", "password": "long enough"}}).wantError(t, vibemon.ECONFLICT)
		},
		"GET /api/v1/assets": ok("GET", "/api/v1/assets", nil, 200),
		"POST /api/v1/assets": func(t *testing.T) {
			var as vibemon.Asset
			e.do(t, request{method: "POST", path: "/api/v1/assets", token: tok, body: map[string]any{"name": "fan", "iso_group": 1, "foundation": "rigid"}}).
				wantStatus(t, 201).decode(t, &as)
			if as.OrgID != a.org.ID {
				t.Errorf("asset created in org %d, want A's %d", as.OrgID, a.org.ID)
			}
		},
		"GET /api/v1/devices": ok("GET", "/api/v1/devices", nil, 200),
		"POST /api/v1/devices": func(t *testing.T) {
			// B's serial is a new device in A, not B's device.
			var d deviceJSON
			res := e.do(t, request{method: "POST", path: "/api/v1/devices", token: tok, body: map[string]any{"serial": b.device.Serial}})
			res.wantStatus(t, 201).decode(t, &d)
			if d.OrgID != a.org.ID || d.ID == b.device.ID || d.AssetID != 0 {
				t.Errorf("registering B's serial gave %+v", d.Device)
			}
			// B's asset cannot be named.
			e.do(t, request{method: "POST", path: "/api/v1/devices", token: tok, body: map[string]any{"serial": "new-1", "asset_id": b.asset.ID}}).
				wantError(t, vibemon.EINVALID)
		},
		"POST /api/v1/telemetry": func(t *testing.T) {
			var got ingestAnswer
			e.do(t, request{method: "POST", path: "/api/v1/telemetry", token: tok, body: map[string]any{"readings": []any{reading(b.device.ID, 77)}}}).
				wantStatus(t, 200).decode(t, &got)
			if got.Accepted != 0 || len(got.Rejected) != 1 || got.Rejected[0].Code != vibemon.ENOTFOUND {
				t.Errorf("reading for B's device: %+v, want rejected not_found", got)
			}
		},
		"GET /api/v1/alert-rules": ok("GET", "/api/v1/alert-rules", nil, 200),
		"GET /api/v1/api-keys":    ok("GET", "/api/v1/api-keys", nil, 200),
		"POST /api/v1/api-keys": func(t *testing.T) {
			var k struct{ ID int64 }
			e.do(t, request{method: "POST", path: "/api/v1/api-keys", token: tok, body: map[string]any{"name": "gw"}}).wantStatus(t, 201).decode(t, &k)
			keys, err := e.store.ListAPIKeys(context.Background(), a.org.ID)
			if err != nil || len(keys) != 1 || keys[0].ID != k.ID {
				t.Errorf("A's keys after POST = %v (%v), want key %d", keys, err, k.ID)
			}
		},
		"POST /api/v1/alert-rules": func(t *testing.T) {
			for _, ref := range []map[string]any{{"asset_id": b.asset.ID}, {"device_id": b.device.ID}} {
				body := map[string]any{"name": "r", "metric": "temp_c", "op": "above", "threshold": 80, "severity": "info"}
				for k, v := range ref {
					body[k] = v
				}
				e.do(t, request{method: "POST", path: "/api/v1/alert-rules", token: tok, body: body}).wantError(t, vibemon.EINVALID)
			}
			// B's users cannot be named in an escalation.
			e.do(t, request{method: "POST", path: "/api/v1/alert-rules", token: tok, body: map[string]any{"name": "r", "metric": "temp_c",
				"op": "above", "threshold": 80, "severity": "info",
				"escalation": []any{map[string]any{"after_minutes": 5, "user_ids": []int64{b.users[vibemon.RoleOwner].ID}}}}}).wantError(t, vibemon.EINVALID)
		},
		"GET /api/v1/reports/condition": func(t *testing.T) {
			ok("GET", "/api/v1/reports/condition", nil, 200)(t)
			ok("GET", "/api/v1/reports/condition?format=csv", nil, 200)(t)
		},
		"GET /api/v1/alerts": func(t *testing.T) {
			for _, q := range []string{"", fmt.Sprintf("?device_id=%d", b.device.ID), fmt.Sprintf("?asset_id=%d", b.asset.ID)} {
				var got items[vibemon.Alert]
				res := e.do(t, request{method: "GET", path: "/api/v1/alerts" + q, token: tok}).wantStatus(t, 200)
				res.decode(t, &got)
				for _, al := range got.Items {
					if al.OrgID != a.org.ID {
						t.Errorf("GET /alerts%s shows alert %d of org %d", q, al.ID, al.OrgID)
					}
				}
				if q != "" && len(got.Items) != 0 {
					t.Errorf("GET /alerts%s = %d alerts, want none", q, len(got.Items))
				}
			}
		},
	}

	for _, rt := range routes(newServer(e.cfg)) {
		t.Run(rt.pattern, func(t *testing.T) {
			method, path, _ := strings.Cut(rt.pattern, " ")
			if !strings.Contains(path, "{id}") {
				f, ok := others[rt.pattern]
				if !ok {
					t.Fatalf("no tenancy case for %s; add one", rt.pattern)
				}
				f(t)
				return
			}
			kind := strings.Split(strings.TrimPrefix(path, "/api/v1/"), "/")[0]
			id, ok := idOf[kind]
			if !ok {
				t.Fatalf("no B id for %q routes; add one", kind)
			}
			path = strings.Replace(path, "{mid}", fmt.Sprint(bWindow.ID), 1)
			res := e.do(t, request{method: method, path: strings.Replace(path, "{id}", fmt.Sprint(id), 1), token: tok, body: bodyOf[rt.pattern]})
			if res.status != 404 && res.status != 403 {
				t.Fatalf("%s with B's id %d: status %d, want 404 or 403; body %s", rt.pattern, id, res.status, res.body)
			}
			res.wantError(t, map[int]string{404: vibemon.ENOTFOUND, 403: vibemon.EFORBIDDEN}[res.status])
			noB(t, res)
		})
	}
	if after := e.snapshot(t, b); after != before {
		t.Errorf("org B changed:\nbefore %s\nafter  %s", before, after)
	}
}
