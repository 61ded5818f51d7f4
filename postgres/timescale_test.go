package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/pgtest"
	"github.com/vibemon/vibemon/postgres"
	"github.com/vibemon/vibemon/storetest"
	"github.com/vibemon/vibemon/timescaletest"
)

// allTime and endOfTime bound queries for every reading a test stored.
var allTime, endOfTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

func openHypertableStore(t *testing.T, url string, opts postgres.Options) *postgres.Store {
	t.Helper()
	s := openStore(t, url, opts.Schema, opts)
	if !s.Hypertable() || s.TimescaleLicense() != "timescale" {
		t.Fatalf("readings is not a hypertable (licence %q) on the TimescaleDB server", s.TimescaleLicense())
	}
	return s
}

// TestConformanceTimescale runs the whole conformance suite with readings
// in a TimescaleDB hypertable: the same answers as on native partitions.
func TestConformanceTimescale(t *testing.T) {
	url := timescaletest.URL(t)
	storetest.Run(t, func(t *testing.T) vibemon.Store {
		schema := pgtest.Schema(t, url)
		return openHypertableStore(t, url, testOptions(schema))
	})
}

// TestConformanceContinuousAggregates runs the whole conformance suite with
// the stats in per-org continuous aggregates (caggs.go): every bucketed
// answer, retention and migration count as with the rollup tables.
func TestConformanceContinuousAggregates(t *testing.T) {
	url := timescaletest.URL(t)
	storetest.Run(t, func(t *testing.T) vibemon.Store {
		return openCaggStore(t, url, pgtest.Schema(t, url))
	})
}

// openCaggStore opens a store of a new schema with continuous aggregates.
func openCaggStore(t *testing.T, url, schema string) *postgres.Store {
	t.Helper()
	opts := testOptions(schema)
	opts.ContinuousAggregates = true
	s := openHypertableStore(t, url, opts)
	if !s.ContinuousAggregates() {
		t.Fatal("the store keeps its stats in rollup tables, not in continuous aggregates")
	}
	return s
}

// TestConformanceTimescaleCurrentMerged runs the suite on a hypertable with
// the suite's readings current (rolled up from the readings table, which
// is the hypertable here) and merged before each query: the merge's reads
// of marked readings work on chunks as on partitions.
func TestConformanceTimescaleCurrentMerged(t *testing.T) {
	url := timescaletest.URL(t)
	storetest.Run(t, func(t *testing.T) vibemon.Store {
		s := openCurrentStore(t, url)
		if !s.Hypertable() {
			t.Fatal("readings is not a hypertable on the TimescaleDB server")
		}
		return mergedStore{s}
	})
}

