package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/storetest"
)

func openTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) vibemon.Store {
		return openTest(t, filepath.Join(t.TempDir(), "vibemon.db"))
	})
}

// fixture is an org with one device.
func fixture(t *testing.T, s *Store) (org, device int64) {
	t.Helper()
	o := &vibemon.Org{Name: "acme"}
	if err := s.CreateOrg(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	d := &vibemon.Device{OrgID: o.ID, Serial: "node-1"}
	if _, err := s.RegisterDevice(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	return o.ID, d.ID
}

func readings(device, seq0 int64, n int, start time.Time) []vibemon.Reading {
	rs := make([]vibemon.Reading, n)
	for i := range rs {
		rs[i] = vibemon.NewReading(device, seq0+int64(i), start.Add(time.Duration(i)*time.Minute))
		rs[i].Values[vibemon.VelRMSX] = float64(i)
	}
	return rs
}

func count(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.DB().QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vibemon.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	org, dev := fixture(t, s)
	if _, err := s.InsertReadings(t.Context(), org, readings(dev, 0, 100, t0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Ping(t.Context()); vibemon.ErrorCode(err) != vibemon.EUNAVAILABLE {
		t.Errorf("Ping after Close = %v, want unavailable", err)
	}
	if _, err := s.InsertReadings(t.Context(), org, readings(dev, 0, 1, t0)); vibemon.ErrorCode(err) != vibemon.EUNAVAILABLE {
		t.Errorf("InsertReadings after Close = %v, want unavailable", err)
	}

	s = openTest(t, path)
	d, err := s.GetDevice(t.Context(), org, dev)
	if err != nil {
		t.Fatalf("device after reopen: %v", err)
	}
	if d.LastSeenAt == nil || !d.LastSeenAt.Equal(t0.Add(99*time.Minute)) {
		t.Errorf("LastSeenAt after reopen = %v, want %v", d.LastSeenAt, t0.Add(99*time.Minute))
	}
	pts, err := s.QueryReadings(t.Context(), org, vibemon.ReadingQuery{DeviceID: dev, From: t0, To: t0.Add(24 * time.Hour), Bucket: vibemon.BucketRaw})
	if err != nil || len(pts) != 100 {
		t.Fatalf("raw readings after reopen = %d (%v), want 100", len(pts), err)
	}
	isNew, err := s.InsertReadings(t.Context(), org, readings(dev, 0, 100, t0))
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range isNew {
		if n {
			t.Fatalf("reading %d is new again after reopen", i)
		}
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vibemon.db")
	for i := 0; i < 3; i++ {
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		v, err := s.SchemaVersion(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if want := LatestSchemaVersion(); v != want || want < 1 {
			t.Errorf("open %d: schema version %d, want %d", i, v, want)
		}
		// One row per migration file (versions need not be contiguous).
		ms, err := loadMigrations()
		if err != nil {
			t.Fatal(err)
		}
		if n := count(t, s, "schema_migrations"); n != len(ms) {
			t.Errorf("open %d: %d rows in schema_migrations, want %d", i, n, len(ms))
		}
		s.Close()
	}
}

func TestPragmas(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "vibemon.db"))
	var mode string
	var fk, sync int
	conn, err := s.wdb.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for q, dst := range map[string]any{"PRAGMA journal_mode": &mode, "PRAGMA foreign_keys": &fk, "PRAGMA synchronous": &sync} {
		if err := conn.QueryRowContext(t.Context(), q).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	if mode != "wal" || fk != 1 || sync != 2 {
		t.Errorf("write connection: journal_mode=%s foreign_keys=%d synchronous=%d, want wal, 1, 2 (FULL)", mode, fk, sync)
	}
	if _, err := s.DB().Exec("DELETE FROM orgs"); err == nil {
		t.Error("the read pool accepted a write")
	}
}

// TestSchemaHasEveryMetric pins the migration to vibemon's metric list: a
// metric added to the root package needs a migration.
func TestSchemaHasEveryMetric(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "vibemon.db"))
	for _, table := range []string{"readings", "rollup_1m", "rollup_1h", "rollup_1d"} {
		rows, err := s.DB().Query("SELECT name FROM pragma_table_info(?)", table)
		if err != nil {
			t.Fatal(err)
		}
		cols := map[string]bool{}
		for rows.Next() {
			var c string
			rows.Scan(&c)
			cols[c] = true
		}
		rows.Close()
		for _, m := range vibemon.AllMetrics() {
			name := m.String()
			if table != "readings" {
				name += "_sum"
			}
			if !cols[name] {
				t.Errorf("table %s has no column %s", table, name)
			}
		}
	}
}

// TestFailedBatchStoresNothing coalesces three callers into one
// transaction, one of which sends a reading the schema rejects: every
// caller gets an error and none of the readings is stored.
func TestFailedBatchStoresNothing(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "vibemon.db"))
	org, dev := fixture(t, s)

	// Hold the only write connection so that the writer waits with the
	// first request while the others queue behind it.
	conn, err := s.wdb.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	bad := readings(dev, 1000, 3, t0)
	bad[1].Seq = -1 // outside the CHECK constraint; callers normally validate
	batches := [][]vibemon.Reading{readings(dev, 0, 10, t0), bad, readings(dev, 100, 10, t0)}
	errs := make([]error, len(batches))
	var wg sync.WaitGroup
	for i, b := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.InsertReadings(context.Background(), org, b)
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(s.w.reqs) < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if len(s.w.reqs) < 2 {
		t.Fatalf("only %d requests queued", len(s.w.reqs))
	}
	conn.Close()
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			t.Errorf("caller %d: no error, want the failed transaction's error", i)
		}
	}
	for _, table := range []string{"readings", "rollup_1m", "rollup_1h", "rollup_1d"} {
		if n := count(t, s, table); n != 0 {
			t.Errorf("%s has %d rows after a failed batch, want 0", table, n)
		}
	}
	d, err := s.GetDevice(t.Context(), org, dev)
	if err != nil {
		t.Fatal(err)
	}
	if d.LastSeenAt != nil {
		t.Errorf("LastSeenAt = %v after a failed batch, want nil", d.LastSeenAt)
	}
	// The writer recovers: the good batches go in on their own.
	for _, b := range [][]vibemon.Reading{batches[0], batches[2]} {
		if _, err := s.InsertReadings(t.Context(), org, b); err != nil {
			t.Fatalf("insert after failed batch: %v", err)
		}
	}
	if n := count(t, s, "readings"); n != 20 {
		t.Errorf("readings = %d, want 20", n)
	}
}

