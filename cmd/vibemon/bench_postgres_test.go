package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon/pgtest"
)

// TestBenchIngestPostgres runs `vibemon bench ingest --database-url` at a
// small size: a server on a scratch database takes every reading through
// the HTTP API, the raw COPY baseline copies the same rows, the ratio is
// printed, and the scratch database is gone afterwards. Needs
// VIBEMON_TEST_DATABASE_URL (skips without it, fails without it under
// VIBEMON_TEST_STRICT=1).
func TestBenchIngestPostgres(t *testing.T) {
	base := pgtest.URL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	scratch := func() int {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname LIKE 'vibemon_bench_%'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := scratch()
	var out, errb bytes.Buffer
	err = run(context.Background(), []string{"bench", "ingest", "--database-url", base, "--readings", "3000", "--devices", "10"},
		func(string) string { return "" }, &out, &errb)
	if err != nil {
		t.Fatalf("bench ingest: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	for _, want := range []string{
		`10 devices \(each client with its own devices\)`,
		`HTTP API \(4 clients\) +3000 readings in`,
		`raw COPY, same layout \(4 callers\) +3000 readings in`,
		`ratio API/raw COPY: [0-9]+\.[0-9]+`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// Each client sends its own devices: four clients need four.
	out.Reset()
	err = run(context.Background(), []string{"bench", "ingest", "--database-url", base, "--readings", "3000", "--devices", "3"},
		func(string) string { return "" }, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "--shared-devices") {
		t.Errorf("bench ingest with 3 devices for 4 clients: %v, want an error that names --shared-devices", err)
	}
	if after := scratch(); after > before {
		t.Errorf("%d scratch databases left behind, want 0", after-before)
	}
}
