package postgres_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/pgtest"
	"github.com/vibemon/vibemon/postgres"
)

// TestReplicasStoreEachReadingOnce: two stores on one schema (two server
// replicas) receive overlapping batches of the same device at the same
// time, each call in its own transaction. Every reading is new exactly
// once across both, and the raw readings and the hourly rollup count each
// reading once: the optimistic claim of the seen bitmaps loses no reading
// and double-counts none.
func TestReplicasStoreEachReadingOnce(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url)
	opts := testOptions(schema)
	opts.MaxBatch = -1 // one transaction per call: the most concurrency
	a := openStore(t, url, schema, opts)
	b := openStore(t, url, schema, opts)
	ctx := context.Background()
	o := &vibemon.Org{Name: "acme"}
	must(t, a.CreateOrg(ctx, o))
	d := registerDevice(t, a, o.ID, "n1")
	base := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	const total = 3000 // spans several blocks of the bitmap (512 per block), from seq 4000
	reading := func(seq int) vibemon.Reading {
		r := vibemon.NewReading(d.ID, int64(4000+seq), base.Add(time.Duration(seq)*time.Second))
		r.Values[vibemon.TempC] = 40
		return r
	}
	// Eight writers, four per replica; writer w sends windows of 200
	// readings starting at every 100th seq from w*10, so each reading is
	// sent by several writers, in different batches and orders.
	news := newCounter{n: map[[2]int64]int{}}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for start := w * 10; start < total; start += 100 {
				rs := make([]vibemon.Reading, 0, 200)
				for i := start; i < min(start+200, total); i++ {
					rs = append(rs, reading(i))
				}
				if !news.insert(t, s, o.ID, rs) {
					return
				}
			}
		}()
	}
	wg.Wait()
	// Seqs below 10 are sent by writer 0 only, the rest by several.
	for i := 0; i < total; i++ {
		if n := news.n[[2]int64{d.ID, int64(4000 + i)}]; n != 1 {
			t.Fatalf("seq %d reported new %d times, want once", 4000+i, n)
		}
	}
	if n := countReadings(t, a, o.ID, d.ID, base, base.Add(2*time.Hour), vibemon.BucketRaw); n != total {
		t.Errorf("%d raw readings stored, want %d", n, total)
	}
	for _, bucket := range []vibemon.Bucket{vibemon.BucketMinute, vibemon.BucketHour, vibemon.BucketDay} {
		if n := countReadings(t, b, o.ID, d.ID, base, base.Add(2*time.Hour), bucket); n != total {
			t.Errorf("%s rollups count %d readings, want %d", bucket, n, total)
		}
	}
	t.Logf("retries: replica a %d, replica b %d", a.IngestStats().Retries, b.IngestStats().Retries)
}