// TestCoalescing checks that queued callers share one transaction and
// each gets its own flags.
func TestCoalescing(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "vibemon.db"))
	org, dev := fixture(t, s)
	if _, err := s.InsertReadings(t.Context(), org, readings(dev, 0, 5, t0)); err != nil {
		t.Fatal(err)
	}
	conn, err := s.wdb.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	before := s.IngestStats()
	batches := [][]vibemon.Reading{readings(dev, 0, 10, t0), readings(dev, 3, 10, t0), readings(dev, 100, 10, t0)}
	flags := make([][]bool, len(batches))
	errs := make([]error, len(batches))
	var wg sync.WaitGroup
	for i, b := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			flags[i], errs[i] = s.InsertReadings(context.Background(), org, b)
		}()
	}
	for len(s.w.reqs) < 2 {
		time.Sleep(time.Millisecond)
	}
	conn.Close()
	wg.Wait()
	total := 0
	for i := range batches {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		for _, f := range flags[i] {
			if f {
				total++
			}
		}
	}
	after := s.IngestStats()
	if txs, calls := after.Transactions-before.Transactions, after.Calls-before.Calls; txs != 1 || calls != 3 {
		t.Errorf("3 queued calls took %d transactions (%d calls), want 1", txs, calls)
	}
	if got := after.New - before.New; got != 18 {
		t.Errorf("IngestStats.New grew by %d, want 18", got)
	}
	// seq 0..12 and 100..109 exist once; 0..4 existed before.
	if want := 8 + 10; total != want {
		t.Errorf("new readings across coalesced callers = %d, want %d", total, want)
	}
	if got := flags[2]; !got[0] || !got[9] {
		t.Errorf("disjoint caller flags = %v, want all new", got)
	}
}

