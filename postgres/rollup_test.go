package postgres_test

import (
	"context"
	"maps"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/pgtest"
	"github.com/vibemon/vibemon/postgres"
)

// TestMergeWhileIngesting: two replicas ingest three devices' readings
// (three days at one per minute, values with gaps) from four writers while
// both merge rollup deltas every millisecond. Bucketed queries at every
// resolution, in the middle (part merged, part not) and after a final
// merge, give exactly the counts, minima and maxima computed in Go from the
// readings, and averages equal to within rounding; nothing is left in
// rollup_delta after the final merge.
func TestMergeWhileIngesting(t *testing.T) {
	mergeWhileIngesting(t, false)
}

// TestMergeWhileIngestingAcrossTheWatermark is the same with the
// watermark moving through the readings: the replicas' clock starts at
// the first reading and every batch sent moves it 30 minutes on (ahead of most writers), so each
// merge raises ingest_from while the writers send readings on both sides
// of it, some current (rolled up from the table by the merge or the
// query), some late (deltas), and some batches both.
func TestMergeWhileIngestingAcrossTheWatermark(t *testing.T) {
	mergeWhileIngesting(t, true)
}

func mergeWhileIngesting(t *testing.T, moving bool) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url)
	base := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(base.UnixNano())
	opts := testOptions(schema)
	opts.MergeInterval = time.Millisecond
	if moving {
		opts.Now = func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	}
	if moving {
		// Before the replicas' merges run: they never move it back.
		openStore(t, url, schema, testOptions(schema)).Close()
		setWatermark(t, url, schema, base)
	}
	a := openStore(t, url, schema, opts)
	b := openStore(t, url, schema, opts)
	ctx := context.Background()
	o := &vibemon.Org{Name: "acme"}
	must(t, a.CreateOrg(ctx, o))
	const perDevice = 3 * 24 * 60
	var devs []int64
	all := map[int64][]vibemon.Reading{}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3; i++ {
		d := &vibemon.Device{OrgID: o.ID, Serial: "n" + string(rune('a'+i))}
		_, err := a.RegisterDevice(ctx, d)
		must(t, err)
		devs = append(devs, d.ID)
		for seq := 0; seq < perDevice; seq++ {
			r := vibemon.NewReading(d.ID, int64(seq), base.Add(time.Duration(seq)*time.Minute+time.Duration(rng.IntN(59))*time.Second))
			r.Values[vibemon.TempC] = 20 + 60*rng.Float64()
			if seq%7 != 0 { // a metric that is missing from some readings
				r.Values[vibemon.VelRMSX] = 10 * rng.Float64()
			}
			all[d.ID] = append(all[d.ID], r)
		}
	}
	// Four writers, two per replica, each sending batches of 240 of every
	// device in turn, in an order of their own; every reading is sent by
	// two writers.
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < perDevice/240; k++ {
				start := ((k + w*5) % (perDevice / 240)) * 240
				for _, id := range devs {
					if _, err := s.InsertReadings(ctx, o.ID, all[id][start:start+240]); err != nil {
						t.Errorf("InsertReadings: %v", err)
						return
					}
					if moving {
						// The clock runs ahead of the writers, and the
						// watermark follows it, also between the background
						// merges.
						clock.Add(int64(30 * time.Minute))
						if _, err := s.MergeRollups(ctx); err != nil {
							t.Errorf("MergeRollups: %v", err)
							return
						}
					}
				}
			}
		}()
	}
	check := func(when string) {
		t.Helper()
		for _, id := range devs {
			for _, bucket := range []vibemon.Bucket{vibemon.BucketMinute, vibemon.BucketHour, vibemon.BucketDay} {
				q := vibemon.ReadingQuery{DeviceID: id, From: base, To: base.Add(3 * 24 * time.Hour), Bucket: bucket,
					Metrics: []vibemon.Metric{vibemon.TempC, vibemon.VelRMSX}}
				got, err := b.QueryReadings(ctx, o.ID, q)
				must(t, err)
				want := expectBuckets(all[id], bucket, q.Metrics)
				comparePoints(t, when+" "+string(bucket), got, want)
			}
		}
	}
	wg.Wait()
	check("with merges running")
	for _, s := range []*postgres.Store{a, b} {
		_, err := s.MergeRollups(ctx)
		must(t, err)
	}
	if n, err := a.PendingRollupDeltas(ctx); err != nil || n != 0 {
		t.Errorf("after the final merge rollup_delta holds %d rows (err %v), want 0", n, err)
	}
	check("after the final merge")
	if moving {
		// Both ways were taken: some readings are marked, some are not.
		var marked, unmarked int64
		must(t, a.Pool().QueryRow(ctx, "SELECT count(*) FILTER (WHERE raw_rollup), count(*) FILTER (WHERE raw_rollup IS NULL) FROM readings").Scan(&marked, &unmarked))
		if marked == 0 || unmarked == 0 {
			t.Errorf("%d readings were rolled up from the table and %d through deltas; want some of each", marked, unmarked)
		}
		var epoch int64
		var from time.Time
		must(t, a.Pool().QueryRow(ctx, "SELECT epoch, ingest_from FROM rollup_watermark").Scan(&epoch, &from))
		t.Logf("%d readings rolled up from the table, %d through deltas; epoch %d, ingest_from %v", marked, unmarked, epoch, from)
	}
}

