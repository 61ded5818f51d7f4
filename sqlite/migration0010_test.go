package sqlite

import (
	"math"
	"testing"

	"github.com/vibemon/vibemon"
)

// TestMigration0010KeepsRulesAndTheirIDs builds a database at schema 9 with
// two rules and a deleted third one, opens it (which rebuilds the rules
// table in 0010) and checks that the rules kept every field and that a new
// rule does not get the deleted rule's id, which its old alerts still carry.
func TestMigration0010KeepsRulesAndTheirIDs(t *testing.T) {
	path, db, exec := atSchema(t, 10)
	exec("INSERT INTO orgs (id, name, created_at) VALUES (1, 'plant', 0)")
	insert := `INSERT INTO rules (id, org_id, name, asset_id, device_id, metric, op, threshold, clear, severity, enabled, created_at,
		kind, fault, min_confidence, for_seconds, clear_for_seconds, remind_every_minutes, escalation) VALUES (?, 1, ?, 0, 0, ?, ?, ?, ?, ?, 1, 0, ?, ?, ?, ?, ?, ?, '[]')`
	exec(insert, 1, "zone D", "vel_rms_x", "above", 7.1, 6.5, "critical", "threshold", "", 0, 120, 600, 30)
	exec(insert, 2, "outer race", "", "", 0, 0, "warning", "diagnosis", "bearing_outer_race", 0.8, 0, 0, 0)
	exec(insert, 3, "deleted", "temp_c", "above", 80, 80, "info", "threshold", "", 0, 0, 0, 0)
	exec("DELETE FROM rules WHERE id = 3")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openTest(t, path)
	th, err := s.GetRule(t.Context(), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if th.Kind != vibemon.RuleThreshold || th.Threshold != 7.1 || th.Clear != 6.5 || th.ForSeconds != 120 || th.ClearForSeconds != 600 ||
		th.RemindEveryMinutes != 30 || th.Match != vibemon.MatchAll || len(th.Conditions) != 0 {
		t.Errorf("threshold rule after 0010 = %+v", th)
	}
	diag, err := s.GetRule(t.Context(), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diag.Kind != vibemon.RuleDiagnosis || diag.Fault != "bearing_outer_race" || diag.MinConfidence != 0.8 {
		t.Errorf("diagnosis rule after 0010 = %+v", diag)
	}
	r := &vibemon.Rule{OrgID: 1, Name: "silent", Kind: vibemon.RuleOffline, OfflineMinutes: 15, Severity: vibemon.SeverityWarning, Enabled: true, Clear: math.NaN()}
	if err := s.CreateRule(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if r.ID != 4 {
		t.Errorf("new rule after 0010 has id %d, want 4 (3 belonged to a deleted rule)", r.ID)
	}
}
