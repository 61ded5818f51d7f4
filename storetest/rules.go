package storetest

import (
	"math"
	"testing"

	"github.com/vibemon/vibemon"
)

// testRuleKinds checks that both kinds of rule, with their own fields,
// survive a round trip, and that kind and its fields are validated.
func testRuleKinds(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	th := &vibemon.Rule{OrgID: a.org.ID, Name: "zone D for 5 min", Metric: "vel_rms_x", Op: vibemon.OpAbove,
		Threshold: 7.1, Clear: 6.5, ForSeconds: 300, ClearForSeconds: 600, Severity: vibemon.SeverityCritical, Enabled: true}
	must(t, s.CreateRule(ctx(t), th))
	if th.Kind != vibemon.RuleThreshold {
		t.Errorf("kind of a rule created without one = %q, want %q", th.Kind, vibemon.RuleThreshold)
	}
	got, err := s.GetRule(ctx(t), a.org.ID, th.ID)
	must(t, err)
	if *got != *th {
		t.Errorf("GetRule(threshold) = %+v, want %+v", got, th)
	}

	diag := &vibemon.Rule{OrgID: a.org.ID, Name: "outer race on the pump", Kind: vibemon.RuleDiagnosis, AssetID: a.asset.ID,
		Fault: "bearing_outer_race", Severity: vibemon.SeverityWarning, Enabled: true,
		Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 3} // ignored for a diagnosis rule
	must(t, s.CreateRule(ctx(t), diag))
	got, err = s.GetRule(ctx(t), a.org.ID, diag.ID)
	must(t, err)
	if *got != *diag {
		t.Errorf("GetRule(diagnosis) = %+v, want %+v", got, diag)
	}
	if got.Fault != "bearing_outer_race" || got.MinConfidence != vibemon.DefaultMinConfidence || got.Metric != "" || got.Op != "" || got.Threshold != 0 {
		t.Errorf("stored diagnosis rule = %+v, want fault, default confidence and no threshold fields", got)
	}
	got.MinConfidence = 0.8
	must(t, s.UpdateRule(ctx(t), got))
	again, err := s.GetRule(ctx(t), a.org.ID, diag.ID)
	must(t, err)
	if again.MinConfidence != 0.8 || again.Kind != vibemon.RuleDiagnosis {
		t.Errorf("after UpdateRule min_confidence = %g kind %q, want 0.8 diagnosis", again.MinConfidence, again.Kind)
	}

	for _, bad := range []*vibemon.Rule{
		{Name: "unknown kind", Kind: "anomaly", Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 1},
		{Name: "no fault", Kind: vibemon.RuleDiagnosis},
		{Name: "bad fault", Kind: vibemon.RuleDiagnosis, Fault: "Outer Race!"},
		{Name: "confidence > 1", Kind: vibemon.RuleDiagnosis, Fault: "imbalance", MinConfidence: 1.5},
		{Name: "for on diagnosis", Kind: vibemon.RuleDiagnosis, Fault: "imbalance", ForSeconds: 60},
		{Name: "negative for", Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 1, ForSeconds: -1},
		{Name: "for > a day", Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 1, ClearForSeconds: vibemon.MaxRuleSeconds + 1},
	} {
		bad.OrgID, bad.Severity, bad.Clear = a.org.ID, vibemon.SeverityInfo, math.NaN()
		wantCode(t, s.CreateRule(ctx(t), bad), vibemon.EINVALID)
	}
	list, err := s.ListRules(ctx(t), a.org.ID)
	must(t, err)
	if len(list) != 2 {
		t.Errorf("ListRules = %d rules, want the 2 valid ones", len(list))
	}
}
