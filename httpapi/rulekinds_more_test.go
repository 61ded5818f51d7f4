package httpapi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vibemon/vibemon"
)

func TestMoreRuleKindsOverTheAPI(t *testing.T) {
	e := newTestEnv(t)
	a := e.newTenant(t, "acme")
	tok := a.token(vibemon.RoleEngineer)

	good := []map[string]any{
		{"name": "zone D", "kind": "iso_zone", "zone": "D", "for_seconds": 60, "asset_id": a.asset.ID, "severity": "critical"},
		{"name": "anomalous", "kind": "anomaly", "threshold": 0.7, "clear": 0.6, "severity": "warning"},
		{"name": "alarm soon", "kind": "forecast", "within_days": 30, "severity": "info"},
		{"name": "silent", "kind": "offline", "offline_minutes": 15, "severity": "warning"},
		{"name": "hot or shaking", "match": "any", "severity": "warning", "conditions": []map[string]any{
			{"metric": "vel_rms_x", "op": "above", "threshold": 7.1, "clear": 6.5},
			{"metric": "temp_c", "op": "above", "threshold": 80}}},
	}
	var rules []vibemon.Rule
	for _, body := range good {
		var r vibemon.Rule
		e.do(t, request{method: "POST", path: "/api/v1/alert-rules", token: tok, body: body}).wantStatus(t, 201).decode(t, &r)
		rules = append(rules, r)
	}
	if r := rules[0]; r.Kind != vibemon.RuleISOZone || r.Zone != "D" || r.ForSeconds != 60 {
		t.Errorf("iso_zone rule = %+v", r)
	}
	if r := rules[2]; r.WithinDays != 30 || rules[3].OfflineMinutes != 15 {
		t.Errorf("forecast/offline rules = %+v / %+v", r, rules[3])
	}
	if r := rules[4]; r.Match != "any" || len(r.Conditions) != 2 || r.Metric != "vel_rms_x" || r.Clear != 6.5 {
		t.Errorf("rule with conditions = %+v, want match any, 2 conditions, the first as metric/clear", r)
	}

	bad := map[string]struct {
		body map[string]any
		says string // part of the message that tells what to fill
	}{
		"iso_zone without zone":   {map[string]any{"name": "x", "kind": "iso_zone", "severity": "info"}, "zone is required"},
		"forecast without days":   {map[string]any{"name": "x", "kind": "forecast", "severity": "info"}, "within_days is required"},
		"offline without minutes": {map[string]any{"name": "x", "kind": "offline", "severity": "info"}, "offline_minutes is required"},
		"anomaly level of 3":      {map[string]any{"name": "x", "kind": "anomaly", "threshold": 3, "severity": "info"}, "between 0 and 1"},
		"offline with a metric":   {map[string]any{"name": "x", "kind": "offline", "offline_minutes": 5, "metric": "temp_c", "severity": "info"}, "metric is not used by offline rules"},
		"zone on a threshold":     {map[string]any{"name": "x", "metric": "temp_c", "op": "above", "threshold": 80, "zone": "D", "severity": "info"}, "zone is not used"},
		"one condition":           {map[string]any{"name": "x", "severity": "info", "conditions": []map[string]any{{"metric": "temp_c", "op": "above", "threshold": 80}}}, "2 to 8"},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			d := e.do(t, request{method: "POST", path: "/api/v1/alert-rules", token: tok, body: tc.body}).wantError(t, vibemon.EINVALID)
			if !strings.Contains(d.Message, tc.says) {
				t.Errorf("message %q does not say %q", d.Message, tc.says)
			}
		})
	}

	// A machine's levels need a machine: an iso_zone rule for a loose device is refused.
	var loose vibemon.Device
	e.do(t, request{method: "POST", path: "/api/v1/devices", token: tok, body: map[string]any{"serial": "loose-1"}}).wantStatus(t, 201).decode(t, &loose)
	d := e.do(t, request{method: "POST", path: "/api/v1/alert-rules", token: tok, body: map[string]any{
		"name": "x", "kind": "iso_zone", "zone": "C", "device_id": loose.ID, "severity": "info"}}).wantError(t, vibemon.EINVALID)
	if !strings.Contains(d.Message, "attach the device") {
		t.Errorf("iso_zone rule for a device without a machine: message %q does not say to attach it", d.Message)
	}

	// PATCH changes a kind's own field and keeps the rest.
	var off vibemon.Rule
	e.do(t, request{method: "PATCH", path: fmt.Sprintf("/api/v1/alert-rules/%d", rules[3].ID), token: tok,
		body: map[string]any{"offline_minutes": 60}}).wantStatus(t, 200).decode(t, &off)
	if off.OfflineMinutes != 60 || off.Kind != vibemon.RuleOffline || off.Name != "silent" {
		t.Errorf("patched offline rule = %+v, want 60 minutes", off)
	}
}
