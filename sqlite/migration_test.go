package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/vibemon/vibemon"
)

// TestMigration0004TurnsPlaceholdersIntoDiagnosisRules builds a database at
// schema 3 holding the old placeholder diagnosis rule, opens it (which
// applies 0004) and checks what became of each rule.
func TestMigration0004TurnsPlaceholdersIntoDiagnosisRules(t *testing.T) {
	path, db, exec := atSchema(t, 4)
	exec("INSERT INTO orgs (id, name, created_at) VALUES (1, 'plant', 0)")
	insert := "INSERT INTO rules (id, org_id, name, asset_id, device_id, metric, op, threshold, clear, severity, enabled, created_at) VALUES (?, 1, ?, 0, 0, ?, ?, ?, ?, ?, 1, 0)"
	exec(insert, 1, "Diagnosis: bearing_outer_race", "kurtosis_x", "above", 1000, 0, "critical")
	exec(insert, 2, "Diagnosis: my own", "vel_rms_x", "above", 7.1, 6.5, "warning") // a user's threshold rule
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openTest(t, path)
	tests := []struct {
		id   int64
		want vibemon.Rule
	}{
		{1, vibemon.Rule{Kind: vibemon.RuleDiagnosis, Fault: "bearing_outer_race", MinConfidence: 0.6, Severity: vibemon.SeverityCritical}},
		{2, vibemon.Rule{Kind: vibemon.RuleThreshold, Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 7.1, Clear: 6.5, Severity: vibemon.SeverityWarning}},
	}
	for _, tc := range tests {
		got, err := s.GetRule(t.Context(), 1, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Kind != tc.want.Kind || got.Fault != tc.want.Fault || got.MinConfidence != tc.want.MinConfidence || got.Metric != tc.want.Metric ||
			got.Op != tc.want.Op || got.Threshold != tc.want.Threshold || got.Clear != tc.want.Clear || got.Severity != tc.want.Severity {
			t.Errorf("rule %d after 0004 = %+v, want %+v", tc.id, got, tc.want)
		}
	}
}

// atSchema makes a database file holding every migration below version,
// as an installation of that version has it, and returns its path, the
// open database (the caller closes it before opening the store) and an
// exec that fails the test on error.
func atSchema(t *testing.T, version int) (string, *sql.DB, func(q string, args ...any)) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vibemon.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)")
	for _, m := range ms {
		if m.Version < version {
			exec(m.SQL)
			exec("INSERT INTO schema_migrations VALUES (?, ?, 0)", m.Version, m.Name)
		}
	}
	return path, db, exec
}
