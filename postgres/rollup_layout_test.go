package postgres_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

// TestReorderRollupsRewritesEndedMonths: hourly rollups of 12 devices over
// two months, ingested hour by hour across the devices (the layout the
// merge produces), are rewritten one ended month per call in (device, hour)
// order; months that have not ended (plus ReorderAfter) are left alone,
// every query answers as before, and readings that arrive for a rewritten
// month while it is being rewritten, with merges running every
// millisecond, are all counted.
func TestReorderRollupsRewritesEndedMonths(t *testing.T) {
	url := testURL(t)
	schema := newSchema(t, url)
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC) // February ended 1.5 days ago: not due yet
	opts := testOptions(schema)
	opts.Now = func() time.Time { return now }
	opts.PartitionsBehind, opts.PartitionsAhead = 62, 1 // months 2025-12 .. 2026-03
	s := openStore(t, url, schema, opts)
	ctx := context.Background()
	o := &vibemon.Org{Name: "acme"}
	must(t, s.CreateOrg(ctx, o))
	var devs []int64
	for i := 0; i < 12; i++ {
		d := &vibemon.Device{OrgID: o.ID, Serial: fmt.Sprint("n", i)}
		_, err := s.RegisterDevice(ctx, d)
		must(t, err)
		devs = append(devs, d.ID)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const hours = 59 * 24 // January and February
	// Two readings per device and hour; every 12 hours one batch of all
	// devices, merged at once: the rows of half a day of every device are
	// written together.
	seq := make(map[int64]int64)
	for h := 0; h < hours; h += 12 {
		var rs []vibemon.Reading
		for k := 0; k < 12; k++ {
			for _, id := range devs {
				for j := 0; j < 2; j++ {
					r := vibemon.NewReading(id, seq[id], base.Add(time.Duration(h+k)*time.Hour+time.Duration(j)*20*time.Minute))
					r.Values[vibemon.TempC] = float64(h + k + j)
					rs = append(rs, r)
					seq[id]++
				}
			}
		}
		_, err := s.InsertReadings(ctx, o.ID, rs)
		must(t, err)
		_, err = s.MergeRollups(ctx)
		must(t, err)
	}
	query := func(id int64, b vibemon.Bucket) []vibemon.Point {
		pts, err := s.QueryReadings(ctx, o.ID, vibemon.ReadingQuery{DeviceID: id, From: base, To: base.Add(hours * time.Hour), Bucket: b,
			Metrics: []vibemon.Metric{vibemon.TempC}})
		must(t, err)
		return pts
	}
	before := map[int64][]vibemon.Point{}
	for _, id := range devs {
		before[id] = query(id, vibemon.BucketHour)
	}
	// inOrder reports whether a partition's rows, in physical order, are
	// sorted by (device, hour).
	inOrder := func(part string) bool {
		var unsorted int
		must(t, s.Pool().QueryRow(ctx, `SELECT count(*) FROM (
			SELECT device_id, bucket_start, lag(device_id) OVER w AS pd, lag(bucket_start) OVER w AS pb
			FROM `+part+` WINDOW w AS (ORDER BY ctid)) x
			WHERE (device_id, bucket_start) < (pd, pb)`).Scan(&unsorted))
		return unsorted == 0
	}
	if inOrder("rollup_1h_202601") {
		t.Fatal("rollup_1h_202601 is in device order before any rewrite; the test would prove nothing")
	}

	got, err := s.ReorderRollups(ctx, now)
	must(t, err)
	if got != "rollup_1h_202512" { // the oldest ended month comes first, even empty
		t.Errorf("first ReorderRollups = %q, want rollup_1h_202512", got)
	}
	got, err = s.ReorderRollups(ctx, now)
	must(t, err)
	if got != "rollup_1h_202601" {
		t.Fatalf("second ReorderRollups = %q, want rollup_1h_202601", got)
	}
	if got, err := s.ReorderRollups(ctx, now); err != nil || got != "" {
		t.Errorf("ReorderRollups with February ended 1.5 days ago = %q, %v; want nothing due", got, err)
	}
	if !inOrder("rollup_1h_202601") {
		t.Error("rollup_1h_202601 is not in (device, hour) order after its rewrite")
	}

	// February is rewritten while late readings of it and of January
	// arrive, and merges run every millisecond.
	later := now.Add(24 * time.Hour) // February ended 2.5 days before: due
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.MergeRollups(ctx); err != nil {
				t.Errorf("MergeRollups during the rewrite: %v", err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	late := map[int64]int{}
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			id := devs[i%len(devs)]
			ts := base.Add(time.Duration(i*67%hours)*time.Hour + 50*time.Minute)
			r := vibemon.NewReading(id, 1_000_000+int64(i), ts)
			r.Values[vibemon.TempC] = 1000
			if _, err := s.InsertReadings(ctx, o.ID, []vibemon.Reading{r}); err != nil {
				t.Errorf("late reading: %v", err)
				return
			}
			late[id]++
		}
	}()
	got, err = s.ReorderRollups(ctx, later)
	close(stop)
	wg.Wait()
	must(t, err)
	if got != "rollup_1h_202602" {
		t.Errorf("ReorderRollups two days after February = %q, want rollup_1h_202602", got)
	}
	_, err = s.MergeRollups(ctx)
	must(t, err)
	var n int
	must(t, s.Pool().QueryRow(ctx, "SELECT count(*) FROM rollup_reordered").Scan(&n))
	if n != 3 {
		t.Errorf("rollup_reordered holds %d months, want 3", n)
	}
	for _, id := range devs {
		after := query(id, vibemon.BucketHour)
		var cb, ca int64
		for _, p := range before[id] {
			cb += p.Count
		}
		for _, p := range after {
			ca += p.Count
		}
		if ca != cb+int64(late[id]) {
			t.Errorf("device %d: hourly rollups count %d readings after the rewrites, want %d + %d late", id, ca, cb, late[id])
		}
		if late[id] == 0 && len(after) == len(before[id]) {
			for i := range after {
				if after[i].Count != before[id][i].Count || after[i].Avg[0] != before[id][i].Avg[0] || after[i].Max[0] != before[id][i].Max[0] {
					t.Fatalf("device %d hour %s: %+v after the rewrite, want %+v", id, after[i].TS, after[i], before[id][i])
				}
			}
		}
	}
}

