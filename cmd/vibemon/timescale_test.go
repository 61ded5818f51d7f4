package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/postgres"
	"github.com/vibemon/vibemon/timescaletest"
)

// timescaleCmd runs `vibemon timescale args...` and returns its stdout and
// stderr.
func timescaleCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"timescale"}, args...), func(string) string { return "" }, &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestTimescaleConvertCommand: an installation that started on plain
// PostgreSQL (readings in native partitions) is told by `timescale status`
// that it can convert, and `timescale convert` moves its readings into a
// hypertable with progress, then reports the new layout.
func TestTimescaleConvertCommand(t *testing.T) {
	dbURL := timescaletest.URL(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, dbURL, postgres.Options{Timescale: postgres.TimescaleOff, MaintenanceInterval: -1, MergeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	org := &vibemon.Org{Name: "plant"}
	if err := s.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	dev := &vibemon.Device{OrgID: org.ID, Serial: "node"}
	if _, err := s.RegisterDevice(ctx, dev); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	if err := s.EnsurePartitions(ctx, day); err != nil {
		t.Fatal(err)
	}
	rs := make([]vibemon.Reading, 48)
	for i := range rs {
		rs[i] = vibemon.NewReading(dev.ID, int64(i), day.Add(time.Duration(i)*time.Hour)) // two days: a partition and the default one
	}
	if _, err := s.InsertReadings(ctx, org.ID, rs); err != nil {
		t.Fatal(err)
	}
	s.Close()

	out, _, err := timescaleCmd(t, "status", "--database-url", dbURL)
	if err != nil || !strings.Contains(out, "native daily partitions") || !strings.Contains(out, "vibemon timescale convert") {
		t.Fatalf("status before: %v\n%s", err, out)
	}
	out, progress, err := timescaleCmd(t, "convert", "--database-url", dbURL)
	if err != nil {
		t.Fatalf("convert: %v\n%s%s", err, out, progress)
	}
	if !strings.Contains(out, "Done: 48 readings in a hypertable") || !strings.Contains(out, "a TimescaleDB hypertable, ") || !strings.Contains(out, "Stats: the store's own rollup tables") {
		t.Errorf("convert's report:\n%s", out)
	}
	if !strings.Contains(progress, "convert: 100% 48/48 rows") {
		t.Errorf("convert's progress does not reach 48 of 48 rows:\n%s", progress)
	}
	out, _, err = timescaleCmd(t, "convert", "--database-url", dbURL)
	if err != nil || !strings.Contains(out, "already") {
		t.Fatalf("second convert: %v\n%s", err, out)
	}
	// Once TimescaleDB's policy has compressed the (old) chunks, status
	// says how much smaller they are.
	s, err = postgres.Open(ctx, dbURL, postgres.Options{MaintenanceInterval: -1, MergeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.RunTimescaleJobs(ctx)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _, err = timescaleCmd(t, "status", "--database-url", dbURL)
	if err != nil || !strings.Contains(out, "2 chunks of a day (2 compressed: ") || !strings.Contains(out, " after, ") {
		t.Fatalf("status after compression: %v\n%s", err, out)
	}
}

func TestBytesIEC(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := bytesIEC(n); got != want {
			t.Errorf("bytesIEC(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestTimescaleCommandErrors: wrong commands and URLs, and a server without
// TimescaleDB, get messages that say what to do.
func TestTimescaleCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"compress"}, "want status or convert"},
		{[]string{"status"}, "must be the postgres:// URL"},
		{[]string{"convert", "--database-url", "sqlite://x"}, "must be the postgres:// URL"},
		{[]string{"status", "--database-url", "postgres://x@127.0.0.1:1/x", "extra"}, "unexpected argument"},
	} {
		if _, _, err := timescaleCmd(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("timescale %v: %v; want an error containing %q", tc.args, err, tc.want)
		}
	}
	dbURL := freshPostgres(t, "timescale")
	out, _, err := timescaleCmd(t, "status", "--database-url", dbURL)
	if err != nil || !strings.Contains(out, "not available") {
		t.Fatalf("status on plain PostgreSQL: %v\n%s", err, out)
	}
	if _, _, err := timescaleCmd(t, "convert", "--database-url", dbURL); err == nil || !strings.Contains(err.Error(), "install the extension") {
		t.Fatalf("convert on plain PostgreSQL: %v; want the message telling to install TimescaleDB", err)
	}
}

// TestServeOnTimescaleDB runs the end-to-end telemetry scenario of
// TestServeOnPostgreSQL (a server on a fresh database, readings posted,
// queried raw and hourly, kept across a restart) on TimescaleDB: the whole
// server (River, the merge, retention jobs) with readings in a hypertable
// and the stats in continuous aggregates.
func TestServeOnTimescaleDB(t *testing.T) {
	dbURL := timescaletest.URL(t)
	serveStoresTelemetry(t, map[string]string{"VIBEMON_DATA_DIR": t.TempDir(), "VIBEMON_DATABASE_URL": dbURL})
	s, err := postgres.Open(context.Background(), dbURL, postgres.Options{MaintenanceInterval: -1, MergeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	chunks, err := s.Chunks(context.Background())
	if !s.Hypertable() || err != nil || len(chunks) == 0 {
		t.Fatalf("the server's readings: hypertable %v, %d chunks, %v; want them in a hypertable", s.Hypertable(), len(chunks), err)
	}
	if !s.ContinuousAggregates() {
		t.Fatal("the server's stats are in rollup tables; want continuous aggregates (the default on TimescaleDB)")
	}
	if out, _, err := timescaleCmd(t, "status", "--database-url", dbURL); err != nil || !strings.Contains(out, "Stats: TimescaleDB continuous aggregates, one set per organization") {
		t.Fatalf("timescale status of the server's database: %v\n%s", err, out)
	}
}
