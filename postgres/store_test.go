package postgres_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/pgtest"
	"github.com/vibemon/vibemon/postgres"
	"github.com/vibemon/vibemon/storetest"
)

// testOptions keeps test stores small (a few connections and partitions)
// and runs no background maintenance and no background merge of
// rollup deltas, so that each test decides when they happen.
func testOptions(schema string) postgres.Options {
	return postgres.Options{Schema: schema, MaxConns: 3, PartitionsAhead: 2, PartitionsBehind: 1, MaintenanceInterval: -1, MergeInterval: -1}
}

func openStore(t testing.TB, url, schema string, opts postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	url := pgtest.URL(t)
	storetest.Run(t, func(t *testing.T) vibemon.Store {
		schema := pgtest.Schema(t, url)
		return openStore(t, url, schema, testOptions(schema))
	})
}

// mergedStore merges every rollup delta before each query, so that the
// suite's bucketed queries read rollup rows (TestConformance reads them
// from the deltas: nothing merges there).
type mergedStore struct{ *postgres.Store }

func (s mergedStore) QueryReadings(ctx context.Context, orgID int64, q vibemon.ReadingQuery) ([]vibemon.Point, error) {
	if _, err := s.MergeRollups(ctx); err != nil {
		return nil, err
	}
	return s.Store.QueryReadings(ctx, orgID, q)
}

func TestConformanceMerged(t *testing.T) {
	url := pgtest.URL(t)
	storetest.Run(t, func(t *testing.T) vibemon.Store {
		schema := pgtest.Schema(t, url)
		return mergedStore{openStore(t, url, schema, testOptions(schema))}
	})
}

// The suite's readings are older than the time a store is opened at, so in
// the two tests above they are late readings: their rollups go through
// rollup_delta. The two below move the watermark back to before them, so
// that the same readings are current: small groups of them write nothing
// but the readings, and their rollups come from the readings table, by the
// queries themselves (no merge) or by the merge, which then moves the
// watermark to a minute before now, past all of them.
func TestConformanceCurrent(t *testing.T) {
	url := pgtest.URL(t)
	storetest.Run(t, func(t *testing.T) vibemon.Store { return openCurrentStore(t, url) })
}

func TestConformanceCurrentMerged(t *testing.T) {
	url := pgtest.URL(t)
	storetest.Run(t, func(t *testing.T) vibemon.Store { return mergedStore{openCurrentStore(t, url)} })
}

// openCurrentStore opens a store on a fresh schema whose watermark is
// before the conformance suite's readings.
func openCurrentStore(t *testing.T, url string) *postgres.Store {
	schema := pgtest.Schema(t, url)
	s := openStore(t, url, schema, testOptions(schema))
	setWatermark(t, url, schema, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
	return s
}

// setWatermark sets both ends of schema's rollup watermark to ts, as if a
// merge had last run then: readings stored from now on at or after ts are
// current (rolled up from the readings table), older ones late (deltas).
func setWatermark(t testing.TB, url, schema string, ts time.Time) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("set watermark: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "UPDATE "+pgx.Identifier{schema, "rollup_watermark"}.Sanitize()+" SET ingest_from = $1, materialized_to = $1", ts); err != nil {
		t.Fatalf("set watermark: %v", err)
	}
}

func TestOpenRejectsBadURL(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", postgres.Options{})
	if err == nil {
		t.Fatal("Open of a closed port succeeded, want an error")
	}
	if got := vibemon.ErrorCode(err); got != vibemon.EUNAVAILABLE {
		t.Errorf("error code = %q (%v), want %q", got, err, vibemon.EUNAVAILABLE)
	}
}

