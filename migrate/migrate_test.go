package migrate

import (
	"bytes"
	"strings"
	"testing"
)

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
