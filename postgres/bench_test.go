package postgres_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/bench"
	"github.com/vibemon/vibemon/pgtest"
	"github.com/vibemon/vibemon/postgres"
)

// benchStore opens a store in a fresh schema with n devices of one org.
func benchStore(b *testing.B, n int, maxBatch, workers int) (*postgres.Store, int64, []int64) {
	b.Helper()
	url := pgtest.URL(b)
	schema := pgtest.Schema(b, url)
	opts := testOptions(schema)
	opts.MaxConns = 8
	opts.MaxBatch, opts.IngestWorkers = maxBatch, workers
	s := openStore(b, url, schema, opts)
	ctx := context.Background()
	o := &vibemon.Org{Name: "bench"}
	if err := s.CreateOrg(ctx, o); err != nil {
		b.Fatal(err)
	}
	return s, o.ID, registerDevices(b, s, o.ID, n, "BENCH-")
}

// BenchmarkInsertReadings: batches of 1,000 readings interleaving 100
// devices from 4 concurrent callers, through InsertReadings (idempotent,
// rollups, last-seen), coalesced (the default) or one transaction per call,
// and as a raw COPY of the same rows into a table of the readings' layout
// (CopyBaseline). One op is one batch. Run with a fixed count, e.g.
//
//	go test ./postgres -run '^$' -bench InsertReadings -benchtime 300x
func BenchmarkInsertReadings(b *testing.B) {
	const batchSize, devices, callers = 1000, 100, 4
	for _, mode := range []string{"api", "api-1worker", "api-nocoalesce", "rawcopy"} {
		b.Run(mode, func(b *testing.B) {
			maxBatch, workers := 0, 0
			switch mode {
			case "api-1worker":
				workers = 1
			case "api-nocoalesce":
				maxBatch = -1
			}
			s, org, ids := benchStore(b, devices, maxBatch, workers)
			batches := bench.Batches(bench.Rows(ids, b.N*batchSize, 0, time.Now(), 1), batchSize)
			b.ResetTimer()
			var n int
			var elapsed time.Duration
			var err error
			if mode != "rawcopy" {
				var r bench.Result
				r, err = bench.DirectIngest(context.Background(), s, org, batches, callers)
				n, elapsed = r.Readings, r.Elapsed
			} else {
				n, elapsed, err = s.CopyBaseline(context.Background(), batches, callers)
			}
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if n != b.N*batchSize {
				b.Fatalf("%d readings stored, want %d", n, b.N*batchSize)
			}
			b.ReportMetric(float64(n)/elapsed.Seconds(), "readings/s")
			if st := s.IngestStats(); st.Transactions > 0 {
				b.ReportMetric(float64(st.Calls)/float64(st.Transactions), "calls/tx")
			}
		})
	}
}

// BenchmarkHourlyQuery30d: one device's 30 days at 1h buckets, all metrics,
// from a rollup_1h that holds 90 days of 200 devices (written directly with
// generate_series, not through ingest, to keep the fixture fast). One op is
// one query; p95-ms is over the ops of the run.
func BenchmarkHourlyQuery30d(b *testing.B) {
	s, org, ids := benchStore(b, 200, 0, 0)
	ctx := context.Background()
	end := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	cols, vals := "device_id, bucket_start, count", "d, h, 360"
	for _, m := range vibemon.AllMetrics() {
		cols += fmt.Sprintf(", %[1]s_n, %[1]s_sum, %[1]s_min, %[1]s_max", m)
		vals += ", 360, 360 * random(), random() * 0.1, 1 + random()"
	}
	_, err := s.Pool().Exec(ctx, "INSERT INTO rollup_1h ("+cols+") SELECT "+vals+
		" FROM unnest($1::bigint[]) d, generate_series($2::timestamptz - interval '90 days', $2::timestamptz - interval '1 hour', interval '1 hour') h",
		ids, end)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, "ANALYZE rollup_1h"); err != nil {
		b.Fatal(err)
	}
	q := vibemon.ReadingQuery{DeviceID: ids[len(ids)/2], From: end.Add(-30 * 24 * time.Hour), To: end, Bucket: vibemon.BucketHour}
	durs := make([]time.Duration, 0, b.N)
	var mu sync.Mutex
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		pts, err := s.QueryReadings(ctx, org, q)
		d := time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if len(pts) != 720 {
			b.Fatalf("%d hourly points, want 720", len(pts))
		}
		mu.Lock()
		durs = append(durs, d)
		mu.Unlock()
	}
	b.StopTimer()
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)*95/100].Microseconds())/1000, "p95-ms")
}

