package httpapi

import (
	"testing"

	"github.com/vibemon/vibemon"
)

// TestOrgRetentionSetting: the owner sets and clears retention_days with
// PATCH /orgs/current, keeping the name; out-of-range values are 400.
func TestOrgRetentionSetting(t *testing.T) {
	e := newTestEnv(t)
	tn := e.newTenant(t, "acme")
	owner := tn.token(vibemon.RoleOwner)
	var o vibemon.Org
	e.do(t, request{method: "GET", path: "/api/v1/orgs/current", token: owner}).wantStatus(t, 200).decode(t, &o)
	if o.RetentionDays != 0 {
		t.Fatalf("a new org's retention_days = %d, want 0 (unlimited)", o.RetentionDays)
	}
	e.do(t, request{method: "PATCH", path: "/api/v1/orgs/current", token: owner, body: map[string]int{"retention_days": 90}}).wantStatus(t, 200).decode(t, &o)
	if o.RetentionDays != 90 || o.Name != "acme" {
		t.Fatalf("after PATCH retention_days 90: %+v, want 90 days and the name kept", o)
	}
	e.do(t, request{method: "GET", path: "/api/v1/orgs/current", token: owner}).wantStatus(t, 200).decode(t, &o)
	if o.RetentionDays != 90 {
		t.Fatalf("GET after PATCH: retention_days %d, want 90", o.RetentionDays)
	}
	e.do(t, request{method: "PATCH", path: "/api/v1/orgs/current", token: owner, body: map[string]any{"name": "Acme Ltd"}}).wantStatus(t, 200).decode(t, &o)
	if o.RetentionDays != 90 || o.Name != "Acme Ltd" {
		t.Fatalf("after a rename: %+v, want the retention kept", o)
	}
	// The bursts' retention is its own setting; each PATCH keeps the other.
	e.do(t, request{method: "PATCH", path: "/api/v1/orgs/current", token: owner, body: map[string]int{"waveform_retention_days": 30}}).wantStatus(t, 200).decode(t, &o)
	if o.WaveformRetentionDays != 30 || o.RetentionDays != 90 {
		t.Fatalf("after PATCH waveform_retention_days 30: %+v, want 30 days of bursts and 90 of readings", o)
	}
	e.do(t, request{method: "GET", path: "/api/v1/orgs/current", token: owner}).wantStatus(t, 200).decode(t, &o)
	if o.WaveformRetentionDays != 30 {
		t.Fatalf("GET after PATCH: waveform_retention_days %d, want 30", o.WaveformRetentionDays)
	}
	for _, bad := range []any{map[string]int{"retention_days": -1}, map[string]int{"retention_days": vibemon.MaxRetentionDays + 1}, map[string]any{},
		map[string]int{"waveform_retention_days": -1}, map[string]int{"waveform_retention_days": vibemon.MaxRetentionDays + 1}} {
		e.do(t, request{method: "PATCH", path: "/api/v1/orgs/current", token: owner, body: bad}).wantError(t, vibemon.EINVALID)
	}
	e.do(t, request{method: "PATCH", path: "/api/v1/orgs/current", token: tn.token(vibemon.RoleAdmin), body: map[string]int{"retention_days": 1}}).wantError(t, vibemon.EFORBIDDEN)
}