// TestTimescaleOffKeepsPartitions: TimescaleOff, and a schema whose
// readings already hold data, keep native partitions where TimescaleDB is
// available.
func TestTimescaleOffKeepsPartitions(t *testing.T) {
	url := timescaletest.URL(t)
	schema := pgtest.Schema(t, url)
	opts := testOptions(schema)
	opts.Timescale = postgres.TimescaleOff
	s := openStore(t, url, schema, opts)
	if s.Hypertable() {
		t.Fatal("TimescaleOff made readings a hypertable")
	}
	ctx := context.Background()
	org, dev := newPlant(t, s, 0)
	if _, err := s.InsertReadings(ctx, org.ID, []vibemon.Reading{vibemon.NewReading(dev.ID, 1, time.Now())}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	again := openStore(t, url, schema, testOptions(schema))
	if again.Hypertable() {
		t.Fatal("a schema whose partitioned readings hold data was converted at Open")
	}
	if n := countReadings(t, again, org.ID, dev.ID, allTime, endOfTime, vibemon.BucketRaw); n != 1 {
		t.Fatalf("%d readings after reopening, want 1", n)
	}
}

// TestTimescaleCompressionAndRetention: the compression policy, run as its
// job (CALL run_job), compresses the chunks older than CompressAfter and
// nothing younger; compressed readings still answer raw and hourly
// queries, stay idempotency keys, and go with their device; retention
// drops whole chunks past the longest org retention and deletes the
// shorter org's rows inside compressed chunks. With the stats in rollup
// tables and in continuous aggregates.
func TestTimescaleCompressionAndRetention(t *testing.T) {
	url := timescaletest.URL(t)
	t.Run("rollups", func(t *testing.T) { testCompressionAndRetention(t, url, false) })
	t.Run("continuous aggregates", func(t *testing.T) { testCompressionAndRetention(t, url, true) })
}

func testCompressionAndRetention(t *testing.T, url string, caggs bool) {
	schema := pgtest.Schema(t, url)
	now := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	opts := testOptions(schema)
	opts.Now = func() time.Time { return now }
	opts.CompressAfter = 3 * 24 * time.Hour
	opts.ContinuousAggregates = caggs
	s := openHypertableStore(t, url, opts)
	if s.ContinuousAggregates() != caggs {
		t.Fatalf("stats in continuous aggregates: %v, want %v", s.ContinuousAggregates(), caggs)
	}
	ctx := context.Background()
	start := now.Add(-20 * 24 * time.Hour).Truncate(24 * time.Hour)
	const step = 6 * time.Hour
	n := int(now.Sub(start)/step) + 1
	type plant struct {
		days int
		org  *vibemon.Org
		dev  *vibemon.Device
		rs   []vibemon.Reading
	}
	plants := []*plant{{days: 5}, {days: 15}}
	for _, p := range plants {
		p.org, p.dev = newPlant(t, s, p.days)
		p.rs = make([]vibemon.Reading, n)
		for i := range p.rs {
			p.rs[i] = vibemon.NewReading(p.dev.ID, int64(i), start.Add(time.Duration(i)*step))
			p.rs[i].Values[vibemon.TempC] = float64(40 + i%7)
		}
		if _, err := s.InsertReadings(ctx, p.org.ID, p.rs); err != nil {
			t.Fatal(err)
		}
	}

	// The policy's job compresses, as TimescaleDB's scheduler would. Its
	// clock is the database's, so "older than 3 days" is against the real
	// now: every chunk of 2026-02/03 qualifies.
	if ids, err := s.RunTimescaleJobs(ctx); err != nil || len(ids) == 0 {
		t.Fatalf("run jobs: %v %v", ids, err)
	}
	chunks, err := s.Chunks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) < 20 {
		t.Fatalf("%d chunks for 20 days of readings, want a chunk a day", len(chunks))
	}
	for _, c := range chunks {
		if !c.Compressed {
			t.Errorf("chunk %s (%s) not compressed by the policy", c.Name, c.Start.Format(time.DateOnly))
		}
	}
	if st, err := s.CompressionStats(ctx); err != nil || st.Compressed != int64(len(chunks)) || st.After <= 0 || st.Before <= 0 {
		t.Errorf("compression stats %+v, %v; want every chunk counted compressed, with its sizes before and after", st, err)
	}
	// The same, as Prometheus scrapes it.
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	gauges := map[string]float64{}
	for _, mf := range mfs {
		if g := mf.GetMetric()[0].GetGauge(); g != nil {
			gauges[mf.GetName()] = g.GetValue()
		}
	}
	if gauges["vibemon_pg_readings_chunks"] != float64(len(chunks)) || gauges["vibemon_pg_readings_compressed_chunks"] != float64(len(chunks)) ||
		gauges["vibemon_pg_readings_compressed_bytes_before"] <= 0 || gauges["vibemon_pg_readings_compressed_bytes_after"] <= 0 {
		t.Errorf("compression metrics %v; want %d chunks, all compressed, with their sizes", gauges, len(chunks))
	}
	// Compressed readings answer raw and hourly queries as before.
	p := plants[1]
	if got := countReadings(t, s, p.org.ID, p.dev.ID, start, now.Add(time.Hour), vibemon.BucketRaw); got != int64(n) {
		t.Fatalf("%d raw readings after compression, want %d", got, n)
	}
	hours, err := s.QueryReadings(ctx, p.org.ID, vibemon.ReadingQuery{DeviceID: p.dev.ID, From: start, To: now.Add(time.Hour), Bucket: vibemon.BucketHour, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if len(hours) != n || hours[3].Count != 1 || hours[3].Avg[vibemon.TempC] != p.rs[3].Values[vibemon.TempC] {
		t.Fatalf("hourly after compression: %d buckets (want %d), bucket 3 = %+v", len(hours), n, hours[3])
	}
	// A gateway resending compressed readings stores nothing twice.
	isNew, err := s.InsertReadings(ctx, p.org.ID, p.rs[:10])
	if err != nil {
		t.Fatal(err)
	}
	for i, fresh := range isNew {
		if fresh {
			t.Fatalf("resent reading %d (in a compressed chunk) stored again", i)
		}
	}

	rep, err := s.PruneReadings(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	// The longest retention is 15 days: chunks ending at or before it go
	// whole, by drop_chunks.
	cut := now.Add(-15 * 24 * time.Hour)
	var want []string
	for _, c := range chunks {
		if !c.End.After(cut) {
			want = append(want, c.Name)
		}
	}
	if len(want) == 0 || strings.Join(rep.PartitionsDropped, ",") != strings.Join(want, ",") {
		t.Fatalf("dropped %v, want %v", rep.PartitionsDropped, want)
	}
	if rep.RowsDeleted == 0 {
		t.Error("no rows deleted one by one: the 5-day org's rows between 15 and 5 days old should have been")
	}
	for _, p := range plants {
		cutoff := now.Add(-time.Duration(p.days) * 24 * time.Hour)
		want := 0
		for _, r := range p.rs {
			if !r.TS.Before(cutoff) {
				want++
			}
		}
		if got := countReadings(t, s, p.org.ID, p.dev.ID, start, now.Add(time.Hour), vibemon.BucketRaw); got != int64(want) {
			t.Errorf("%d-day org: %d readings after the prune, want %d", p.days, got, want)
		}
		// The hourly rollups are kept, as on native partitions.
		hours, err := s.QueryReadings(ctx, p.org.ID, vibemon.ReadingQuery{DeviceID: p.dev.ID, From: start, To: now.Add(time.Hour), Bucket: vibemon.BucketHour, Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		if len(hours) != n {
			t.Errorf("%d-day org: %d hourly buckets after the prune, want %d (rollups are kept)", p.days, len(hours), n)
		}
	}
	// A device deleted with readings in compressed chunks leaves none.
	if err := s.DeleteDevice(ctx, p.org.ID, p.dev.ID); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM readings WHERE device_id = $1", p.dev.ID).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d readings of the deleted device left in the hypertable", left)
	}
	if caggs {
		// Nor stats: its materialized minutes, hours and days go too.
		for _, v := range []string{"stats_1m", "hourly_stats", "daily_stats"} {
			if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM "+v+" WHERE device_id = $1", p.dev.ID).Scan(&left); err != nil {
				t.Fatal(err)
			}
			if left != 0 {
				t.Errorf("%d rows of the deleted device left in %s", left, v)
			}
		}
	}
}

// TestTimescaleOffKeepsAHypertable: TimescaleOff decides conversions only;
// a replica started with it on a schema whose readings are a hypertable
// already uses the hypertable (native partition upkeep would fail on it).
func TestTimescaleOffKeepsAHypertable(t *testing.T) {
	url := timescaletest.URL(t)
	schema := pgtest.Schema(t, url)
	first := openHypertableStore(t, url, testOptions(schema))
	ctx := context.Background()
	org, dev := newPlant(t, first, 0)
	opts := testOptions(schema)
	opts.Timescale = postgres.TimescaleOff
	off := openStore(t, url, schema, opts)
	if !off.Hypertable() {
		t.Fatal("a store opened with TimescaleOff on a hypertable schema does not know readings is a hypertable")
	}
	if err := off.EnsurePartitions(ctx, time.Now()); err != nil {
		t.Fatalf("partition upkeep on the hypertable: %v", err)
	}
	if _, err := off.InsertReadings(ctx, org.ID, []vibemon.Reading{vibemon.NewReading(dev.ID, 1, time.Now())}); err != nil {
		t.Fatal(err)
	}
	if n := countReadings(t, first, org.ID, dev.ID, allTime, endOfTime, vibemon.BucketRaw); n != 1 {
		t.Fatalf("%d readings, want 1", n)
	}
}

// TestTimescaleCompressionPolicyFollowsTheSetting: Options.CompressAfter
// (VIBEMON_TIMESCALEDB_COMPRESS_DAYS) sets the policy of a new hypertable
// and changes an existing one; a store opened without it (an admin
// command) leaves the policy as it is.
func TestTimescaleCompressionPolicyFollowsTheSetting(t *testing.T) {
	url := timescaletest.URL(t)
	schema := pgtest.Schema(t, url)
	policy := func(s *postgres.Store) time.Duration {
		t.Helper()
		var secs []float64
		rows, err := s.Pool().Query(context.Background(), `SELECT extract(epoch FROM (config->>'compress_after')::interval)::float8
			FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression'
			AND hypertable_schema = current_schema() AND hypertable_name = 'readings'`)
		if err == nil {
			secs, err = pgx.CollectRows(rows, pgx.RowTo[float64])
		}
		if err != nil || len(secs) != 1 {
			t.Fatalf("compression policies of readings: %v, %v; want one", secs, err)
		}
		return time.Duration(secs[0]) * time.Second
	}
	day := 24 * time.Hour
	for _, step := range []struct {
		set, want time.Duration
	}{{3 * day, 3 * day}, {0, 3 * day}, {5 * day, 5 * day}, {5 * day, 5 * day}} {
		opts := testOptions(schema)
		opts.CompressAfter = step.set
		s := openHypertableStore(t, url, opts)
		if got := policy(s); got != step.want {
			t.Errorf("opened with CompressAfter %s: policy compresses after %s, want %s", step.set, got, step.want)
		}
		s.Close()
	}
}