func TestPartitionsCreatedAhead(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url)
	now := time.Date(2026, 3, 10, 15, 4, 5, 0, time.UTC)
	opts := testOptions(schema)
	opts.Now = func() time.Time { return now }
	opts.PartitionsAhead, opts.PartitionsBehind = 3, 1
	s := openStore(t, url, schema, opts)

	got, err := s.Partitions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"readings_20260309", "readings_20260310", "readings_20260311", "readings_20260312", "readings_20260313"}
	if !slices.Equal(got, want) {
		t.Fatalf("partitions after Open = %v, want %v", got, want)
	}

	// A reading of a day that has no partition yet lands in the default
	// one; when its day's partition is made, it moves there and stays
	// readable, and a resend is still a duplicate.
	o := &vibemon.Org{Name: "acme"}
	must(t, s.CreateOrg(context.Background(), o))
	d := &vibemon.Device{OrgID: o.ID, Serial: "n1"}
	_, err = s.RegisterDevice(context.Background(), d)
	must(t, err)
	later := now.Add(5 * 24 * time.Hour) // 2026-03-15
	r := vibemon.NewReading(d.ID, 1, later)
	r.Values[vibemon.VelRMSX] = 2.5
	insertN(t, s, o.ID, []vibemon.Reading{r}, 1)
	if got := partitionOf(t, s, d.ID, 1); got != "readings_default" {
		t.Fatalf("reading of a day without partition is in %s, want readings_default", got)
	}

	// A day later a job moves the window to 2026-03-14, and drains the
	// default partition: 2026-03-15 has a reading there, so it gets its
	// partition now too; 2026-03-16 does not.
	must(t, s.EnsurePartitions(context.Background(), now.Add(24*time.Hour)))
	got, err = s.Partitions(context.Background())
	must(t, err)
	if !slices.Contains(got, "readings_20260314") || !slices.Contains(got, "readings_20260315") || slices.Contains(got, "readings_20260316") {
		t.Fatalf("partitions after EnsurePartitions(now+1d) = %v, want up to readings_20260315 (the window and the drained day)", got)
	}
	must(t, s.EnsurePartitions(context.Background(), later))
	if got := partitionOf(t, s, d.ID, 1); got != "readings_20260315" {
		t.Errorf("after EnsurePartitions the reading is in %s, want readings_20260315", got)
	}
	insertN(t, s, o.ID, []vibemon.Reading{r}, 0)
	pts, err := s.QueryReadings(context.Background(), o.ID, vibemon.ReadingQuery{DeviceID: d.ID, From: later, To: later.Add(time.Second), Bucket: vibemon.BucketRaw})
	must(t, err)
	if len(pts) != 1 || pts[0].Avg[vibemon.VelRMSX] != 2.5 {
		t.Errorf("raw query after the move = %+v, want the one reading with vel_rms_x 2.5", pts)
	}
	// Calling it again changes nothing.
	before, _ := s.Partitions(context.Background())
	must(t, s.EnsurePartitions(context.Background(), later))
	after, _ := s.Partitions(context.Background())
	if !slices.Equal(before, after) {
		t.Errorf("second EnsurePartitions changed partitions from %v to %v", before, after)
	}
}

// partitionOf returns the partition that holds the reading (device, seq).
func partitionOf(t *testing.T, s *postgres.Store, device, seq int64) string {
	t.Helper()
	var name string
	err := s.Pool().QueryRow(context.Background(), "SELECT tableoid::regclass::text FROM readings WHERE device_id = $1 AND seq = $2", device, seq).Scan(&name)
	if err != nil {
		t.Fatalf("partition of reading (%d, %d): %v", device, seq, err)
	}
	return name
}

func insertN(t *testing.T, s *postgres.Store, orgID int64, rs []vibemon.Reading, wantNew int) {
	t.Helper()
	isNew, err := s.InsertReadings(context.Background(), orgID, rs)
	if err != nil {
		t.Fatalf("InsertReadings: %v", err)
	}
	n := 0
	for _, b := range isNew {
		if b {
			n++
		}
	}
	if n != wantNew {
		t.Fatalf("InsertReadings: %d new, want %d", n, wantNew)
	}
}