// expectBuckets aggregates rs as a rollup should: per UTC-aligned bucket,
// the count, and per metric the average, minimum and maximum of the values
// present (NaN when none).
func expectBuckets(rs []vibemon.Reading, bucket vibemon.Bucket, ms []vibemon.Metric) []vibemon.Point {
	var out []vibemon.Point
	sums := make([]float64, len(ms))
	ns := make([]int, len(ms))
	for _, r := range rs { // in time order
		ts := r.TS.Truncate(bucket.Duration())
		if len(out) == 0 || !out[len(out)-1].TS.Equal(ts) {
			if len(out) > 0 {
				finish(&out[len(out)-1], sums, ns)
			}
			p := vibemon.Point{TS: ts, Avg: make([]float64, len(ms)), Min: make([]float64, len(ms)), Max: make([]float64, len(ms))}
			for i := range ms {
				p.Min[i], p.Max[i], sums[i], ns[i] = math.NaN(), math.NaN(), 0, 0
			}
			out = append(out, p)
		}
		p := &out[len(out)-1]
		p.Count++
		for i, m := range ms {
			v := r.Values[m]
			if math.IsNaN(v) {
				continue
			}
			if ns[i] == 0 || v < p.Min[i] {
				p.Min[i] = v
			}
			if ns[i] == 0 || v > p.Max[i] {
				p.Max[i] = v
			}
			sums[i] += v
			ns[i]++
		}
	}
	if len(out) > 0 {
		finish(&out[len(out)-1], sums, ns)
	}
	return out
}

func finish(p *vibemon.Point, sums []float64, ns []int) {
	for i := range sums {
		p.Avg[i] = math.NaN()
		if ns[i] > 0 {
			p.Avg[i] = sums[i] / float64(ns[i])
		}
	}
}

// comparePoints: same buckets and counts, the same minima and maxima, and
// averages equal but for the order of additions.
func comparePoints(t *testing.T, what string, got, want []vibemon.Point) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d buckets, want %d", what, len(got), len(want))
	}
	same := func(a, b float64, tol float64) bool {
		if math.IsNaN(a) || math.IsNaN(b) {
			return math.IsNaN(a) && math.IsNaN(b)
		}
		return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.TS.Equal(w.TS) || g.Count != w.Count {
			t.Fatalf("%s: bucket %d = %s count %d, want %s count %d", what, i, g.TS, g.Count, w.TS, w.Count)
		}
		for m := range w.Avg {
			if !same(g.Avg[m], w.Avg[m], 1e-12) || !same(g.Min[m], w.Min[m], 0) || !same(g.Max[m], w.Max[m], 0) {
				t.Fatalf("%s: bucket %s metric %d: avg/min/max %v/%v/%v, want %v/%v/%v", what, w.TS, m,
					g.Avg[m], g.Min[m], g.Max[m], w.Avg[m], w.Min[m], w.Max[m])
			}
		}
	}
}