// TestUpgradeKeepsIdempotencyKeys: an installation from before migration
// 0008 has its (device, seq) keys in reading_keys; the migration turns them
// into reading_seen bitmaps, after which the stored readings are still
// refused as duplicates and the others are still new (the bit order of
// PostgreSQL's set_bit and of the store agree).
func TestUpgradeKeepsIdempotencyKeys(t *testing.T) {
	s, o, _, _ := acmeStore(t)
	ctx := context.Background()
	d := registerDevice(t, s, o.ID, "n1")
	base := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)

	// The table as migration 0001 made it, with the keys of seqs stored
	// before the upgrade: both ends of a block, a middle, the next block,
	// the largest seq.
	stored := []int64{0, 7, 8, 511, 512, 4095, 4096, 5000, vibemon.MaxSeq}
	_, err := s.Pool().Exec(ctx, `DROP TABLE reading_seen;
		CREATE TABLE reading_keys (device_id bigint NOT NULL, seq bigint NOT NULL CHECK (seq BETWEEN 0 AND 4294967295),
			ts timestamptz NOT NULL, PRIMARY KEY (device_id, seq))`)
	must(t, err)
	for _, seq := range stored {
		_, err := s.Pool().Exec(ctx, "INSERT INTO reading_keys VALUES ($1, $2, $3)", d.ID, seq, base)
		must(t, err)
	}
	sql, err := os.ReadFile("migrations/0008_reading_seen.sql")
	must(t, err)
	// Only the reading_seen part: its last statements set the fillfactor
	// of the rollup tables, which a partitioned rollup_1h (0014) refuses.
	keys, _, ok := strings.Cut(string(sql), "-- Rollup rows are updated in place")
	if !ok {
		t.Fatal("0008_reading_seen.sql no longer has its rollup part; adjust this test")
	}
	_, err = s.Pool().Exec(ctx, keys)
	must(t, err)
	// Then 0018 splits the 4096-bit rows into 512-bit ones.
	split, err := os.ReadFile("migrations/0018_reading_seen_512.sql")
	must(t, err)
	_, err = s.Pool().Exec(ctx, string(split))
	must(t, err)

	var rs []vibemon.Reading
	for _, seq := range []int64{0, 1, 6, 7, 8, 9, 510, 511, 512, 513, 4094, 4095, 4096, 4097, 5000, vibemon.MaxSeq - 1, vibemon.MaxSeq} {
		r := vibemon.NewReading(d.ID, seq, base.Add(time.Duration(len(rs))*time.Second))
		r.Values[vibemon.TempC] = 40
		rs = append(rs, r)
	}
	isNew, err := s.InsertReadings(ctx, o.ID, rs)
	must(t, err)
	for i, r := range rs {
		want := true
		for _, seq := range stored {
			if seq == r.Seq {
				want = false
			}
		}
		if isNew[i] != want {
			t.Errorf("seq %d after the upgrade: new = %v, want %v", r.Seq, isNew[i], want)
		}
	}
}

// TestQueryDecodesBothFormats: the query path decodes binary results itself
// and falls back to pgx's Scan for text results (a URL with
// default_query_exec_mode=simple_protocol, as behind pgbouncer); both give
// the same points, NULLs as NaN.
func TestQueryDecodesBothFormats(t *testing.T) {
	s, o, url, schema := acmeStore(t)
	simple := openStore(t, url+"&default_query_exec_mode=simple_protocol", schema, testOptions(schema))
	ctx := context.Background()
	d := registerDevice(t, s, o.ID, "n1")
	base := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	var rs []vibemon.Reading
	for i := 0; i < 300; i++ {
		r := vibemon.NewReading(d.ID, int64(i), base.Add(time.Duration(i)*37*time.Second))
		r.Values[vibemon.TempC] = 20 + float64(i%7)
		if i%2 == 0 {
			r.Values[vibemon.VelRMSX] = float64(i) / 100
		}
		rs = append(rs, r)
	}
	insertN(t, s, o.ID, rs, len(rs))
	for _, b := range []vibemon.Bucket{vibemon.BucketRaw, vibemon.BucketMinute, vibemon.BucketHour, vibemon.BucketDay} {
		q := vibemon.ReadingQuery{DeviceID: d.ID, From: base, To: base.Add(4 * time.Hour), Bucket: b}
		bin, err := s.QueryReadings(ctx, o.ID, q)
		must(t, err)
		txt, err := simple.QueryReadings(ctx, o.ID, q)
		must(t, err)
		if len(bin) == 0 || len(bin) != len(txt) {
			t.Fatalf("%s: %d points (binary) and %d (text), want the same, more than 0", b, len(bin), len(txt))
		}
		for i := range bin {
			if fmt.Sprint(bin[i]) != fmt.Sprint(txt[i]) {
				t.Fatalf("%s point %d: binary %v, text %v", b, i, bin[i], txt[i])
			}
		}
		if p := bin[0]; !math.IsNaN(p.Avg[vibemon.AccRMSX]) || p.Avg[vibemon.TempC] < 20 {
			t.Errorf("%s first point: acc_rms_x %v (want NaN: never measured), temp_c %v", b, p.Avg[vibemon.AccRMSX], p.Avg[vibemon.TempC])
		}
	}
}