// TestUpgradeMovesHourlyRollupsIntoMonths: an installation from before
// migration 0014 has one unpartitioned rollup_1h; the migration moves its
// rows into monthly partitions, in (device, hour) order, and queries give
// the same answers.
func TestUpgradeMovesHourlyRollupsIntoMonths(t *testing.T) {
	url := testURL(t)
	schema := newSchema(t, url)
	s := openStore(t, url, schema, testOptions(schema))
	ctx := context.Background()
	o := &vibemon.Org{Name: "acme"}
	must(t, s.CreateOrg(ctx, o))
	var devs []int64
	for i := 0; i < 3; i++ {
		d := &vibemon.Device{OrgID: o.ID, Serial: fmt.Sprint("n", i)}
		_, err := s.RegisterDevice(ctx, d)
		must(t, err)
		devs = append(devs, d.ID)
	}
	_, err := s.Pool().Exec(ctx, `DROP TABLE rollup_1h CASCADE; DROP TABLE rollup_reordered;
		CREATE TABLE rollup_1h (LIKE rollup_1m INCLUDING DEFAULTS, PRIMARY KEY (device_id, bucket_start))`)
	must(t, err)
	// Hour by hour across the devices, from 2026-01-30 to 2026-03-02.
	from := time.Date(2026, 1, 30, 0, 0, 0, 0, time.UTC)
	const hours = 31 * 24
	_, err = s.Pool().Exec(ctx, `INSERT INTO rollup_1h (device_id, bucket_start, count, temp_c_n, temp_c_sum, temp_c_min, temp_c_max)
		SELECT d, $2::timestamptz + h * interval '1 hour', 2, 2, 2 * h, h, h + 1
		FROM generate_series(0, $3 - 1) h, unnest($1::bigint[]) d ORDER BY h, d`, devs, from, hours)
	must(t, err)
	sql, err := os.ReadFile("migrations/0014_rollup_1h_months.sql")
	must(t, err)
	_, err = s.Pool().Exec(ctx, string(sql))
	must(t, err)
	var parts []string
	rows, err := s.Pool().Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'rollup_1h'::regclass ORDER BY 1`)
	must(t, err)
	for rows.Next() {
		var n string
		must(t, rows.Scan(&n))
		parts = append(parts, n)
	}
	must(t, rows.Err())
	if want := []string{"rollup_1h_202601", "rollup_1h_202602", "rollup_1h_202603", "rollup_1h_default"}; fmt.Sprint(parts) != fmt.Sprint(want) {
		t.Errorf("partitions after the migration = %v, want %v", parts, want)
	}
	for _, id := range devs {
		pts, err := s.QueryReadings(ctx, o.ID, vibemon.ReadingQuery{DeviceID: id, From: from, To: from.Add(hours * time.Hour),
			Bucket: vibemon.BucketHour, Metrics: []vibemon.Metric{vibemon.TempC}})
		must(t, err)
		if len(pts) != hours {
			t.Fatalf("device %d: %d hours after the migration, want %d", id, len(pts), hours)
		}
		for h, p := range pts {
			if p.Count != 2 || p.Avg[0] != float64(h) || p.Min[0] != float64(h) || p.Max[0] != float64(h+1) {
				t.Fatalf("device %d hour %d: %+v after the migration", id, h, p)
			}
		}
	}
}

// TestEnsurePartitionsDrainsTheDefaults: readings of days, and hourly
// rollups of months, that have no partition (history copied by vibemon
// migrate, a gateway syncing very late) land in the default partitions;
// EnsurePartitions moves them into partitions of their own, oldest first
// and a bounded number per call (7 days, 1 month), and queries answer the
// same before and after.
func TestEnsurePartitionsDrainsTheDefaults(t *testing.T) {
	url := testURL(t)
	schema := newSchema(t, url)
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	opts := testOptions(schema)
	opts.Now = func() time.Time { return now }
	s := openStore(t, url, schema, opts)
	ctx := context.Background()
	o := &vibemon.Org{Name: "acme"}
	must(t, s.CreateOrg(ctx, o))
	d := &vibemon.Device{OrgID: o.ID, Serial: "n1"}
	_, err := s.RegisterDevice(ctx, d)
	must(t, err)
	// One reading a day from 2025-10-01 for 40 days: 40 days and 2 months
	// without partitions.
	var rs []vibemon.Reading
	from := time.Date(2025, 10, 1, 6, 0, 0, 0, time.UTC)
	for i := 0; i < 40; i++ {
		r := vibemon.NewReading(d.ID, int64(i), from.Add(time.Duration(i)*24*time.Hour))
		r.Values[vibemon.TempC] = float64(i)
		rs = append(rs, r)
	}
	_, err = s.InsertReadings(ctx, o.ID, rs)
	must(t, err)
	_, err = s.MergeRollups(ctx)
	must(t, err)
	count := func(table string) int {
		var n int
		must(t, s.Pool().QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n))
		return n
	}
	if count("readings_default") != 40 || count("rollup_1h_default") != 40 {
		t.Fatalf("defaults hold %d readings and %d hourly rollups, want 40 and 40", count("readings_default"), count("rollup_1h_default"))
	}
	q := func(b vibemon.Bucket) []vibemon.Point {
		pts, err := s.QueryReadings(ctx, o.ID, vibemon.ReadingQuery{DeviceID: d.ID, From: from.Add(-time.Hour), To: from.Add(41 * 24 * time.Hour), Bucket: b,
			Metrics: []vibemon.Metric{vibemon.TempC}})
		must(t, err)
		return pts
	}
	rawBefore, hourBefore := q(vibemon.BucketRaw), q(vibemon.BucketHour)

	must(t, s.EnsurePartitions(ctx, now)) // the oldest 7 days and the oldest month
	if got := count("readings_default"); got != 33 {
		t.Errorf("after one call readings_default holds %d readings, want 33 (7 of 40 days moved)", got)
	}
	if got := count("rollup_1h_default"); got != 9 {
		t.Errorf("after one call rollup_1h_default holds %d rows, want 9 (October moved)", got)
	}
	for i := 0; i < 5; i++ {
		must(t, s.EnsurePartitions(ctx, now))
	}
	if got := count("readings_default") + count("rollup_1h_default"); got != 0 {
		t.Errorf("after six calls the default partitions hold %d rows, want 0", got)
	}
	if count("readings_20251001") != 1 || count("rollup_1h_202510") != 31 || count("rollup_1h_202511") != 9 {
		t.Errorf("partitions hold %d, %d, %d rows; want 1, 31, 9", count("readings_20251001"), count("rollup_1h_202510"), count("rollup_1h_202511"))
	}
	if got := q(vibemon.BucketRaw); fmt.Sprint(got) != fmt.Sprint(rawBefore) {
		t.Errorf("raw readings differ after the drain")
	}
	if got := q(vibemon.BucketHour); fmt.Sprint(got) != fmt.Sprint(hourBefore) || len(got) != 40 {
		t.Errorf("hourly rollups differ after the drain (%d points, want 40)", len(got))
	}
	// The ended months, now partitions, are rewritten like any other.
	name, err := s.ReorderRollups(ctx, now)
	must(t, err)
	if name != "rollup_1h_202510" {
		t.Errorf("ReorderRollups after the drain = %q, want rollup_1h_202510", name)
	}
}
