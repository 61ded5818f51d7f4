package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/logtest"
	"github.com/vibemon/vibemon/pgtest"
	"github.com/vibemon/vibemon/postgres"
)

// TestReorderRollupsRewritesEndedMonths: hourly rollups of 12 devices over
// two months, ingested hour by hour across the devices (the layout the
// merge produces), are rewritten one ended month per call in (device, hour)
// order; a month that ended less than ReorderAfter ago is rewritten once
// and then a final time when it is due, every query answers as before, and readings that arrive for a rewritten
// month while it is being rewritten, with merges running every
// millisecond, are all counted.
func TestReorderRollupsRewritesEndedMonths(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url)
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC) // February ended 1.5 days ago: not due yet
	opts := testOptions(schema)
	opts.Now = func() time.Time { return now }
	opts.PartitionsBehind, opts.PartitionsAhead = 62, 1 // months 2025-12 .. 2026-03
	s := openStore(t, url, schema, opts)
	ctx := context.Background()
	o := &vibemon.Org{Name: "acme"}
	must(t, s.CreateOrg(ctx, o))
	devs := registerDevices(t, s, o.ID, 12, "n")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const hours = 59 * 24 // January and February
	// Two readings per device and hour; every 12 hours one batch of all
	// devices, merged at once: the rows of half a day of every device are
	// written together.
	ingestHourly(t, s, o.ID, devs, map[int64]int64{}, base, base.Add(hours*time.Hour), 12)
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

	// February, ended 1.5 days ago, is rewritten once (not for good: the
	// daily rewrites come first); then the ended months, oldest first.
	for i, want := range []string{"rollup_1h_202602", "rollup_1h_202512", "rollup_1h_202601"} {
		got, err := s.ReorderRollups(ctx, now)
		must(t, err)
		if got != want { // the oldest ended month comes first, even empty
			t.Fatalf("ReorderRollups #%d = %q, want %s", i+1, got, want)
		}
	}
	if got, err := s.ReorderRollups(ctx, now); err != nil || got != "" {
		t.Errorf("ReorderRollups with February ended 1.5 days ago and rewritten since = %q, %v; want nothing due", got, err)
	}
	if !inOrder("rollup_1h_202601") || !inOrder("rollup_1h_202602") {
		t.Error("rollup_1h_202601 or rollup_1h_202602 is not in (device, hour) order after its rewrite")
	}

	// February is rewritten while late readings of it and of January
	// arrive, and merges run every millisecond.
	later := now.Add(24 * time.Hour) // February ended 2.5 days before: due
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	mergeUntil(t, s, stop, &wg)
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
	got, err := s.ReorderRollups(ctx, later)
	close(stop)
	wg.Wait()
	must(t, err)
	if got != "rollup_1h_202602" {
		t.Errorf("ReorderRollups two days after February = %q, want rollup_1h_202602", got)
	}
	_, err = s.MergeRollups(ctx)
	must(t, err)
	var n int
	must(t, s.Pool().QueryRow(ctx, "SELECT count(*) FROM rollup_reordered WHERE final").Scan(&n))
	if n != 3 {
		t.Errorf("rollup_reordered holds %d months rewritten for good, want 3", n)
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
	s, o, _, _ := acmeStore(t)
	ctx := context.Background()
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
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url)
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

// syncBuffer is a log sink goroutines may write to while the test reads.
type syncBuffer = logtest.Buffer

