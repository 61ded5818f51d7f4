package progress

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
	b := New(&out, "migrate", false, 1000, func() time.Time { return now })
	for range 100 {
		now = now.Add(10 * time.Millisecond)
		b.Add(10)
	}
	b.Finish()
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
