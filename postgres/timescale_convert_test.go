package postgres_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/pgtest"
	"github.com/vibemon/vibemon/postgres"
	"github.com/vibemon/vibemon/timescaletest"
)

// TestConvertToHypertable: a schema whose readings fill native daily
// partitions and the default one moves into a hypertable. An interrupted
// conversion leaves readings whole and is continued by the next run, which
// also copies again a day that received readings in between; afterwards
// every query answers as before, resends are still duplicates, and the
// layout is the one a new schema gets (chunks, compression policy).
func TestConvertToHypertable(t *testing.T) {
	url := timescaletest.URL(t)
	schema := pgtest.Schema(t, url)
	now := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	opts := testOptions(schema)
	opts.Now = func() time.Time { return now }
	opts.Timescale = postgres.TimescaleOff
	s := openStore(t, url, schema, opts)
	ctx := context.Background()
	start := now.Add(-10 * 24 * time.Hour).Truncate(24 * time.Hour)
	for d := now.AddDate(0, 0, -5); d.Before(now); d = d.AddDate(0, 0, 1) {
		must(t, s.EnsurePartitions(ctx, d))
	}
	org, dev := newPlant(t, s, 0)
	other := &vibemon.Device{OrgID: org.ID, Serial: "second"}
	if _, err := s.RegisterDevice(ctx, other); err != nil {
		t.Fatal(err)
	}
	var rs []vibemon.Reading
	seq := int64(0)
	for ts := start; ts.Before(now); ts = ts.Add(2 * time.Hour) {
		for _, d := range []int64{dev.ID, other.ID} {
			r := vibemon.NewReading(d, seq, ts)
			r.Values[vibemon.TempC] = float64(30 + seq%11)
			rs = append(rs, r)
		}
		seq++
	}
	// Readings of a day with no partition stay in readings_default.
	for i := range 3 {
		rs = append(rs, vibemon.NewReading(dev.ID, 10000+int64(i), now.AddDate(0, 0, -40).Add(time.Duration(i)*time.Minute)))
	}
	_, err := s.InsertReadings(ctx, org.ID, rs)
	must(t, err)
	parts, err := s.Partitions(ctx)
	must(t, err)
	var inDefault int
	must(t, s.Pool().QueryRow(ctx, "SELECT count(*) FROM readings_default").Scan(&inDefault))
	if len(parts) < 5 || inDefault < 3 {
		t.Fatalf("setup: %d partitions, %d readings in the default one; want daily partitions and a populated default", len(parts), inDefault)
	}
	hourly := func(s *postgres.Store) []vibemon.Point {
		pts, err := s.QueryReadings(ctx, org.ID, vibemon.ReadingQuery{DeviceID: dev.ID, From: allTime, To: endOfTime, Bucket: vibemon.BucketHour, Limit: 10000})
		must(t, err)
		return pts
	}
	wantHourly := hourly(s)
	s.Close()

	// Reopened where TimescaleDB is available, the populated schema stays
	// native; the first conversion is interrupted after its first partition.
	opts.Timescale = postgres.TimescaleAuto
	s1 := openStore(t, url, schema, opts)
	if s1.Hypertable() {
		t.Fatal("a populated schema was converted at Open")
	}
	cctx, cancel := context.WithCancel(ctx)
	var total int64
	calls := 0
	_, err = s1.ConvertToHypertable(cctx, postgres.ConvertProgress{
		Start: func(t, done int64) { total = t },
		Add: func(n int64) {
			// A statement per hour: the first partition (a day) is copied,
			// the second is interrupted.
			if calls++; calls == 30 {
				cancel()
			}
		},
	})
	cancel()
	if err == nil || s1.Hypertable() {
		t.Fatalf("interrupted conversion: err = %v, hypertable = %v; want an error and native partitions", err, s1.Hypertable())
	}
	if total != int64(len(rs)) {
		t.Errorf("the conversion announced %d readings, want %d", total, len(rs))
	}
	if got := countReadings(t, s1, org.ID, dev.ID, allTime, endOfTime, vibemon.BucketRaw) + countReadings(t, s1, org.ID, other.ID, allTime, endOfTime, vibemon.BucketRaw); got != int64(len(rs)) {
		t.Fatalf("%d readings after the interrupted conversion, want %d", got, len(rs))
	}
	// A server ran in between: a late reading lands in the first, already
	// copied partition (the oldest day's; the default one sorts last).
	firstDay, err := time.Parse("20060102", strings.TrimPrefix(parts[0], "readings_"))
	must(t, err)
	late := vibemon.NewReading(other.ID, 20000, firstDay.Add(30*time.Minute))
	isNew, err := s1.InsertReadings(ctx, org.ID, []vibemon.Reading{late})
	must(t, err)
	if !isNew[0] {
		t.Fatal("the late reading was taken for a duplicate")
	}
	s1.Close()

	s2 := openStore(t, url, schema, opts)
	var children int
	must(t, s2.Pool().QueryRow(ctx, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'readings'::regclass").Scan(&children))
	var done int64
	conv, err := s2.ConvertToHypertable(ctx, postgres.ConvertProgress{
		Start: func(t, d int64) { total, done = t, d },
		Add:   func(n int64) { done += n },
	})
	if err != nil {
		t.Fatalf("continue the conversion: %v", err)
	}
	if !s2.Hypertable() || conv.Already {
		t.Fatalf("after the conversion: hypertable = %v, report %+v", s2.Hypertable(), conv)
	}
	if want := int64(len(rs) + 1); conv.Rows != want || total != want || done != want {
		t.Errorf("converted %d readings, progress %d of %d; want %d", conv.Rows, done, total, want)
	}
	if conv.Partitions != children-1 || conv.Repaired != 1 {
		t.Errorf("copied %d partitions (want %d: all but the first) and repaired %d days (want 1, the late reading's)",
			conv.Partitions, children-1, conv.Repaired)
	}
	// Everything answers as before, from the hypertable.
	if got := countReadings(t, s2, org.ID, dev.ID, allTime, endOfTime, vibemon.BucketRaw) + countReadings(t, s2, org.ID, other.ID, allTime, endOfTime, vibemon.BucketRaw); got != int64(len(rs)+1) {
		t.Fatalf("%d readings after the conversion, want %d", got, len(rs)+1)
	}
	got := hourly(s2)
	if len(got) != len(wantHourly) {
		t.Fatalf("hourly series changed: %d buckets, want %d", len(got), len(wantHourly))
	}
	for i, p := range got {
		w := wantHourly[i]
		same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
		if p.TS.Equal(w.TS) && p.Count == w.Count && same(p.Avg[vibemon.TempC], w.Avg[vibemon.TempC]) && same(p.Max[vibemon.TempC], w.Max[vibemon.TempC]) {
			continue
		}
		t.Fatalf("hourly bucket %d changed: %v n=%d avg %.2f, want %v n=%d avg %.2f", i, p.TS, p.Count, p.Avg[vibemon.TempC], w.TS, w.Count, w.Avg[vibemon.TempC])
	}
	isNew, err = s2.InsertReadings(ctx, org.ID, append([]vibemon.Reading{late}, rs[:20]...))
	must(t, err)
	for i, fresh := range isNew {
		if fresh {
			t.Fatalf("resent reading %d stored again after the conversion", i)
		}
	}
	isNew, err = s2.InsertReadings(ctx, org.ID, []vibemon.Reading{vibemon.NewReading(dev.ID, 30000, now)})
	if err != nil || !isNew[0] {
		t.Fatalf("ingest after the conversion: %v %v", isNew, err)
	}
	must(t, s2.EnsurePartitions(ctx, now.AddDate(0, 0, 1)))
	chunks, err := s2.Chunks(ctx)
	must(t, err)
	if len(chunks) < 11 || !chunks[0].Start.Before(now.AddDate(0, 0, -39)) {
		t.Fatalf("%d chunks, the first from %v; want one per day of readings, the default partition's 40-day-old ones included", len(chunks), chunks[0].Start)
	}
	var left bool
	must(t, s2.Pool().QueryRow(ctx, "SELECT to_regclass('readings_conversion') IS NOT NULL OR to_regclass('readings_hyper') IS NOT NULL").Scan(&left))
	if left {
		t.Error("the conversion's tables are left behind")
	}
	// The compression policy is in place: its job compresses the old chunks.
	if ids, err := s2.RunTimescaleJobs(ctx); err != nil || len(ids) == 0 {
		t.Fatalf("no compression policy after the conversion: %v %v", ids, err)
	}
	if chunks, _ = s2.Chunks(ctx); !chunks[0].Compressed {
		t.Error("the oldest chunk is not compressed by the policy's job")
	}
	// Again: nothing to do. And a store opened later finds the hypertable.
	if conv, err := s2.ConvertToHypertable(ctx, postgres.ConvertProgress{}); err != nil || !conv.Already {
		t.Fatalf("second conversion: %+v %v; want Already", conv, err)
	}
	if again := openStore(t, url, schema, testOptions(schema)); !again.Hypertable() {
		t.Fatal("a store opened after the conversion does not see the hypertable")
	}
}

// TestConvertRefusesBesideReplicasAndWithoutTimescale: the conversion is
// offline, so it refuses while another process's store uses the schema,
// and it says what to install where TimescaleDB is missing.
func TestConvertRefusesBesideReplicasAndWithoutTimescale(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url)
	s := openStore(t, url, schema, testOptions(schema))
	replica := openStore(t, url, schema, testOptions(schema))
	must(t, replica.Ping(context.Background()))
	// A store on another schema of the same database is no obstacle.
	elsewhere := pgtest.Schema(t, url)
	must(t, openStore(t, url, elsewhere, testOptions(elsewhere)).Ping(context.Background()))

	_, err := s.ConvertToHypertable(context.Background(), postgres.ConvertProgress{})
	if vibemon.ErrorCode(err) != vibemon.ECONFLICT || !strings.Contains(err.Error(), "stop every vibemon serve") {
		t.Fatalf("conversion beside a running replica: %v; want a conflict telling to stop the servers", err)
	}
	replica.Close()
	_, err = s.ConvertToHypertable(context.Background(), postgres.ConvertProgress{})
	if s.TimescaleAvailable() {
		t.Skip("this PostgreSQL has TimescaleDB: the missing-extension message is not reachable here")
	}
	if err == nil || !strings.Contains(err.Error(), "install the extension") {
		t.Fatalf("conversion without TimescaleDB: %v; want the message telling to install it", err)
	}
}