// TestLargeIngestTransactionsOverlap: with coalescing on, calls large
// enough (at least 1,000 readings, or half of MaxBatch if smaller) run in
// transactions that overlap each other, small ones run alone; either way,
// with writers sending the same readings in different batches at once,
// every reading is new exactly once and the rollups count it once.
func TestLargeIngestTransactionsOverlap(t *testing.T) {
	for _, tc := range []struct {
		name     string
		window   int  // readings per call
		maxBatch int  // Options.MaxBatch
		overlap  bool // whether transactions may overlap
	}{
		{"large calls", 1600, 3000, true},
		{"gateway batches, default MaxBatch", 1000, 0, true},
		{"calls above half of a small MaxBatch", 600, 1000, true},
		{"small calls", 50, 3000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := pgtest.URL(t)
			schema := pgtest.Schema(t, url)
			opts := testOptions(schema)
			opts.MaxBatch, opts.IngestWorkers = tc.maxBatch, 3
			s := openStore(t, url, schema, opts)
			ctx := context.Background()
			o := &vibemon.Org{Name: "acme"}
			must(t, s.CreateOrg(ctx, o))
			devs := registerDevices(t, s, o.ID, 2, "n")
			base := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
			const total = 6000 // per device
			// Six writers; writer w sends windows of tc.window readings of
			// both devices from w*tc.window/6, stepping by half a window, so
			// every reading is sent by several writers in different calls.
			news := newCounter{n: map[[2]int64]int{}}
			var wg sync.WaitGroup
			for w := range 6 {
				wg.Go(func() {
					half := tc.window / 4 // readings per device per half window
					for start := w * half / 3; start < total; start += half {
						var rs []vibemon.Reading
						for i := start; i < min(start+2*half, total); i++ {
							for _, d := range devs {
								r := vibemon.NewReading(d, int64(i), base.Add(time.Duration(i)*time.Second))
								r.Values[vibemon.TempC] = 40
								rs = append(rs, r)
							}
						}
						if !news.insert(t, s, o.ID, rs) {
							return
						}
					}
				})
			}
			wg.Wait()
			for _, d := range devs {
				for i := range total {
					if n := news.n[[2]int64{d, int64(i)}]; n != 1 {
						t.Fatalf("device %d seq %d reported new %d times, want once", d, i, n)
					}
				}
				for _, bucket := range []vibemon.Bucket{vibemon.BucketRaw, vibemon.BucketMinute, vibemon.BucketHour} {
					if n := countReadings(t, s, o.ID, d, base, base.Add(2*time.Hour), bucket); n != total {
						t.Errorf("device %d: %s counts %d readings, want %d", d, bucket, n, total)
					}
				}
			}
			st := s.IngestStats()
			t.Logf("%d calls in %d transactions, %d overlapping, %d retries", st.Calls, st.Transactions, st.Overlapped, st.Retries)
			if tc.overlap && st.Overlapped == 0 {
				t.Errorf("no transaction of large calls overlapped another")
			}
			if !tc.overlap && st.Overlapped != 0 {
				t.Errorf("%d transactions of small calls overlapped another, want none", st.Overlapped)
			}
		})
	}
}

// newCounter counts, per (device, seq), how many InsertReadings calls of
// concurrent writers reported the reading new.
type newCounter struct {
	mu sync.Mutex
	n  map[[2]int64]int
}