// BenchmarkQueryYear: the query target on its fixture: 1,000
// devices with a year of data, 365 daily partitions of readings, and
// rollup_1h holding every hour of the year for every device (8.76 M rows,
// written with generate_series, not through ingest; the hourly query reads
// only rollup_1h). The fixture takes minutes to build, so it is kept in the
// schema vibemon_bench_year and reused by later runs; drop it with
// DROP SCHEMA vibemon_bench_year CASCADE. Sub-benchmarks: the 30-day hourly
// query of one device (random device per op) from 1 and from 4 concurrent
// callers, and a 1-hour raw query (which plans against the 365 partitions).
// p95-ms is over the ops of the run.
//
//	go test ./postgres -run '^$' -bench QueryYear -benchtime 400x
func BenchmarkQueryYear(b *testing.B) {
	url := pgtest.URL(b)
	const schema, devices, days = "vibemon_bench_year", 1000, 365
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	opts := testOptions(schema)
	opts.MaxConns = 8
	opts.PartitionsBehind = days
	opts.Now = func() time.Time { return end.Add(-time.Hour) }
	s, err := postgres.Open(context.Background(), url, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var org int64
	var ids []int64
	err = s.Pool().QueryRow(ctx, "SELECT org_id, array_agg(id ORDER BY id) FROM devices GROUP BY org_id").Scan(&org, &ids)
	var hours int64
	if err == nil {
		err = s.Pool().QueryRow(ctx, "SELECT count(*) FROM rollup_1h").Scan(&hours)
	}
	if err != nil || len(ids) != devices || hours != devices*days*24 {
		b.Logf("building the fixture in schema %s (minutes; kept for later runs)", schema)
		t0 := time.Now()
		for _, st := range []string{"TRUNCATE rollup_1h", "DELETE FROM devices", "DELETE FROM orgs"} {
			if _, err := s.Pool().Exec(ctx, st); err != nil {
				b.Fatal(err)
			}
		}
		o := &vibemon.Org{Name: "bench"}
		if err := s.CreateOrg(ctx, o); err != nil {
			b.Fatal(err)
		}
		org, ids = o.ID, nil
		for i := 0; i < devices; i++ {
			d := &vibemon.Device{OrgID: o.ID, Serial: fmt.Sprintf("BENCH-%05d", i)}
			if _, err := s.RegisterDevice(ctx, d); err != nil {
				b.Fatal(err)
			}
			ids = append(ids, d.ID)
		}
		cols, vals := "device_id, bucket_start, count", "d, h, 60"
		for _, m := range vibemon.AllMetrics() {
			cols += fmt.Sprintf(", %[1]s_n, %[1]s_sum, %[1]s_min, %[1]s_max", m)
			vals += ", 60, 60 * random(), random() * 0.1, 1 + random()"
		}
		for i := 0; i < devices; i += 50 {
			_, err := s.Pool().Exec(ctx, "INSERT INTO rollup_1h ("+cols+") SELECT "+vals+
				" FROM unnest($1::bigint[]) d, generate_series($2::timestamptz - $3 * interval '1 day', $2::timestamptz - interval '1 hour', interval '1 hour') h",
				ids[i:i+50], end, days)
			if err != nil {
				b.Fatal(err)
			}
		}
		if _, err := s.Pool().Exec(ctx, "VACUUM ANALYZE rollup_1h"); err != nil {
			b.Fatal(err)
		}
		b.Logf("fixture built in %s", time.Since(t0).Round(time.Second))
	}
	// A day of raw readings for the raw query, in the last partition.
	if _, err := s.Pool().Exec(ctx, "TRUNCATE readings, reading_seen"); err != nil {
		b.Fatal(err)
	}
	if _, err := s.InsertReadings(ctx, org, bench.Rows(ids[:100], 100*60, 0, end.Add(-2*time.Hour), 1)); err != nil {
		b.Fatal(err)
	}
	hourly := func(i int) (vibemon.ReadingQuery, int) {
		return vibemon.ReadingQuery{DeviceID: ids[(i*7919)%len(ids)], From: end.Add(-30 * 24 * time.Hour), To: end, Bucket: vibemon.BucketHour}, 720
	}
	raw := func(i int) (vibemon.ReadingQuery, int) {
		return vibemon.ReadingQuery{DeviceID: ids[i%100], From: end.Add(-3 * time.Hour), To: end.Add(-time.Hour), Bucket: vibemon.BucketRaw}, 60
	}
	for _, tc := range []struct {
		name    string
		q       func(int) (vibemon.ReadingQuery, int)
		callers int
	}{
		{"hourly30d", hourly, 1},
		{"hourly30d-4callers", hourly, 4},
		{"raw1h-365partitions", raw, 1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			durs := make([]time.Duration, b.N)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for c := 0; c < tc.callers; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1) - 1)
						if i >= b.N {
							return
						}
						q, want := tc.q(i)
						t0 := time.Now()
						pts, err := s.QueryReadings(ctx, org, q)
						durs[i] = time.Since(t0)
						if err != nil {
							b.Error(err)
							return
						}
						if len(pts) != want {
							b.Errorf("%d points, want %d", len(pts), want)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(durs)
			b.ReportMetric(float64(durs[len(durs)*95/100].Microseconds())/1000, "p95-ms")
			b.ReportMetric(float64(durs[len(durs)/2].Microseconds())/1000, "p50-ms")
		})
	}
}

