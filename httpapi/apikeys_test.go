package httpapi

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

// TestAPIKeyLifecycle: an admin creates a key, the key posts telemetry as
// its org, may not do what needs a person, and stops working once revoked.
func TestAPIKeyLifecycle(t *testing.T) {
	e := newTestEnv(t)
	a := e.newTenant(t, "acme")
	admin := a.token(vibemon.RoleAdmin)

	var created struct {
		ID     int64        `json:"id"`
		Name   string       `json:"name"`
		Role   vibemon.Role `json:"role"`
		Prefix string       `json:"prefix"`
		Key    string       `json:"key"`
	}
	e.do(t, request{method: "POST", path: "/api/v1/api-keys", token: admin, body: map[string]any{"name": " gateway 1 "}}).
		wantStatus(t, 201).decode(t, &created)
	if !strings.HasPrefix(created.Key, "vmk_") || len(created.Key) != 4+43 || created.Prefix != created.Key[:8] ||
		created.Role != vibemon.RoleEngineer || created.Name != "gateway 1" {
		t.Fatalf("created %+v, want an engineer key vmk_+43 chars named %q with its first 8 chars as prefix", created, "gateway 1")
	}

	list := e.do(t, request{method: "GET", path: "/api/v1/api-keys", token: admin}).wantStatus(t, 200)
	if strings.Contains(string(list.body), created.Key[8:]) || strings.Contains(string(list.body), vibemon.HashAPIKey(created.Key)) {
		t.Errorf("GET /api-keys shows the secret or its hash: %s", list.body)
	}
	var keys items[vibemon.APIKey]
	list.decode(t, &keys)
	if len(keys.Items) != 1 || keys.Items[0].ID != created.ID || keys.Items[0].CreatedBy != a.users[vibemon.RoleAdmin].ID {
		t.Errorf("GET /api-keys = %+v, want key %d created by the admin", keys.Items, created.ID)
	}

	key := created.Key
	var got ingestAnswer
	e.do(t, request{method: "POST", path: "/api/v1/telemetry", token: key, body: map[string]any{"readings": []any{reading(a.device.ID, 1001)}}}).
		wantStatus(t, 200).decode(t, &got)
	if got.Accepted != 1 {
		t.Errorf("telemetry with the key: %+v, want 1 accepted", got)
	}
	stored, err := e.store.ListAPIKeys(context.Background(), a.org.ID)
	if err != nil || stored[0].LastUsedAt == nil || !stored[0].LastUsedAt.Equal(testNow) {
		t.Errorf("last_used_at after a use = %v (%v), want %v", stored[0].LastUsedAt, err, testNow)
	}
	e.do(t, request{method: "POST", path: "/api/v1/devices", token: key, body: map[string]any{"serial": "gw-node-2"}}).wantStatus(t, 201)

	for _, tc := range []struct {
		name string
		req  request
		code string
	}{
		{"no ack: needs a person", request{method: "POST", path: "/api/v1/alerts/" + itoa(a.alert.ID) + "/ack"}, vibemon.EFORBIDDEN},
		{"no resolve", request{method: "POST", path: "/api/v1/alerts/" + itoa(a.alert.ID) + "/resolve"}, vibemon.EFORBIDDEN},
		{"no /me", request{method: "GET", path: "/api/v1/me"}, vibemon.EFORBIDDEN},
		{"engineer role: no users", request{method: "POST", path: "/api/v1/users", body: map[string]any{"email": "x@acme.test", "name": "x", "role": "viewer", "password": "long enough"}}, vibemon.EFORBIDDEN},
		{"engineer role: no org rename", request{method: "PATCH", path: "/api/v1/orgs/current", body: map[string]string{"name": "x"}}, vibemon.EFORBIDDEN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.token = key
			e.do(t, tc.req).wantError(t, tc.code)
		})
	}

	// An admin key still may not mint keys.
	var adminKey struct{ Key string }
	e.do(t, request{method: "POST", path: "/api/v1/api-keys", token: admin, body: map[string]any{"name": "ops", "role": "admin"}}).
		wantStatus(t, 201).decode(t, &adminKey)
	e.do(t, request{method: "POST", path: "/api/v1/api-keys", token: adminKey.Key, body: map[string]any{"name": "more"}}).wantError(t, vibemon.EFORBIDDEN)
	e.do(t, request{method: "GET", path: "/api/v1/users", token: adminKey.Key}).wantStatus(t, 200)

	e.do(t, request{method: "DELETE", path: "/api/v1/api-keys/" + itoa(created.ID), token: admin}).wantStatus(t, 204)
	e.do(t, request{method: "DELETE", path: "/api/v1/api-keys/" + itoa(created.ID), token: admin}).wantStatus(t, 204)
	e.do(t, request{method: "POST", path: "/api/v1/telemetry", token: key, body: map[string]any{"readings": []any{reading(a.device.ID, 1002)}}}).
		wantError(t, vibemon.EUNAUTHORIZED)
	e.do(t, request{method: "GET", path: "/api/v1/devices", token: key[:len(key)-1] + "x"}).wantError(t, vibemon.EUNAUTHORIZED)
	e.do(t, request{method: "DELETE", path: "/api/v1/api-keys/999999", token: admin}).wantError(t, vibemon.ENOTFOUND)
	e.do(t, request{method: "POST", path: "/api/v1/api-keys", token: admin, body: map[string]any{"name": ""}}).wantError(t, vibemon.EINVALID)
}

