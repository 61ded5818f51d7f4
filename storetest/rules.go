package storetest

import (
	"math"
	"reflect"
	"testing"
	"time"

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
	if !reflect.DeepEqual(got, th) {
		t.Errorf("GetRule(threshold) = %+v, want %+v", got, th)
	}

	diag := &vibemon.Rule{OrgID: a.org.ID, Name: "outer race on the pump", Kind: vibemon.RuleDiagnosis, AssetID: a.asset.ID,
		Fault: "bearing_outer_race", Severity: vibemon.SeverityWarning, Enabled: true,
		Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 3} // ignored for a diagnosis rule
	must(t, s.CreateRule(ctx(t), diag))
	got, err = s.GetRule(ctx(t), a.org.ID, diag.ID)
	must(t, err)
	if !reflect.DeepEqual(got, diag) {
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
		{Name: "unknown kind", Kind: "vibration", Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 1},
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

// testMaintenance checks maintenance windows: round trip, the endsAfter
// and asset filters, validation and tenancy.
func testMaintenance(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	t0 := time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)
	other := &vibemon.Asset{OrgID: a.org.ID, Name: "fan", Type: "fan", RPM: 990, ISOGroup: 2, Foundation: vibemon.FoundationRigid}
	must(t, s.CreateAsset(ctx(t), other))
	past := &vibemon.MaintenanceWindow{OrgID: a.org.ID, AssetID: a.asset.ID, From: t0.Add(-48 * time.Hour), To: t0.Add(-47 * time.Hour), Reason: "old"}
	now := &vibemon.MaintenanceWindow{OrgID: a.org.ID, AssetID: a.asset.ID, From: t0, To: t0.Add(4 * time.Hour), Reason: " bearing swap ", CreatedBy: a.user.ID}
	fan := &vibemon.MaintenanceWindow{OrgID: a.org.ID, AssetID: other.ID, From: t0.Add(time.Hour), To: t0.Add(2 * time.Hour)}
	for _, w := range []*vibemon.MaintenanceWindow{now, past, fan} {
		must(t, s.CreateMaintenance(ctx(t), w))
		if w.ID == 0 || w.CreatedAt.IsZero() {
			t.Fatalf("CreateMaintenance left ID/CreatedAt unset: %+v", w)
		}
	}
	if now.Reason != "bearing swap" {
		t.Errorf("reason = %q, want it trimmed", now.Reason)
	}
	all, err := s.ListMaintenance(ctx(t), a.org.ID, a.asset.ID, time.Time{})
	must(t, err)
	if len(all) != 2 || *all[0] != *past || *all[1] != *now {
		t.Errorf("ListMaintenance(asset, all) = %v, want [past now] as created", all)
	}
	current, err := s.ListMaintenance(ctx(t), a.org.ID, 0, t0.Add(-time.Hour))
	must(t, err)
	if len(current) != 2 || current[0].ID != now.ID || current[1].ID != fan.ID {
		t.Errorf("ListMaintenance(org, ending after t0-1h) = %v, want [now fan]", current)
	}

	for _, bad := range []*vibemon.MaintenanceWindow{
		{AssetID: a.asset.ID, From: t0, To: t0},
		{AssetID: a.asset.ID, From: t0, To: t0.Add(-time.Hour)},
		{AssetID: a.asset.ID, To: t0},
		{AssetID: a.asset.ID, From: t0, To: t0.Add(vibemon.MaxMaintenanceSpan + time.Hour)},
	} {
		bad.OrgID = a.org.ID
		wantCode(t, s.CreateMaintenance(ctx(t), bad), vibemon.EINVALID)
	}

	// Tenancy: b can neither add a window to a's asset, nor see or delete a's.
	wantCode(t, s.CreateMaintenance(ctx(t), &vibemon.MaintenanceWindow{OrgID: b.org.ID, AssetID: a.asset.ID, From: t0, To: t0.Add(time.Hour)}), vibemon.ENOTFOUND)
	list, err := s.ListMaintenance(ctx(t), b.org.ID, 0, time.Time{})
	must(t, err)
	if len(list) != 0 {
		t.Errorf("ListMaintenance(b) = %d windows, want 0", len(list))
	}
	wantCode(t, s.DeleteMaintenance(ctx(t), b.org.ID, a.asset.ID, now.ID), vibemon.ENOTFOUND)
	wantCode(t, s.DeleteMaintenance(ctx(t), a.org.ID, other.ID, now.ID), vibemon.ENOTFOUND)
	must(t, s.DeleteMaintenance(ctx(t), a.org.ID, a.asset.ID, now.ID))
	wantCode(t, s.DeleteMaintenance(ctx(t), a.org.ID, a.asset.ID, now.ID), vibemon.ENOTFOUND)
	all, err = s.ListMaintenance(ctx(t), a.org.ID, a.asset.ID, time.Time{})
	must(t, err)
	if len(all) != 1 || all[0].ID != past.ID {
		t.Errorf("after delete: %v, want [past]", all)
	}
}