// TestCancelledWhileQueued: a caller whose context ends while it waits
// gets the context's error, and its readings are not stored.
func TestCancelledWhileQueued(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "vibemon.db"))
	org, dev := fixture(t, s)
	conn, err := s.wdb.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() {
		_, err := s.InsertReadings(context.Background(), org, readings(dev, 0, 1, t0))
		done <- err
	}()
	for len(s.w.reqs) > 0 || !writerWaiting(s) {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, err := s.InsertReadings(ctx, org, readings(dev, 50, 1, t0))
		done <- err
	}()
	for len(s.w.reqs) < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != context.Canceled && !isCanceled(err) {
		t.Errorf("cancelled caller: err = %v, want context.Canceled", err)
	}
	conn.Close()
	if err := <-done; err != nil {
		t.Fatalf("first caller: %v", err)
	}
	// Let the writer see the cancelled request, then check it was skipped.
	if _, err := s.InsertReadings(t.Context(), org, readings(dev, 200, 1, t0)); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.DB().QueryRow("SELECT count(*) FROM readings WHERE seq = 50").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the cancelled caller's reading was stored")
	}
}

func writerWaiting(s *Store) bool { return s.wdb.Stats().WaitCount > 0 }

func isCanceled(err error) bool {
	for err != nil {
		if err == context.Canceled {
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

func TestDeleteDeviceRemovesRows(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "vibemon.db"))
	org, dev := fixture(t, s)
	if _, err := s.InsertReadings(t.Context(), org, readings(dev, 0, 120, t0)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDevice(t.Context(), org, dev); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"readings", "rollup_1m", "rollup_1h", "rollup_1d", "alerts", "devices"} {
		if n := count(t, s, table); n != 0 {
			t.Errorf("%s has %d rows after DeleteDevice, want 0", table, n)
		}
	}
}

// TestNaNIsNull: a metric that was not measured is NULL on disk, so SQL
// aggregates and other tools see "no value", not NaN.
func TestNaNIsNull(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "vibemon.db"))
	org, dev := fixture(t, s)
	r := vibemon.NewReading(dev, 1, t0)
	r.Values[vibemon.TempC] = 21.5
	if _, err := s.InsertReadings(t.Context(), org, []vibemon.Reading{r}); err != nil {
		t.Fatal(err)
	}
	var nulls int
	var temp float64
	if err := s.DB().QueryRow("SELECT (acc_rms_x IS NULL) + (rssi_dbm IS NULL), temp_c FROM readings").Scan(&nulls, &temp); err != nil {
		t.Fatal(err)
	}
	if nulls != 2 || temp != 21.5 {
		t.Errorf("nulls=%d temp=%v, want 2 and 21.5", nulls, temp)
	}
	var n int
	var lo any
	if err := s.DB().QueryRow("SELECT acc_rms_x_n, acc_rms_x_min FROM rollup_1h").Scan(&n, &lo); err != nil {
		t.Fatal(err)
	}
	if n != 0 || lo != nil {
		t.Errorf("rollup for an unmeasured metric: n=%d min=%v, want 0 and NULL", n, lo)
	}
}

// TestErrorsDoNotLeakSQL: a constraint error reaches the caller as an
// application error whose message holds no SQL.
func TestErrorsDoNotLeakSQL(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "vibemon.db"))
	org, dev := fixture(t, s)
	r := vibemon.NewReading(dev, -5, t0)
	r.Values[0] = 1
	_, err := s.InsertReadings(t.Context(), org, []vibemon.Reading{r})
	if vibemon.ErrorCode(err) != vibemon.EINVALID {
		t.Errorf("code = %q (%v), want invalid", vibemon.ErrorCode(err), err)
	}
	for _, word := range []string{"INSERT", "CHECK", "readings"} {
		if msg := vibemon.ErrorMessage(err); contains(msg, word) {
			t.Errorf("message %q leaks %q", msg, word)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestRepeatInsideChunk: a key sent twice inside one multi-row chunk is
// stored once and reported new once, at its first position.
func TestRepeatInsideChunk(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "vibemon.db"))
	org, dev := fixture(t, s)
	rs := readings(dev, 0, 2*multiRows+3, t0)
	rs[10] = rs[5]
	rs[multiRows+1] = rs[2] // across chunks
	isNew, err := s.InsertReadings(t.Context(), org, rs)
	if err != nil {
		t.Fatal(err)
	}
	for i, got := range isNew {
		want := i != 10 && i != multiRows+1
		if got != want {
			t.Errorf("isNew[%d] = %v, want %v", i, got, want)
		}
	}
	if n, want := count(t, s, "readings"), len(rs)-2; n != want {
		t.Errorf("stored %d readings, want %d", n, want)
	}
}

// TestOpenOddPath: data dirs with spaces or URI characters open the file
// that was named, not an escaped variant.
func TestOpenOddPath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "my data #1?x=y", "vibe mon.db")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, p)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Errorf("the database file is not at the given path: %v", err)
	}
}