// TestCompletenessRoute: the share of seqs received in the last 24 h, with
// the gaps largest first.
func TestCompletenessRoute(t *testing.T) {
	e := newTestEnv(t)
	a := e.newTenant(t, "acme")
	tok := a.token(vibemon.RoleViewer)
	var rs []any
	for seq := int64(1); seq <= 20; seq++ {
		if seq == 5 || (seq >= 10 && seq <= 12) {
			continue
		}
		rs = append(rs, reading(a.device.ID, seq))
	}
	e.do(t, request{method: "POST", path: "/api/v1/telemetry", token: a.token(vibemon.RoleEngineer), body: map[string]any{"readings": rs}}).wantStatus(t, 200)

	var c vibemon.Completeness
	e.do(t, request{method: "GET", path: "/api/v1/devices/" + itoa(a.device.ID) + "/completeness", token: tok}).wantStatus(t, 200).decode(t, &c)
	want := []vibemon.SeqGap{{FromSeq: 10, ToSeq: 12, Count: 3, Reason: "unexplained"}, {FromSeq: 5, ToSeq: 5, Count: 1, Reason: "unexplained"}}
	if c.Received != 16 || c.Expected != 20 || c.Percent != 80 || c.GapCount != 2 || len(c.Gaps) != 2 || c.Gaps[0] != want[0] || c.Gaps[1] != want[1] ||
		!c.To.Equal(testNow) || !c.From.Equal(testNow.Add(-24*60*60*1e9)) {
		t.Errorf("completeness = %+v, want 16 of 20 (80%%), gaps %v, over the 24 h before now", c, want)
	}

	// A gateway reports why 10..12 are missing (with a key, as gateways do;
	// twice, as a retry would): the hole is explained, 5 stays unexplained.
	key, hash := vibemon.NewAPIKey()
	if err := e.store.CreateAPIKey(context.Background(), &vibemon.APIKey{OrgID: a.org.ID, Name: "gw", Role: vibemon.RoleEngineer, Prefix: key[:8], Hash: hash, CreatedBy: a.users[vibemon.RoleAdmin].ID}); err != nil {
		t.Fatal(err)
	}
	report := map[string]any{"gaps": []any{map[string]any{"from_seq": 10, "to_seq": 12, "reason": "queue_full", "at": testNow.Format(time.RFC3339)}}}
	var ans struct{ Stored, Duplicates int }
	e.do(t, request{method: "POST", path: "/api/v1/devices/" + itoa(a.device.ID) + "/gaps", token: key, body: report}).wantStatus(t, 200).decode(t, &ans)
	if ans.Stored != 1 || ans.Duplicates != 0 {
		t.Errorf("first report: %+v, want 1 stored", ans)
	}
	e.do(t, request{method: "POST", path: "/api/v1/devices/" + itoa(a.device.ID) + "/gaps", token: key, body: report}).wantStatus(t, 200).decode(t, &ans)
	if ans.Stored != 0 || ans.Duplicates != 1 {
		t.Errorf("retried report: %+v, want 1 duplicate", ans)
	}
	e.do(t, request{method: "GET", path: "/api/v1/devices/" + itoa(a.device.ID) + "/completeness", token: tok}).wantStatus(t, 200).decode(t, &c)
	if c.Explained != 3 || c.Unexplained != 1 || c.AccountedPercent != 95 || c.Lost["queue_full"] != 3 || c.Gaps[0].Reason != "queue_full" || c.Gaps[1].Reason != "unexplained" {
		t.Errorf("after the report: %+v, want 10..12 explained as queue_full, 5 unexplained, 95 %% accounted for", c)
	}
	for _, bad := range []any{map[string]any{"gaps": []any{}}, map[string]any{"gaps": []any{map[string]any{"from_seq": 3, "to_seq": 2, "reason": "queue_full", "at": testNow.Format(time.RFC3339)}}},
		map[string]any{"gaps": []any{map[string]any{"from_seq": 1, "to_seq": 2, "reason": "gremlins", "at": testNow.Format(time.RFC3339)}}}} {
		e.do(t, request{method: "POST", path: "/api/v1/devices/" + itoa(a.device.ID) + "/gaps", token: key, body: bad}).wantError(t, vibemon.EINVALID)
	}
	e.do(t, request{method: "POST", path: "/api/v1/devices/" + itoa(a.device.ID) + "/gaps", token: tok, body: report}).wantError(t, vibemon.EFORBIDDEN)

	for _, q := range []string{"?from=yesterday", "?from=2025-06-01T12:00:00Z&to=2025-06-01T11:00:00Z", "?from=2025-01-01T00:00:00Z&to=2025-06-01T00:00:00Z"} {
		e.do(t, request{method: "GET", path: "/api/v1/devices/" + itoa(a.device.ID) + "/completeness" + q, token: tok}).wantError(t, vibemon.EINVALID)
	}
	e.do(t, request{method: "GET", path: "/api/v1/devices/999999/completeness", token: tok}).wantError(t, vibemon.ENOTFOUND)
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }
