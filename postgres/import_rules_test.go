package postgres_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/pgtest"
)

// TestImportRulesKeepsKindAndDurations checks that a copy from SQLite
// (vibemon migrate) carries every field of both kinds of rule.
func TestImportRulesKeepsKindAndDurations(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url)
	s := openStore(t, url, schema, testOptions(schema))
	ctx := context.Background()
	org := &vibemon.Org{Name: "plant"}
	if err := s.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rules := []*vibemon.Rule{
		{ID: 7, OrgID: org.ID, Name: "zone D", Kind: vibemon.RuleThreshold, Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 7.1, Clear: 6.5,
			ForSeconds: 120, ClearForSeconds: 600, Severity: vibemon.SeverityCritical, Enabled: true, CreatedAt: at},
		{ID: 9, OrgID: org.ID, Name: "Diagnosis: imbalance", Kind: vibemon.RuleDiagnosis, Fault: "imbalance", MinConfidence: 0.7,
			Severity: vibemon.SeverityWarning, Enabled: true, CreatedAt: at},
	}
	if err := s.ImportRules(ctx, rules); err != nil {
		t.Fatal(err)
	}
	for _, want := range rules {
		got, err := s.GetRule(ctx, org.ID, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want.Escalation == nil { // what a rule without a policy reads back as
			want.Escalation = []vibemon.EscalationStep{}
		}
		if want.Match == "" {
			want.Match = vibemon.MatchAll
		}
		if want.Conditions == nil {
			want.Conditions = []vibemon.Condition{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("imported rule = %+v, want %+v", got, want)
		}
	}
}
