package migrate

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestPlainProgressWritesALinePerTenthWithRateAndETA checks the progress
// that a log file (not a terminal) receives: a line at the first batch,
// then one per 10%.
func TestPlainProgressWritesALinePerTenthWithRateAndETA(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(0, 0)
	b := newBar(&out, false, 1000, func() time.Time { return now })
	for range 100 {
		now = now.Add(10 * time.Millisecond)
		b.add(10)
	}
	b.finish()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if got, want := len(lines), 11; got != want {
		t.Fatalf("got %d lines, want %d:\n%s", got, want, out.String())
	}
	if got, want := lines[5], "migrate:  50% 500/1000 rows  1000 rows/s  ETA 1s"; got != want {
		t.Errorf("line 5 = %q, want %q", got, want)
	}
	if !strings.Contains(lines[10], "100% 1000/1000") {
		t.Errorf("last line = %q, want 100%%", lines[10])
	}
}

// TestReportFailsWhenAnyCountDiffers checks the verdict and the table.
func TestReportFailsWhenAnyCountDiffers(t *testing.T) {
	ok := &Report{Tables: []Count{{"orgs", 2, 2}}, Devices: []Count{{"readings of device 1", 10, 10}}}
	bad := &Report{Tables: []Count{{"orgs", 2, 2}}, Devices: []Count{{"readings of device 1", 10, 9}}}
	if !ok.OK() || bad.OK() {
		t.Fatalf("OK() = %v, %v; want true, false", ok.OK(), bad.OK())
	}
	var out bytes.Buffer
	bad.WriteTable(&out)
	if !strings.Contains(out.String(), "DIFFERS") {
		t.Errorf("table does not mark the differing line:\n%s", out.String())
	}
}

// TestStateOfAnotherTargetIsNotReused keeps a copy into one database from
// skipping tables that were copied into another.
func TestStateOfAnotherTargetIsNotReused(t *testing.T) {
	path := t.TempDir() + "/s.json"
	st, err := loadState(path, "postgres://a/x")
	if err != nil {
		t.Fatal(err)
	}
	st.Started, st.Done["orgs"] = true, true
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	same, _ := loadState(path, "postgres://a/x")
	other, _ := loadState(path, "postgres://b/y")
	if !same.Started || !same.Done["orgs"] {
		t.Errorf("state of the same target: %+v; want started with orgs done", same)
	}
	if other.Started || other.Done["orgs"] {
		t.Errorf("state of another target: %+v; want a fresh one", other)
	}
}