// insert stores rs and counts its new readings; false (and the test
// failed) on error.
func (c *newCounter) insert(t *testing.T, s *postgres.Store, org int64, rs []vibemon.Reading) bool {
	isNew, err := s.InsertReadings(context.Background(), org, rs)
	if err != nil {
		t.Errorf("InsertReadings: %v", err)
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, n := range isNew {
		if n {
			c.n[[2]int64{rs[i].DeviceID, rs[i].Seq}]++
		}
	}
	return true
}

// TestRandomOverlappingIngestStoresEachReadingOnce: two replicas, coalescing
// on, six writers each sending windows of random devices, starts and
// lengths (across many 512-seq bitmap blocks), in shuffled order, some sent
// twice, all at once. Every (device, seq) sent is reported new exactly once
// across all calls, and the raw readings and every rollup count it once.
// Fixed seeds keep a failure reproducible.
func TestRandomOverlappingIngestStoresEachReadingOnce(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			url := pgtest.URL(t)
			schema := pgtest.Schema(t, url)
			opts := testOptions(schema)
			opts.MaxConns = 6
			a := openStore(t, url, schema, opts)
			b := openStore(t, url, schema, opts)
			ctx := context.Background()
			o := &vibemon.Org{Name: "acme"}
			must(t, a.CreateOrg(ctx, o))
			devs := registerDevices(t, a, o.ID, 3, "n")
			base := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
			reading := func(dev, seq int64) vibemon.Reading {
				r := vibemon.NewReading(dev, seq, base.Add(time.Duration(seq)*time.Second))
				r.Values[vibemon.TempC] = float64(seq % 50)
				return r
			}
			news := newCounter{n: map[[2]int64]int{}}
			var sentMu sync.Mutex
			sent := map[[2]int64]bool{}
			var wg sync.WaitGroup
			for w := range 6 {
				rng := rand.New(rand.NewPCG(seed, uint64(w)))
				s := a
				if w%2 == 1 {
					s = b
				}
				wg.Go(func() {
					for range 40 {
						var rs []vibemon.Reading
						for range 1 + rng.IntN(3) { // a call mixes up to 3 windows
							dev := devs[rng.IntN(len(devs))]
							start := rng.Int64N(3000)
							for seq := start; seq < start+1+rng.Int64N(300); seq++ {
								rs = append(rs, reading(dev, seq))
							}
						}
						rng.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
						sentMu.Lock()
						for _, r := range rs {
							sent[[2]int64{r.DeviceID, r.Seq}] = true
						}
						sentMu.Unlock()
						for range 1 + rng.IntN(2) { // some calls twice
							if !news.insert(t, s, o.ID, rs) {
								return
							}
						}
					}
				})
			}
			wg.Wait()
			perDev := map[int64]int64{}
			for k := range sent {
				if n := news.n[k]; n != 1 {
					t.Fatalf("device %d seq %d reported new %d times, want once", k[0], k[1], n)
				}
				perDev[k[0]]++
			}
			if len(news.n) != len(sent) {
				t.Fatalf("%d readings reported new, %d distinct sent", len(news.n), len(sent))
			}
			_, err := a.MergeRollups(ctx)
			must(t, err)
			for _, d := range devs {
				for _, bucket := range []vibemon.Bucket{vibemon.BucketRaw, vibemon.BucketMinute, vibemon.BucketHour, vibemon.BucketDay} {
					if n := countReadings(t, b, o.ID, d, base, base.Add(2*time.Hour), bucket); n != perDev[d] {
						t.Errorf("device %d: %s counts %d readings, want %d", d, bucket, n, perDev[d])
					}
				}
			}
			t.Logf("%d distinct readings; retries: replica a %d, replica b %d", len(sent), a.IngestStats().Retries, b.IngestStats().Retries)
		})
	}
}

// countReadings returns how many of the device's readings in [from, to) a
// query at bucket counts: raw points, or the buckets' counts summed.
func countReadings(t *testing.T, s *postgres.Store, orgID, dev int64, from, to time.Time, bucket vibemon.Bucket) int64 {
	t.Helper()
	pts, err := s.QueryReadings(context.Background(), orgID, vibemon.ReadingQuery{DeviceID: dev, From: from, To: to, Bucket: bucket})
	must(t, err)
	if bucket == vibemon.BucketRaw {
		return int64(len(pts))
	}
	var n int64
	for _, p := range pts {
		n += p.Count
	}
	return n
}

