package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
)

// TestBenchIngestSQLite runs `vibemon bench ingest` on the embedded store
// at a small size: a whole server on loopback takes the readings through
// the HTTP API, the direct insert takes the same ones, and both rates and
// their ratio are printed.
func TestBenchIngestSQLite(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"bench", "ingest", "--readings", "2000", "--devices", "5", "--clients", "2"},
		func(string) string { return "" }, &out, &errb)
	if err != nil {
		t.Fatalf("bench ingest: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	for _, want := range []string{`2000 readings in`, `ratio API/direct: [0-9]+\.[0-9]+`} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