// BenchmarkQueryLayout: the 30-day hourly query on rollup_1h rows laid out
// as the merge writes them (hour by hour across 1,000 devices: a device's
// month spread over ~700 pages), then after ReorderRollups rewrote the
// months in (device, hour) order, in one run on one fresh fixture (1,000
// devices, 2026-01-01 to "now", 2026-03-31 12:00: 2.1 M rows, a minute or
// two to build). Two queries: 30 days over the ended January and February
// ("interleaved", "reordered": those months rewritten the final time), and
// 30 days ending now ("today-*"), all but 12 hours of them in the current
// month, as merged and after its daily rewrite (its whole days sorted,
// today's 12 hours as merged). The first ReorderRollups call is that daily
// rewrite of a full month to date (30 days and 12 hours of 1,000 devices);
// each call's time is logged. "cold" sub-benchmarks first drop the OS page
// cache (skipped when /proc/sys/vm/drop_caches is not writable) and query
// each device once, so their pages come from disk unless PostgreSQL's own
// buffers hold them; "warm" ones query random devices from the OS cache.
//
//	go test ./postgres -run '^$' -bench QueryLayout -benchtime 200x
func BenchmarkQueryLayout(b *testing.B) {
	url := pgtest.URL(b)
	schema := pgtest.Schema(b, url)
	now := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	opts := testOptions(schema)
	opts.MaxConns = 4
	opts.Now = func() time.Time { return now }
	opts.PartitionsBehind = 89 // from 2026-01-01
	s := openStore(b, url, schema, opts)
	ctx := context.Background()
	o := &vibemon.Org{Name: "bench"}
	if err := s.CreateOrg(ctx, o); err != nil {
		b.Fatal(err)
	}
	var ids []int64
	for i := 0; i < 1000; i++ {
		d := &vibemon.Device{OrgID: o.ID, Serial: fmt.Sprintf("BENCH-%05d", i)}
		if _, err := s.RegisterDevice(ctx, d); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cols, vals := "device_id, bucket_start, count", "d, h, 60"
	for _, m := range vibemon.AllMetrics() {
		cols += fmt.Sprintf(", %[1]s_n, %[1]s_sum, %[1]s_min, %[1]s_max", m)
		vals += ", 60, 60 * random(), random() * 0.1, 1 + random()"
	}
	t0 := time.Now()
	for d0 := start; d0.Before(now); d0 = d0.AddDate(0, 0, 1) {
		last := d0.Add(23 * time.Hour)
		if !last.Before(now) {
			last = now.Add(-time.Hour)
		}
		_, err := s.Pool().Exec(ctx, "INSERT INTO rollup_1h ("+cols+") SELECT "+vals+
			" FROM generate_series($2::timestamptz, $3::timestamptz, interval '1 hour') h, unnest($1::bigint[]) d ORDER BY h, d",
			ids, d0, last)
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.Pool().Exec(ctx, "VACUUM ANALYZE rollup_1h"); err != nil {
		b.Fatal(err)
	}
	b.Logf("fixture built in %s", time.Since(t0).Round(time.Second))
	ended := time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC) // 30 days over January and February
	today := now.Add(-30 * 24 * time.Hour)                // 30 days ending now
	query := func(b *testing.B, from time.Time, dev int64) time.Duration {
		t0 := time.Now()
		pts, err := s.QueryReadings(ctx, o.ID, vibemon.ReadingQuery{DeviceID: dev, From: from, To: from.Add(30 * 24 * time.Hour), Bucket: vibemon.BucketHour})
		d := time.Since(t0)
		if err != nil || len(pts) != 720 {
			b.Fatalf("query: %d points, %v; want 720", len(pts), err)
		}
		return d
	}
	// buffers is how many pages the rollup part of one device's query
	// touches (EXPLAIN's shared hit + read): load does not move it.
	buffers := func(b *testing.B, from time.Time, dev int64) float64 {
		var plan []struct {
			Plan struct {
				Hit  float64 `json:"Shared Hit Blocks"`
				Read float64 `json:"Shared Read Blocks"`
			} `json:"Plan"`
		}
		err := s.Pool().QueryRow(ctx, `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT * FROM rollup_1h
			WHERE device_id = $1 AND bucket_start >= $2 AND bucket_start < $3 ORDER BY bucket_start`,
			dev, from, from.Add(30*24*time.Hour)).Scan(&plan)
		if err != nil || len(plan) != 1 {
			b.Fatalf("explain: %v", err)
		}
		return plan[0].Plan.Hit + plan[0].Plan.Read
	}
	report := func(b *testing.B, from time.Time, durs []time.Duration) {
		b.ReportMetric(buffers(b, from, ids[len(ids)/2]), "buffers")
		slices.Sort(durs)
		b.ReportMetric(float64(durs[len(durs)*95/100].Microseconds())/1000, "p95-ms")
		b.ReportMetric(float64(durs[len(durs)/2].Microseconds())/1000, "p50-ms")
	}
	cold := func(from time.Time) func(b *testing.B) {
		return func(b *testing.B) {
			if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("1"), 0); err != nil {
				b.Skipf("cannot drop the page cache: %v", err)
			}
			durs := make([]time.Duration, b.N)
			b.ResetTimer()
			for i := range durs {
				durs[i] = query(b, from, ids[(i*7919)%len(ids)])
			}
			report(b, from, durs)
		}
	}
	warm := func(from time.Time) func(b *testing.B) {
		return func(b *testing.B) {
			durs := make([]time.Duration, b.N)
			b.ResetTimer()
			for i := range durs {
				durs[i] = query(b, from, ids[(i*104729+13)%len(ids)])
			}
			report(b, from, durs)
		}
	}
	b.Run("interleaved-cold", cold(ended))
	b.Run("interleaved-warm", warm(ended))
	b.Run("today-interleaved-cold", cold(today))
	b.Run("today-interleaved-warm", warm(today))
	// The current month's daily rewrite comes first, then the ended
	// months' final ones. A merge that starts 100 ms into the daily rewrite
	// waits for it: how long is logged.
	r := vibemon.NewReading(ids[0], 1, now.Add(-30*time.Minute))
	r.Values[vibemon.TempC] = 20
	if _, err := s.InsertReadings(ctx, o.ID, []vibemon.Reading{r}); err != nil {
		b.Fatal(err)
	}
	merged := make(chan time.Duration, 1)
	time.AfterFunc(100*time.Millisecond, func() {
		t0 := time.Now()
		if _, err := s.MergeRollups(ctx); err != nil {
			b.Error(err)
		}
		merged <- time.Since(t0)
	})
	t0 = time.Now()
	for {
		t1 := time.Now()
		name, err := s.ReorderRollups(ctx, now)
		if err != nil {
			b.Fatal(err)
		}
		if name == "" {
			break
		}
		b.Logf("rewrote %s in %s", name, time.Since(t1).Round(time.Millisecond))
		if merged != nil {
			b.Logf("a merge started 100 ms into it took %s", (<-merged).Round(time.Millisecond))
			merged = nil
		}
	}
	b.Logf("all rewrites in %s", time.Since(t0).Round(time.Millisecond))
	b.Run("reordered-cold", cold(ended))
	b.Run("reordered-warm", warm(ended))
	b.Run("today-rewritten-cold", cold(today))
	b.Run("today-rewritten-warm", warm(today))
}