// TestReorderRollupsRewritesTheCurrentMonthDaily: the month being written
// is rewritten in (device, hour) order once a day (its whole days; today's
// rows after them), before the ended months that are due, not twice the
// same day and again the next; the month before is rewritten once after it
// ended and a final time ReorderAfter later, then never again. Answers are
// the same before and after each rewrite, and readings ingested and merged
// while the rewrite runs (merges every millisecond) or after it are all
// counted, without a deadlock between the rewrite and the merges.
func TestReorderRollupsRewritesTheCurrentMonthDaily(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url)
	t0 := time.Date(2026, 3, 10, 10, 30, 0, 0, time.UTC)
	opts := testOptions(schema)
	opts.MaxConns = 6
	opts.Now = func() time.Time { return t0 }
	opts.PartitionsBehind, opts.PartitionsAhead = 14, 1 // months 2026-02 and 2026-03
	logs := &syncBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s := openStore(t, url, schema, opts)
	ctx := context.Background()
	o := &vibemon.Org{Name: "acme"}
	must(t, s.CreateOrg(ctx, o))
	devs := registerDevices(t, s, o.ID, 8, "n")
	// 300 more devices with hourly rows written straight into rollup_1h,
	// hour by hour across them, so that a rewrite takes long enough for
	// merges to queue behind it.
	filler := registerDevices(t, s, o.ID, 300, "f")
	base := time.Date(2026, 2, 26, 0, 0, 0, 0, time.UTC)
	_, err := s.Pool().Exec(ctx, `INSERT INTO rollup_1h (device_id, bucket_start, count, temp_c_n, temp_c_sum, temp_c_min, temp_c_max)
		SELECT d, h, 60, 60, 60, 1, 1 FROM generate_series($2::timestamptz, $3::timestamptz - interval '1 hour', interval '1 hour') h,
		unnest($1::bigint[]) d ORDER BY h, d`, filler, base, t0.Add(20*time.Hour))
	must(t, err)

	// Two readings per device and hour, ingested and merged 12 hours at a
	// time across the devices, from base to the hour before t0.
	seq := make(map[int64]int64)
	ingest := func(from, to time.Time, step int) { ingestHourly(t, s, o.ID, devs, seq, from, to, step) }
	ingest(base, t0.Truncate(time.Hour), 12)

	end := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	answers := func() map[int64]string {
		_, err := s.MergeRollups(ctx)
		must(t, err)
		out := map[int64]string{}
		for _, id := range devs {
			pts, err := s.QueryReadings(ctx, o.ID, vibemon.ReadingQuery{DeviceID: id, From: base, To: end, Bucket: vibemon.BucketHour,
				Metrics: []vibemon.Metric{vibemon.TempC}})
			must(t, err)
			out[id] = fmt.Sprint(pts)
		}
		return out
	}
	counted := func() map[int64]int64 {
		out := map[int64]int64{}
		for _, id := range devs {
			pts, err := s.QueryReadings(ctx, o.ID, vibemon.ReadingQuery{DeviceID: id, From: base, To: end, Bucket: vibemon.BucketHour,
				Metrics: []vibemon.Metric{vibemon.TempC}})
			must(t, err)
			for _, p := range pts {
				out[id] += p.Count
			}
		}
		return out
	}
	// sortedBefore reports whether the month's rows before cutoff, in
	// physical order, are sorted by (device, hour) and all lie before the
	// rows from cutoff on (skipping one device's rows, which late readings
	// moved).
	sortedBefore := func(part string, cutoff time.Time, skip int64) bool {
		t.Helper()
		var unsorted, after int
		must(t, s.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE bucket_start < $1 AND (device_id, bucket_start) < (pd, pb)),
			count(*) FILTER (WHERE bucket_start < $1 AND seen_later)
			FROM (SELECT device_id, bucket_start,
				lag(device_id) OVER w AS pd, lag(bucket_start) OVER w AS pb,
				bool_or(bucket_start >= $1) OVER (ORDER BY ctid ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS seen_later
				FROM `+part+` WHERE device_id <> $2 WINDOW w AS (ORDER BY ctid)) x`, cutoff, skip).Scan(&unsorted, &after))
		return unsorted == 0 && after == 0
	}
	reordered := func(part string) (at time.Time, rows int64, final bool) {
		t.Helper()
		must(t, s.Pool().QueryRow(ctx, "SELECT reordered_at, row_count, final FROM rollup_reordered WHERE partition = $1", part).Scan(&at, &rows, &final))
		return
	}
	fillfactor := func(part string) string {
		t.Helper()
		var opts []string
		must(t, s.Pool().QueryRow(ctx, "SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = $1::regclass", part).Scan(&opts))
		return strings.Join(opts, ",")
	}
	reorder := func(now time.Time, want string) {
		t.Helper()
		got, err := s.ReorderRollups(ctx, now)
		must(t, err)
		if got != want {
			t.Fatalf("ReorderRollups at %s = %q, want %q", now.Format(time.RFC3339), got, want)
		}
	}
	mar10 := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	if sortedBefore("rollup_1h_202603", mar10, 0) {
		t.Fatal("rollup_1h_202603 is in device order before any rewrite; the test would prove nothing")
	}

	// On a month's first day it has no whole day to sort; the month before,
	// ended hours ago, is rewritten once (and not yet for good).
	mar1 := time.Date(2026, 3, 1, 5, 0, 0, 0, time.UTC)
	reorder(mar1, "rollup_1h_202602")
	reorder(mar1, "")
	if _, _, final := reordered("rollup_1h_202602"); final {
		t.Error("rollup_1h_202602 rewritten for good on March 1, want only after ReorderAfter")
	}

	// The current month comes first, then February's final rewrite (due
	// since March 3); then nothing more that day.
	before := answers()
	reorder(t0, "rollup_1h_202603")
	if !sortedBefore("rollup_1h_202603", mar10, 0) {
		t.Error("rollup_1h_202603 is not in (device, hour) order before March 10, followed by March 10's rows, after its daily rewrite")
	}
	var n int64
	must(t, s.Pool().QueryRow(ctx, "SELECT count(*) FROM rollup_1h_202603").Scan(&n))
	if at, rows, final := reordered("rollup_1h_202603"); !at.Equal(t0) || rows != n || final {
		t.Errorf("rollup_reordered for March = %s, %d rows, final %t; want %s, %d, false", at, rows, final, t0, n)
	}
	if ff := fillfactor("rollup_1h_202603"); ff != "fillfactor=80" {
		t.Errorf("the current month's partition has options %q after its rewrite, want fillfactor=80 for the rows still merged", ff)
	}
	reorder(t0, "rollup_1h_202602")
	if _, _, final := reordered("rollup_1h_202602"); !final {
		t.Error("rollup_1h_202602 not recorded as rewritten for good")
	}
	if ff := fillfactor("rollup_1h_202602"); ff != "fillfactor=100" {
		t.Errorf("February's partition has options %q after its final rewrite, want fillfactor=100", ff)
	}
	reorder(t0, "")
	reorder(t0.Add(13*time.Hour), "") // 23:30 the same day
	for id, a := range answers() {
		if a != before[id] {
			t.Fatalf("device %d: hourly rollups differ after the rewrites:\n%s\nwant\n%s", id, a, before[id])
		}
	}

	// Hours after the rewrite are merged (appended), then the next day's
	// rewrite runs while readings of today and late readings of one device
	// for earlier days arrive and merges run every millisecond.
	mar11 := time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)
	ingest(t0.Truncate(time.Hour), mar11.Add(6*time.Hour), 4)
	want := counted()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	mergeUntil(t, s, stop, &wg)
	var mu sync.Mutex
	late := devs[0]
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := devs[i%len(devs)]
			ts := mar11.Add(6*time.Hour + time.Duration(i%60)*time.Minute)
			if id == late && i%3 == 0 {
				ts = base.Add(time.Duration(i*7%(12*24))*time.Hour + 50*time.Minute) // a late reading, Feb 26 to Mar 10
			}
			r := vibemon.NewReading(id, 1_000_000+int64(i), ts)
			r.Values[vibemon.TempC] = 1000
			if _, err := s.InsertReadings(ctx, o.ID, []vibemon.Reading{r}); err != nil {
				t.Errorf("reading during the rewrite: %v", err)
				return
			}
			mu.Lock()
			want[id]++
			mu.Unlock()
			time.Sleep(200 * time.Microsecond)
		}
	}()
	time.Sleep(20 * time.Millisecond)
	reorderErr := func() error {
		got, err := s.ReorderRollups(ctx, mar11.Add(6*time.Hour+30*time.Minute))
		if err == nil && got != "rollup_1h_202603" {
			err = fmt.Errorf("ReorderRollups the next day = %q, want rollup_1h_202603", got)
		}
		return err
	}()
	time.Sleep(20 * time.Millisecond)
	close(stop)
	wg.Wait()
	must(t, reorderErr)
	if !sortedBefore("rollup_1h_202603", mar11, late) {
		t.Error("rollup_1h_202603 is not in (device, hour) order before March 11 after the next day's rewrite")
	}
	if strings.Contains(logs.String(), "transaction retried") {
		t.Errorf("a rewrite or merge was retried (deadlock):\n%s", logs.String())
	}
	_, err = s.MergeRollups(ctx)
	must(t, err)
	for id, c := range counted() {
		if c != want[id] {
			t.Errorf("device %d: hourly rollups count %d readings after the next day's rewrite, want %d", id, c, want[id])
		}
	}

	// After the month: rewritten once after its end, then for good
	// ReorderAfter later (with a reading that arrived in between), then
	// never again.
	apr1 := time.Date(2026, 4, 1, 0, 30, 0, 0, time.UTC)
	reorder(apr1, "rollup_1h_202603")
	reorder(apr1.Add(24*time.Hour), "")
	r := vibemon.NewReading(late, 2_000_000, time.Date(2026, 3, 20, 7, 0, 0, 0, time.UTC))
	r.Values[vibemon.TempC] = 7
	_, err = s.InsertReadings(ctx, o.ID, []vibemon.Reading{r})
	must(t, err)
	want[late]++
	before = answers()
	reorder(apr1.Add(48*time.Hour), "rollup_1h_202603")
	if _, _, final := reordered("rollup_1h_202603"); !final {
		t.Error("rollup_1h_202603 not recorded as rewritten for good on April 3")
	}
	if !sortedBefore("rollup_1h_202603", end, 0) {
		t.Error("rollup_1h_202603 is not in (device, hour) order after its final rewrite")
	}
	reorder(apr1.Add(30*24*time.Hour), "")
	for id, a := range answers() {
		if a != before[id] {
			t.Fatalf("device %d: hourly rollups differ after the final rewrite", id)
		}
	}
	for id, c := range counted() {
		if c != want[id] {
			t.Errorf("device %d: hourly rollups count %d readings after the final rewrite, want %d", id, c, want[id])
		}
	}
}

// mergeUntil runs MergeRollups every millisecond, on a goroutine counted in
// wg, until stop is closed.
func mergeUntil(t *testing.T, s *postgres.Store, stop <-chan struct{}, wg *sync.WaitGroup) {
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.MergeRollups(context.Background()); err != nil {
				t.Errorf("MergeRollups during the rewrite: %v", err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
}

// ingestHourly stores two readings per device and hour in [from, to), step
// hours of every device per InsertReadings call, each call merged at once,
// so the rollup rows of those hours are written hour by hour across the
// devices. seq holds each device's next sequence number.
func ingestHourly(t *testing.T, s *postgres.Store, org int64, devs []int64, seq map[int64]int64, from, to time.Time, step int) {
	t.Helper()
	ctx := context.Background()
	for h := from; h.Before(to); h = h.Add(time.Duration(step) * time.Hour) {
		var rs []vibemon.Reading
		for k := 0; k < step && h.Add(time.Duration(k)*time.Hour).Before(to); k++ {
			for _, id := range devs {
				for j := 0; j < 2; j++ {
					ts := h.Add(time.Duration(k)*time.Hour + time.Duration(j)*20*time.Minute)
					r := vibemon.NewReading(id, seq[id], ts)
					r.Values[vibemon.TempC] = float64(ts.Unix()%1000) + float64(j)
					rs = append(rs, r)
					seq[id]++
				}
			}
		}
		_, err := s.InsertReadings(ctx, org, rs)
		must(t, err)
		_, err = s.MergeRollups(ctx)
		must(t, err)
	}
}