// TestCompactDeltasReadBackExactly: delta rows leave NULL what follows from
// their other columns (migration 0019): n when every reading had the metric,
// sum when none had it, min and max when one had it. A minute whose
// readings carry a metric in all, some, one or none of them, written as
// several delta rows, gives the same counts, averages, minima and maxima at
// every bucket before the merge (read from the deltas) and after it (from
// the rollups) as computed in Go from the readings.
func TestCompactDeltasReadBackExactly(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url)
	opts := testOptions(schema)
	opts.MaxBatch = -1 // one transaction, so one delta row per minute, per call
	s := openStore(t, url, schema, opts)
	ctx := context.Background()
	o := &vibemon.Org{Name: "acme"}
	must(t, s.CreateOrg(ctx, o))
	dev := registerDevices(t, s, o.ID, 1, "n")[0]
	base := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	metrics := []vibemon.Metric{vibemon.TempC, vibemon.VelRMSX, vibemon.AccRMSX, vibemon.AccPeakX}
	var all []vibemon.Reading
	for i := range 7 {
		r := vibemon.NewReading(dev, int64(i), base.Add(time.Duration(i)*7*time.Second)) // one minute
		r.Values[vibemon.TempC] = 30 + float64(i)                                        // in every reading
		if i%2 == 0 {
			r.Values[vibemon.VelRMSX] = 1.5 * float64(i) // in some
		}
		if i == 4 {
			r.Values[vibemon.AccRMSX] = -2.25 // in one
		}
		all = append(all, r) // AccPeakX in none
	}
	// Calls of 1, 2 and 4 readings: three delta rows of the same minute,
	// each with its own mix of NULLs.
	for _, part := range [][2]int{{0, 1}, {1, 3}, {3, 7}} {
		_, err := s.InsertReadings(ctx, o.ID, all[part[0]:part[1]])
		must(t, err)
	}
	check := func(when string) {
		t.Helper()
		for _, bucket := range []vibemon.Bucket{vibemon.BucketMinute, vibemon.BucketHour, vibemon.BucketDay} {
			q := vibemon.ReadingQuery{DeviceID: dev, From: base.Truncate(24 * time.Hour), To: base.Add(24 * time.Hour), Bucket: bucket, Metrics: metrics}
			got, err := s.QueryReadings(ctx, o.ID, q)
			must(t, err)
			comparePoints(t, when+" "+string(bucket), got, expectBuckets(all, bucket, metrics))
		}
	}
	if n, err := s.PendingRollupDeltas(ctx); err != nil || n != 3 {
		t.Fatalf("rollup_delta holds %d rows (err %v), want 3", n, err)
	}
	check("from the deltas")
	// A row as ingest wrote it before 0019 (every n and sum, 0 for a
	// missing metric; min and max only where n > 0), of the next minute:
	// one reading with TempC only. A missing metric's sum of 0 must not
	// pass for its minimum or maximum.
	old := vibemon.NewReading(dev, 100, base.Add(time.Minute))
	old.Values[vibemon.TempC] = 55
	all = append(all, old)
	_, err := s.Pool().Exec(ctx, `INSERT INTO rollup_delta (device_id, bucket_start, count,
		temp_c_n, temp_c_sum, temp_c_min, temp_c_max, vel_rms_x_n, vel_rms_x_sum, acc_rms_x_n, acc_rms_x_sum, acc_peak_x_n, acc_peak_x_sum)
		VALUES ($1, $2, 1, 1, 55, 55, 55, 0, 0, 0, 0, 0, 0)`, dev, base.Add(time.Minute))
	must(t, err)
	check("from the deltas, with a row of the old format")
	_, err = s.MergeRollups(ctx)
	must(t, err)
	check("after the merge")
}