// registerDevices registers n devices of org, serials prefix0, prefix1, ...,
// and returns their ids in that order.
func registerDevices(t testing.TB, s *postgres.Store, org int64, n int, prefix string) []int64 {
	t.Helper()
	ids := make([]int64, 0, n)
	for i := range n {
		d := &vibemon.Device{OrgID: org, Serial: fmt.Sprint(prefix, i)}
		if _, err := s.RegisterDevice(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	return ids
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestMigrationsIdempotentAndRaceSafe(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url)
	// Four replicas start at once against an empty schema.
	const n = 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	stores := make(chan *postgres.Store, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(context.Background(), url, testOptions(schema))
			if err != nil {
				errs <- err
				return
			}
			stores <- s
		}()
	}
	wg.Wait()
	close(errs)
	close(stores)
	for err := range errs {
		t.Errorf("concurrent Open: %v", err)
	}
	for s := range stores {
		defer s.Close()
	}
	// Opening again applies nothing and keeps the data.
	s := openStore(t, url, schema, testOptions(schema))
	o := &vibemon.Org{Name: "acme"}
	must(t, s.CreateOrg(context.Background(), o))
	s.Close()
	s = openStore(t, url, schema, testOptions(schema))
	v, err := s.SchemaVersion(context.Background())
	must(t, err)
	if v != postgres.LatestSchemaVersion() {
		t.Errorf("schema version = %d, want %d", v, postgres.LatestSchemaVersion())
	}
	// Versions need not be consecutive (PostgreSQL has no 0002: its 0001
	// includes SQLite's 0002), so count the files.
	files, err := filepath.Glob("migrations/*.sql")
	must(t, err)
	var applied int
	must(t, s.Pool().QueryRow(context.Background(), "SELECT count(*) FROM schema_migrations").Scan(&applied))
	if applied != len(files) {
		t.Errorf("schema_migrations has %d rows after 6 Opens, want %d (each migration once)", applied, len(files))
	}
	if _, err := s.GetOrg(context.Background(), o.ID); err != nil {
		t.Errorf("org after reopening: %v", err)
	}
}

func TestFailedBatchStoresNothing(t *testing.T) {
	s, o, _, _ := acmeStore(t)
	ctx := context.Background()
	d := registerDevice(t, s, o.ID, "n1")
	base := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)

	// The last reading violates the seq range the schema enforces: the
	// database rejects the batch in the middle of the statement, after the
	// first readings were staged and claimed.
	bad := make([]vibemon.Reading, 10)
	for i := range bad {
		bad[i] = vibemon.NewReading(d.ID, int64(i), base.Add(time.Duration(i)*time.Second))
		bad[i].Values[vibemon.VelRMSX] = 1
	}
	bad[9].Seq = vibemon.MaxSeq + 1
	if _, err := s.InsertReadings(ctx, o.ID, bad); err == nil {
		t.Fatal("InsertReadings with an out-of-range seq succeeded, want an error")
	}
	for _, b := range []vibemon.Bucket{vibemon.BucketRaw, vibemon.BucketMinute, vibemon.BucketDay} {
		pts, err := s.QueryReadings(ctx, o.ID, vibemon.ReadingQuery{DeviceID: d.ID, From: base, To: base.Add(time.Hour), Bucket: b})
		must(t, err)
		if len(pts) != 0 {
			t.Errorf("%s points after a failed batch = %d, want 0", b, len(pts))
		}
	}
	got, err := s.GetDevice(ctx, o.ID, d.ID)
	must(t, err)
	if got.LastSeenAt != nil {
		t.Errorf("LastSeenAt after a failed batch = %v, want nil", got.LastSeenAt)
	}
	// The same readings, fixed, are all new: no key was claimed.
	bad[9].Seq = 9
	insertN(t, s, o.ID, bad, 10)

	// A cancelled context also leaves nothing behind.
	c, cancel := context.WithCancel(ctx)
	cancel()
	more := []vibemon.Reading{vibemon.NewReading(d.ID, 100, base)}
	more[0].Values[vibemon.TempC] = 40
	if _, err := s.InsertReadings(c, o.ID, more); err == nil {
		t.Fatal("InsertReadings with a cancelled context succeeded")
	}
	insertN(t, s, o.ID, more, 1)
}