// TestFastIngestChecksWhatItAssumed: once a store knows a device's org, its
// ingest plans without reading (every reading new, the watermark as last
// seen, the device still there) and checks each assumption in SQL before
// committing. Each broken assumption must cost a retry, never a wrong
// answer: a resent batch reports only its new readings, a merge on another
// replica (a new epoch) leaves the rollups exact, a device of another org
// is refused, and a device deleted through another replica (whose delete
// this store's cache never heard of) takes no reading.
func TestFastIngestChecksWhatItAssumed(t *testing.T) {
	a, o, url, schema := acmeStore(t)
	b := openStore(t, url, schema, testOptions(schema))
	ctx := context.Background()
	d := registerDevice(t, a, o.ID, "n1")
	start := time.Now().UTC().Truncate(time.Minute).Add(5 * time.Minute) // after ingest_from: current readings
	batch := func(from, to int) []vibemon.Reading {
		rs := make([]vibemon.Reading, 0, to-from)
		for i := from; i < to; i++ {
			// Six a minute: groups small enough to be left marked to the
			// merge (while current).
			r := vibemon.NewReading(d.ID, int64(i), start.Add(time.Duration(i)*10*time.Second))
			r.Values[vibemon.TempC] = float64(i)
			rs = append(rs, r)
		}
		return rs
	}
	insert := func(s *postgres.Store, rs []vibemon.Reading) []bool {
		t.Helper()
		isNew, err := s.InsertReadings(ctx, o.ID, rs)
		must(t, err)
		return isNew
	}
	newCount := func(isNew []bool) (n int) {
		for _, v := range isNew {
			if v {
				n++
			}
		}
		return n
	}

	insert(a, batch(0, 100)) // reads: a learns the device's org
	if n := newCount(insert(a, batch(100, 200))); n != 100 {
		t.Fatalf("second batch: %d new, want 100", n)
	}
	if st := a.IngestStats(); st.Fast != 1 || st.Retries != 0 {
		t.Fatalf("after a second batch of a known device: %+v, want 1 fast transaction and no retry", st)
	}

	// A resent batch with ten new readings at its end.
	isNew := insert(a, append(batch(0, 100), batch(200, 210)...))
	for i, v := range isNew {
		if v != (i >= 100) {
			t.Fatalf("resent batch: reading %d (seq %d) new = %v, want %v", i, i%100+100*(i/100)*2, v, i >= 100)
		}
	}
	if st := a.IngestStats(); st.Retries != 1 || st.New != 210 {
		t.Errorf("after a resent batch: %+v, want one retry and 210 new readings in all", st)
	}

	// Another replica's merge moves the watermark past the next readings in
	// a new epoch: they are late now, and must get deltas rather than be
	// left to a merge that has passed them.
	_, _, err := b.MergeRollupsBefore(ctx, start.Add(time.Hour))
	must(t, err)
	if n := newCount(insert(a, batch(210, 300))); n != 90 {
		t.Fatalf("after a merge elsewhere: %d new, want 90", n)
	}
	for _, bucket := range []vibemon.Bucket{vibemon.BucketRaw, vibemon.BucketMinute, vibemon.BucketHour, vibemon.BucketDay} {
		if n := countReadings(t, b, o.ID, d.ID, start, start.Add(time.Hour), bucket); n != 300 {
			t.Errorf("%s: %d readings counted, want 300", bucket, n)
		}
	}

	// A device this store knows in another org.
	o2 := &vibemon.Org{Name: "globex"}
	must(t, a.CreateOrg(ctx, o2))
	e := &vibemon.Device{OrgID: o2.ID, Serial: "g1"}
	_, err = a.RegisterDevice(ctx, e)
	must(t, err)
	_, err = a.InsertReadings(ctx, o2.ID, []vibemon.Reading{vibemon.NewReading(e.ID, 1, start)})
	must(t, err)
	_, err = a.InsertReadings(ctx, o.ID, []vibemon.Reading{vibemon.NewReading(e.ID, 2, start)})
	if vibemon.ErrorCode(err) != vibemon.ENOTFOUND {
		t.Errorf("a reading of another org's device: %v, want not_found", err)
	}

	// Deleted through replica b: a still believes in the device.
	must(t, b.DeleteDevice(ctx, o.ID, d.ID))
	_, err = a.InsertReadings(ctx, o.ID, batch(300, 400))
	if vibemon.ErrorCode(err) != vibemon.ENOTFOUND {
		t.Errorf("readings of a device deleted on another replica: %v, want not_found", err)
	}
	var n int
	must(t, a.Pool().QueryRow(ctx, "SELECT count(*) FROM readings WHERE device_id = $1", d.ID).Scan(&n))
	if n != 0 {
		t.Errorf("%d readings of the deleted device stored, want 0", n)
	}
}