// TestCountRolledUpCountsEveryWay: vibemon migrate's check counts a
// device's rolled-up readings as queries do, wherever they are: current
// readings not rolled up yet (in the table), late ones in deltas, and both
// after the merge.
func TestCountRolledUpCountsEveryWay(t *testing.T) {
	s, o, url, schema := acmeStore(t)
	base := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	setWatermark(t, url, schema, base)
	ctx := context.Background()
	ids := registerDevices(t, s, o.ID, 2, "n")
	var rs []vibemon.Reading
	for i := 0; i < 30; i++ {
		rs = append(rs, vibemon.NewReading(ids[0], int64(i), base.Add(time.Duration(i)*time.Minute)))            // current, one per minute
		rs = append(rs, vibemon.NewReading(ids[1], int64(i), base.Add(-time.Hour+time.Duration(i)*time.Second))) // late
	}
	_, err := s.InsertReadings(ctx, o.ID, rs)
	must(t, err)
	want := map[int64]int64{ids[0]: 30, ids[1]: 30}
	for _, when := range []string{"before the merge", "after the merge"} {
		got, err := s.CountRolledUpByDevice(ctx)
		must(t, err)
		if !maps.Equal(got, want) {
			t.Errorf("%s: rolled-up counts %v, want %v", when, got, want)
		}
		_, _, err = s.MergeRollupsBefore(ctx, base.Add(time.Hour))
		must(t, err)
	}
	var marked int64
	must(t, s.Pool().QueryRow(ctx, "SELECT count(*) FROM readings WHERE raw_rollup").Scan(&marked))
	if marked != 30 {
		t.Errorf("%d readings are marked to be rolled up from the table, want the 30 current ones", marked)
	}
}

// TestTryMergeSkipsWhileAMergeRuns: while a merge holds the merge lock (as
// one held up by the monthly rewrite would), TryMergeRollups returns at
// once and merges nothing, MergeRollups waits its turn, and once the lock
// is free both merge.
func TestTryMergeSkipsWhileAMergeRuns(t *testing.T) {
	s, o, _, _ := acmeStore(t)
	ctx := context.Background()
	ids := registerDevices(t, s, o.ID, 1, "n")
	var rs []vibemon.Reading
	for i := 0; i < 10; i++ { // late readings: deltas
		rs = append(rs, vibemon.NewReading(ids[0], int64(i), time.Date(2026, 3, 10, 0, 0, i, 0, time.UTC)))
	}
	_, err := s.InsertReadings(ctx, o.ID, rs)
	must(t, err)

	holder, err := s.Pool().Acquire(ctx)
	must(t, err)
	defer holder.Release()
	_, err = holder.Exec(ctx, "SELECT pg_advisory_lock(hashtext('vibemon rollup epoch ' || current_schema()), -1)")
	must(t, err)
	start := time.Now()
	if n, err := s.TryMergeRollups(ctx); err != nil || n != 0 || time.Since(start) > 5*time.Second {
		t.Fatalf("TryMergeRollups during another merge: %d rows, %v, after %v; want 0 at once", n, err, time.Since(start))
	}
	if n, _ := s.PendingRollupDeltas(ctx); n == 0 {
		t.Fatal("the deltas were merged while another merge held the lock")
	}
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := s.MergeRollups(wctx); err == nil {
		t.Fatal("MergeRollups returned while another merge held the lock; want it to wait (here until its context ended)")
	}
	_, err = holder.Exec(ctx, "SELECT pg_advisory_unlock(hashtext('vibemon rollup epoch ' || current_schema()), -1)")
	must(t, err)
	// The cancelled MergeRollups' session may hold the lock for a moment
	// more (its connection is being closed): TryMergeRollups skips until
	// then.
	var n int64
	for deadline := time.Now().Add(10 * time.Second); n == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if n, err = s.TryMergeRollups(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n == 0 {
		t.Fatal("TryMergeRollups merged nothing within 10 s of the lock's release")
	}
	if n, _ := s.PendingRollupDeltas(ctx); n != 0 {
		t.Errorf("%d deltas left after the merge", n)
	}
}
