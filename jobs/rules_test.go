package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/dsp"
)

func TestBuiltInDiagnosisRuleIsOfKindDiagnosis(t *testing.T) {
	e := newEnv(t)
	w := outerRaceBurst(t)
	w.DeviceID = e.device.ID
	must(t, e.runner.Submit(context.Background(), e.org.ID, w))
	a := e.waitAlerts(t, 1)[0]
	rule, err := e.store.GetRule(context.Background(), e.org.ID, a.RuleID)
	must(t, err)
	if rule.Kind != vibemon.RuleDiagnosis || rule.Fault != dsp.FaultOuterRace || rule.MinConfidence != 0.6 || rule.Metric != "" {
		t.Errorf("built-in rule = %+v, want a diagnosis rule for the outer race at 0.6", rule)
	}
}

func TestDiagnosisRuleConfidenceAndMaintenance(t *testing.T) {
	tests := []struct {
		name        string
		confidence  float64 // of the org's own outer race rule
		maintenance bool
		wantAlerts  int
	}{
		{"confident enough", 0.6, false, 1},
		{"rule asks for more than any burst shows", 1, false, 0},
		{"asset in maintenance", 0.6, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			rule := &vibemon.Rule{OrgID: e.org.ID, Name: "outer race", Kind: vibemon.RuleDiagnosis, Fault: dsp.FaultOuterRace,
				MinConfidence: tc.confidence, Severity: vibemon.SeverityCritical, Enabled: true}
			must(t, e.store.CreateRule(ctx, rule))
			w := outerRaceBurst(t)
			w.DeviceID = e.device.ID
			if tc.maintenance {
				must(t, e.store.CreateMaintenance(ctx, &vibemon.MaintenanceWindow{OrgID: e.org.ID, AssetID: e.device.AssetID,
					From: w.TS.Add(-time.Hour), To: w.TS.Add(time.Hour), Reason: "bearing swap"}))
			}
			must(t, e.runner.Submit(ctx, e.org.ID, w))
			if got := e.waitDone(t, w.ID); got.AnalysisStatus != vibemon.AnalysisDone {
				t.Fatalf("status = %q, want done", got.AnalysisStatus)
			}
			// The job stores the analysis, then raises alerts.
			if tc.wantAlerts > 0 {
				e.waitAlerts(t, tc.wantAlerts)
			} else {
				time.Sleep(300 * time.Millisecond)
			}
			as, err := e.store.ListAlerts(ctx, e.org.ID, vibemon.AlertFilter{})
			must(t, err)
			if len(as) != tc.wantAlerts {
				t.Fatalf("%d alerts, want %d", len(as), tc.wantAlerts)
			}
			if len(as) == 1 && (as[0].RuleID != rule.ID || as[0].Severity != vibemon.SeverityCritical) {
				t.Errorf("alert of rule %d severity %s, want the org's own rule %d, critical", as[0].RuleID, as[0].Severity, rule.ID)
			}
			rules, err := e.store.ListRules(ctx, e.org.ID)
			must(t, err)
			if len(rules) != 1 {
				t.Errorf("%d rules, want only the org's own (no built-in one beside it)", len(rules))
			}
		})
	}
}