func TestHourlyQueryReadsRollups(t *testing.T) {
	s, o, _, _ := acmeStore(t)
	ctx := context.Background()
	d := registerDevice(t, s, o.ID, "n1")
	base := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	rs := make([]vibemon.Reading, 120)
	for i := range rs {
		rs[i] = vibemon.NewReading(d.ID, int64(i), base.Add(time.Duration(i)*time.Minute))
		rs[i].Values[vibemon.VelRMSX] = float64(i)
	}
	insertN(t, s, o.ID, rs, 120)
	// Empty the raw table behind the store's back: an hourly query must
	// still answer, from rollup_1h alone.
	_, err := s.Pool().Exec(ctx, "TRUNCATE readings")
	must(t, err)
	pts, err := s.QueryReadings(ctx, o.ID, vibemon.ReadingQuery{DeviceID: d.ID, From: base, To: base.Add(2 * time.Hour), Bucket: vibemon.BucketHour,
		Metrics: []vibemon.Metric{vibemon.VelRMSX}})
	must(t, err)
	if len(pts) != 2 || pts[0].Count != 60 || pts[0].Avg[0] != 29.5 || pts[1].Min[0] != 60 || pts[1].Max[0] != 119 {
		t.Errorf("hourly points = %+v, want 2 buckets of 60 (avg 29.5; min 60 max 119)", pts)
	}
}

// TestCoalescedCallsFailAlone: calls that share a transaction do not share
// a rejection; the call naming another org's device fails, the rest store.
func TestCoalescedCallsFailAlone(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url)
	s := openStore(t, url, schema, testOptions(schema))
	ctx := context.Background()
	var orgs [2]*vibemon.Org
	var devs [2]*vibemon.Device
	for i := range orgs {
		orgs[i] = &vibemon.Org{Name: fmt.Sprint("org", i)}
		must(t, s.CreateOrg(ctx, orgs[i]))
		devs[i] = &vibemon.Device{OrgID: orgs[i].ID, Serial: "n"}
		_, err := s.RegisterDevice(ctx, devs[i])
		must(t, err)
	}
	base := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	const callers = 8
	errs := make([]error, callers)
	news := make([]int, callers)
	var wg sync.WaitGroup
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := devs[0].ID
			if c == 3 {
				dev = devs[1].ID // org 0 writing to org 1's device
			}
			rs := make([]vibemon.Reading, 50)
			for i := range rs {
				rs[i] = vibemon.NewReading(dev, int64(c*50+i), base.Add(time.Duration(c*50+i)*time.Second))
				rs[i].Values[vibemon.TempC] = 40
			}
			isNew, err := s.InsertReadings(ctx, orgs[0].ID, rs)
			errs[c] = err
			for _, b := range isNew {
				if b {
					news[c]++
				}
			}
		}()
	}
	wg.Wait()
	for c := 0; c < callers; c++ {
		if c == 3 {
			if got := vibemon.ErrorCode(errs[c]); got != vibemon.ENOTFOUND {
				t.Errorf("caller %d (foreign device): error code %q (%v), want %q", c, got, errs[c], vibemon.ENOTFOUND)
			}
			continue
		}
		if errs[c] != nil || news[c] != 50 {
			t.Errorf("caller %d: %d new, err %v; want 50 new", c, news[c], errs[c])
		}
	}
	pts, err := s.QueryReadings(ctx, orgs[1].ID, vibemon.ReadingQuery{DeviceID: devs[1].ID, From: base, To: base.Add(time.Hour), Bucket: vibemon.BucketRaw})
	must(t, err)
	if len(pts) != 0 {
		t.Errorf("org 1's device has %d readings, want 0", len(pts))
	}
	st := s.IngestStats()
	if st.Calls != callers || st.New != (callers-1)*50 {
		t.Errorf("IngestStats = %+v, want %d calls and %d new", st, callers, (callers-1)*50)
	}
	t.Logf("%d calls in %d transactions", st.Calls, st.Transactions)
}