// TestCollectorsReportIngestPoolAndLag: what an operator's Prometheus reads
// of the store: the ingest counters after a first (reading) and a second
// (fast) transaction, the pool's size, and how far the rollups lag behind,
// here an hour, as if no worker had merged since.
func TestCollectorsReportIngestPoolAndLag(t *testing.T) {
	s, o, url, schema := acmeStore(t)
	ctx := context.Background()
	d := registerDevice(t, s, o.ID, "n1")
	now := time.Now().UTC()
	for b := range 2 {
		rs := make([]vibemon.Reading, 50)
		for i := range rs {
			rs[i] = vibemon.NewReading(d.ID, int64(b*50+i), now.Add(time.Duration(b*50+i)*time.Second))
		}
		_, err := s.InsertReadings(ctx, o.ID, rs)
		must(t, err)
	}
	setWatermark(t, url, schema, now.Add(-time.Hour))
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collectors()...)
	mfs, err := reg.Gather()
	must(t, err)
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				got[mf.GetName()] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[mf.GetName()] = m.GetGauge().GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"vibemon_pg_ingest_calls_total":             2,
		"vibemon_pg_ingest_transactions_total":      2,
		"vibemon_pg_ingest_fast_transactions_total": 1,
		"vibemon_pg_ingest_retries_total":           0,
		"vibemon_pg_ingest_readings_total":          100,
		"vibemon_pg_ingest_new_readings_total":      100,
		"vibemon_pg_pool_max_conns":                 float64(testOptions(schema).MaxConns),
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (exported: %v), want %v", name, v, ok, want)
		}
	}
	if v := got["vibemon_pg_pool_total_conns"]; v < 1 {
		t.Errorf("vibemon_pg_pool_total_conns = %v, want at least the connection ingest used", v)
	}
	if _, ok := got["vibemon_pg_readings_chunks"]; ok {
		t.Error("vibemon_pg_readings_chunks is exported on native partitions; it is for a hypertable")
	}
	if lag := got["vibemon_pg_rollup_lag_seconds"]; lag < 3590 || lag > 3700 {
		t.Errorf("vibemon_pg_rollup_lag_seconds = %v, want about 3600 (materialized_to an hour ago)", lag)
	}

	// Without a database the scrape still succeeds, without the lag.
	s.Close()
	mfs, err = reg.Gather()
	if err != nil {
		t.Fatalf("scrape with the store closed: %v, want the other metrics", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "vibemon_pg_rollup_lag_seconds" {
			t.Error("vibemon_pg_rollup_lag_seconds exported while the database cannot be read")
		}
	}
	if len(mfs) != 12 {
		t.Errorf("%d metric families with the store closed, want the 12 that need no query", len(mfs))
	}
}
