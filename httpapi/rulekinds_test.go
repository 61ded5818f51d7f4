package httpapi

import (
	"fmt"
	"testing"

	"github.com/vibemon/vibemon"
)

func TestRuleKindsOverTheAPI(t *testing.T) {
	e := newTestEnv(t)
	a := e.newTenant(t, "acme")
	tok := a.token(vibemon.RoleEngineer)

	var diag vibemon.Rule
	e.do(t, request{method: "POST", path: "/api/v1/alert-rules", token: tok, body: map[string]any{
		"name": "outer race", "kind": "diagnosis", "fault": "bearing_outer_race", "min_confidence": 0.8, "severity": "warning", "asset_id": a.asset.ID,
	}}).wantStatus(t, 201).decode(t, &diag)
	if diag.Kind != vibemon.RuleDiagnosis || diag.Fault != "bearing_outer_race" || diag.MinConfidence != 0.8 || diag.Metric != "" {
		t.Errorf("created diagnosis rule = %+v", diag)
	}
	var th vibemon.Rule
	e.do(t, request{method: "POST", path: "/api/v1/alert-rules", token: tok, body: map[string]any{
		"name": "hot for a while", "metric": "temp_c", "op": "above", "threshold": 80, "clear": 75, "for_seconds": 120, "clear_for_seconds": 600, "severity": "info",
	}}).wantStatus(t, 201).decode(t, &th)
	if th.Kind != vibemon.RuleThreshold || th.ForSeconds != 120 || th.ClearForSeconds != 600 {
		t.Errorf("created threshold rule = %+v, want kind threshold, 120 s, 600 s", th)
	}

	bad := map[string]map[string]any{
		"unknown kind":                 {"name": "x", "kind": "vibration", "severity": "info"},
		"diagnosis without fault":      {"name": "x", "kind": "diagnosis", "severity": "info"},
		"diagnosis with a threshold":   {"name": "x", "kind": "diagnosis", "fault": "imbalance", "threshold": 3, "severity": "info"},
		"threshold with a fault":       {"name": "x", "metric": "temp_c", "op": "above", "threshold": 80, "fault": "imbalance", "severity": "info"},
		"negative for_seconds":         {"name": "x", "metric": "temp_c", "op": "above", "threshold": 80, "for_seconds": -5, "severity": "info"},
		"threshold rule w/o threshold": {"name": "x", "metric": "temp_c", "op": "above", "severity": "info"},
	}
	for name, body := range bad {
		t.Run(name, func(t *testing.T) {
			e.do(t, request{method: "POST", path: "/api/v1/alert-rules", token: tok, body: body}).wantError(t, vibemon.EINVALID)
		})
	}

	diagPath := fmt.Sprintf("/api/v1/alert-rules/%d", diag.ID)
	e.do(t, request{method: "PATCH", path: diagPath, token: tok, body: map[string]any{"kind": "threshold"}}).wantError(t, vibemon.EINVALID)
	e.do(t, request{method: "PATCH", path: diagPath, token: tok, body: map[string]any{"min_confidence": 0.9, "enabled": false}}).wantStatus(t, 200).decode(t, &diag)
	if diag.MinConfidence != 0.9 || diag.Enabled || diag.Kind != vibemon.RuleDiagnosis {
		t.Errorf("patched diagnosis rule = %+v", diag)
	}
	e.do(t, request{method: "PATCH", path: fmt.Sprintf("/api/v1/alert-rules/%d", th.ID), token: tok, body: map[string]any{"for_seconds": 0}}).wantStatus(t, 200).decode(t, &th)
	if th.ForSeconds != 0 || th.ClearForSeconds != 600 {
		t.Errorf("patched threshold rule = %+v, want for 0 and clear-for kept", th)
	}
}