// TestDeleteDeviceDuringIngestLeavesNothing: ingest, the merge of rollup
// deltas and DeleteDevice race; whichever commits first, no reading, key,
// rollup or delta of the device is left. Odd rounds delete through a
// second store (another replica), so the ingesting store's knowledge of
// the device goes stale while its fast path runs.
func TestDeleteDeviceDuringIngestLeavesNothing(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url)
	opts := testOptions(schema)
	opts.MergeInterval = time.Millisecond // merges race both as well
	s := openStore(t, url, schema, opts)
	other := openStore(t, url, schema, opts)
	ctx := context.Background()
	o := &vibemon.Org{Name: "acme"}
	must(t, s.CreateOrg(ctx, o))
	base := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	for round := 0; round < 6; round++ {
		d := &vibemon.Device{OrgID: o.ID, Serial: fmt.Sprint("n", round)}
		_, err := s.RegisterDevice(ctx, d)
		must(t, err)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; b < 10; b++ {
				rs := make([]vibemon.Reading, 200)
				for i := range rs {
					rs[i] = vibemon.NewReading(d.ID, int64(b*200+i), base.Add(time.Duration(b*200+i)*time.Second))
					rs[i].Values[vibemon.TempC] = 40
				}
				if _, err := s.InsertReadings(ctx, o.ID, rs); err != nil {
					if vibemon.ErrorCode(err) != vibemon.ENOTFOUND {
						t.Errorf("InsertReadings racing DeleteDevice: %v, want nil or not_found", err)
					}
					return
				}
			}
		}()
		time.Sleep(time.Duration(round/2*20) * time.Millisecond)
		deleter := s
		if round%2 == 1 {
			deleter = other
		}
		must(t, deleter.DeleteDevice(ctx, o.ID, d.ID))
		wg.Wait()
		for _, table := range []string{"readings", "reading_seen", "rollup_1m", "rollup_1h", "rollup_1d", "rollup_delta"} {
			var n int
			// Deltas that a running merge holds are skipped by DeleteDevice
			// and dropped by that merge when it commits, moments later.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				must(t, s.Pool().QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE device_id = $1", d.ID).Scan(&n))
				if n == 0 || table != "rollup_delta" || time.Now().After(deadline) {
					break
				}
			}
			if n != 0 {
				t.Errorf("round %d: %s has %d rows of the deleted device, want 0", round, table, n)
			}
		}
	}
}

// registerDevice registers a device of orgID with serial in s.
func registerDevice(t *testing.T, s *postgres.Store, orgID int64, serial string) *vibemon.Device {
	t.Helper()
	d := &vibemon.Device{OrgID: orgID, Serial: serial}
	if _, err := s.RegisterDevice(context.Background(), d); err != nil {
		t.Fatalf("register device %s: %v", serial, err)
	}
	return d
}

// acmeStore opens a store with the test options on a fresh schema and
// creates the org "acme" in it.
func acmeStore(t *testing.T) (s *postgres.Store, o *vibemon.Org, url, schema string) {
	t.Helper()
	url = pgtest.URL(t)
	schema = pgtest.Schema(t, url)
	s = openStore(t, url, schema, testOptions(schema))
	o = &vibemon.Org{Name: "acme"}
	must(t, s.CreateOrg(context.Background(), o))
	return s, o, url, schema
}
