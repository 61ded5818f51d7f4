package storetest

import (
	"math"
	"reflect"
	"testing"

	"github.com/vibemon/vibemon"
)

// testRuleMoreKinds checks the kinds of migration 0010 (iso_zone, anomaly,
// forecast, offline) and threshold rules with several conditions: each
// survives a round trip with its own fields, an update keeps them, and a
// rule missing what its kind needs is refused.
func testRuleMoreKinds(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	clear := 6.0
	rules := []*vibemon.Rule{
		{Name: "pump in zone D", Kind: vibemon.RuleISOZone, AssetID: a.asset.ID, Zone: "d", ForSeconds: 60, ClearForSeconds: 300},
		{Name: "pump past its alarm level", Kind: vibemon.RuleISOZone, Zone: vibemon.ZoneAlarm},
		{Name: "pump anomalous", Kind: vibemon.RuleAnomaly, AssetID: a.asset.ID, Threshold: 0.7, Clear: 0.55},
		{Name: "alarm within 30 days", Kind: vibemon.RuleForecast, WithinDays: 30},
		{Name: "silent for 15 min", Kind: vibemon.RuleOffline, DeviceID: a.device.ID, OfflineMinutes: 15},
		{Name: "hot and shaking", Match: vibemon.MatchAll, Conditions: []vibemon.Condition{
			{Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 7.1, Clear: &clear},
			{Metric: "temp_c", Op: vibemon.OpAbove, Threshold: 80}}},
		{Name: "any axis", Match: vibemon.MatchAny, Conditions: []vibemon.Condition{
			{Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 4.5},
			{Metric: "vel_rms_y", Op: vibemon.OpAbove, Threshold: 4.5},
			{Metric: "vel_rms_z", Op: vibemon.OpAbove, Threshold: 4.5}}},
	}
	for _, r := range rules {
		r.OrgID, r.Severity, r.Enabled = a.org.ID, vibemon.SeverityWarning, true
		if r.Kind != vibemon.RuleAnomaly {
			r.Clear = math.NaN() // as the API passes an absent clear
		}
		must(t, s.CreateRule(ctx(t), r))
		got, err := s.GetRule(ctx(t), a.org.ID, r.ID)
		must(t, err)
		if !reflect.DeepEqual(got, r) {
			t.Errorf("GetRule(%s) = %+v, want %+v", r.Name, got, r)
		}
	}
	if z := rules[0].Zone; z != vibemon.ZoneD {
		t.Errorf("zone %q stored as %q, want D", "d", z)
	}
	th := rules[5]
	if th.Metric != "vel_rms_x" || th.Threshold != 7.1 || th.Clear != 6 || *th.Conditions[1].Clear != 80 {
		t.Errorf("rule with conditions = %+v, want the first condition as its metric/threshold/clear and clear filled", th)
	}

	// An update keeps the kind's fields and changes them.
	off := rules[4]
	off.OfflineMinutes = 60
	must(t, s.UpdateRule(ctx(t), off))
	got, err := s.GetRule(ctx(t), a.org.ID, off.ID)
	must(t, err)
	if got.OfflineMinutes != 60 || got.Kind != vibemon.RuleOffline {
		t.Errorf("offline rule after update = %+v, want 60 minutes", got)
	}
	th.Match = vibemon.MatchAny
	th.Conditions = th.Conditions[:2]
	must(t, s.UpdateRule(ctx(t), th))
	got, err = s.GetRule(ctx(t), a.org.ID, th.ID)
	must(t, err)
	if got.Match != vibemon.MatchAny || len(got.Conditions) != 2 {
		t.Errorf("rule with conditions after update = %+v, want match any", got)
	}

	for _, bad := range []*vibemon.Rule{
		{Name: "zone missing", Kind: vibemon.RuleISOZone},
		{Name: "zone B", Kind: vibemon.RuleISOZone, Zone: "B"},
		{Name: "score level above 1", Kind: vibemon.RuleAnomaly, Threshold: 1.5},
		{Name: "clear above the level", Kind: vibemon.RuleAnomaly, Threshold: 0.6, Clear: 0.8},
		{Name: "anomaly for 60 s", Kind: vibemon.RuleAnomaly, ForSeconds: 60},
		{Name: "forecast without days", Kind: vibemon.RuleForecast},
		{Name: "forecast too far", Kind: vibemon.RuleForecast, WithinDays: vibemon.MaxForecastDays + 1},
		{Name: "offline without minutes", Kind: vibemon.RuleOffline},
		{Name: "one condition", Conditions: []vibemon.Condition{{Metric: "temp_c", Op: vibemon.OpAbove, Threshold: 80}}},
		{Name: "bad match", Match: "xor", Conditions: []vibemon.Condition{
			{Metric: "temp_c", Op: vibemon.OpAbove, Threshold: 80}, {Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 7}}},
		{Name: "bad condition metric", Conditions: []vibemon.Condition{
			{Metric: "temp_c", Op: vibemon.OpAbove, Threshold: 80}, {Metric: "rpm", Op: vibemon.OpAbove, Threshold: 7}}},
		{Name: "conditions on offline", Kind: vibemon.RuleOffline, OfflineMinutes: 5, Conditions: []vibemon.Condition{
			{Metric: "temp_c", Op: vibemon.OpAbove, Threshold: 80}, {Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 7}}},
	} {
		bad.OrgID, bad.Severity = a.org.ID, vibemon.SeverityInfo
		wantCode(t, s.CreateRule(ctx(t), bad), vibemon.EINVALID)
	}
	list, err := s.ListRules(ctx(t), a.org.ID)
	must(t, err)
	if len(list) != len(rules) {
		t.Errorf("ListRules = %d rules, want the %d valid ones", len(list), len(rules))
	}
}
