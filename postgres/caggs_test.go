package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/pgtest"
	"github.com/vibemon/vibemon/timescaletest"
)

// TestContinuousAggregatesKeepEachOrgsStats is the case one aggregate over
// every org gets wrong (docs/timescaledb-caggs.sql): one org keeps its
// readings 2 days, the other forever; after the short one's prune, the
// store's merge and every TimescaleDB policy job (CALL run_job, as the
// background workers would) leave both orgs' hourly and daily stats whole,
// the short org's minute stats go with its readings, a late reading shows
// in its hour at once (no merge, no job), and shortening the retention
// moves the policies' windows with it before the next prune.
func TestContinuousAggregatesKeepEachOrgsStats(t *testing.T) {
	url := timescaletest.URL(t)
	schema := pgtest.Schema(t, url)
	s := openCaggStore(t, url, schema)
	ctx := context.Background()
	// TimescaleDB's jobs run on the database's clock: the readings are
	// around the real now.
	now := time.Now().UTC()
	start := now.Add(-4 * 24 * time.Hour).Truncate(time.Hour)
	const step = 10 * time.Minute
	n := int(now.Add(-2*time.Hour).Sub(start) / step)
	type plant struct {
		days int
		org  *vibemon.Org
		dev  *vibemon.Device
	}
	plants := []*plant{{days: 2}, {days: 0}}
	for _, p := range plants {
		p.org, p.dev = newPlant(t, s, p.days)
		rs := make([]vibemon.Reading, n)
		for i := range rs {
			rs[i] = vibemon.NewReading(p.dev.ID, int64(i), start.Add(time.Duration(i)*step))
			rs[i].Values[vibemon.TempC] = float64(40 + i%7)
		}
		if _, err := s.InsertReadings(ctx, p.org.ID, rs); err != nil {
			t.Fatal(err)
		}
	}
	total := func(p *plant, b vibemon.Bucket) int64 {
		t.Helper()
		return countReadings(t, s, p.org.ID, p.dev.ID, allTime, endOfTime, b)
	}
	check := func(when string, shortMinutes int64) {
		t.Helper()
		for _, p := range plants {
			for _, b := range []vibemon.Bucket{vibemon.BucketHour, vibemon.BucketDay} {
				if got := total(p, b); got != int64(n) {
					t.Errorf("%s: org with %d days of retention: %s stats count %d readings, want all %d", when, p.days, b, got, n)
				}
			}
		}
		if got := total(plants[0], vibemon.BucketMinute); got != shortMinutes {
			t.Errorf("%s: the 2-day org's minute stats count %d readings, want %d (those of its kept readings)", when, got, shortMinutes)
		}
		if got := total(plants[1], vibemon.BucketMinute); got != int64(n) {
			t.Errorf("%s: the unlimited org's minute stats count %d readings, want all %d", when, got, n)
		}
	}
	check("after ingest", int64(n))

	rep, err := s.PruneReadings(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	// Readings every 10 minutes from start; the cutoff is now - 2 days,
	// and those of its minute are kept. The minute aggregate keeps the
	// cutoff's hour (see caggs.go).
	cut := now.Add(-2 * 24 * time.Hour).Truncate(time.Minute)
	var kept, keptMinutes int64
	for i := range n {
		ts := start.Add(time.Duration(i) * step)
		if !ts.Before(cut) {
			kept++
		}
		if !ts.Before(cut.Truncate(time.Hour)) {
			keptMinutes++
		}
	}
	if rep.RowsDeleted != int64(n)-kept {
		t.Fatalf("PruneReadings = %+v, want %d readings of the 2-day org deleted", rep, int64(n)-kept)
	}
	if raw := total(plants[0], vibemon.BucketRaw); raw != kept {
		t.Fatalf("%d raw readings of the 2-day org left, want %d", raw, kept)
	}
	check("after the prune", keptMinutes)
	if _, err := s.MergeRollups(ctx); err != nil {
		t.Fatal(err)
	}
	check("after the store's merge (a refresh of every org's aggregates)", keptMinutes)
	jobs, err := s.RunTimescaleJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) < 6 { // 3 refresh policies per org, and compression
		t.Fatalf("ran TimescaleDB jobs %v, want at least the 6 refresh policies", jobs)
	}
	check("after every TimescaleDB job ran", keptMinutes)

	// The views over every org's aggregates, for SQL by hand.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, v := range []string{"hourly_stats", "daily_stats"} {
		for _, p := range plants {
			var got int64
			if err := conn.QueryRow(ctx, "SELECT coalesce(sum(count), 0)::bigint FROM "+pgx.Identifier{schema, v}.Sanitize()+" WHERE org_id = $1 AND device_id = $2",
				p.org.ID, p.dev.ID).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != int64(n) {
				t.Errorf("SELECT sum(count) FROM %s of the org with %d days: %d, want %d", v, p.days, got, n)
			}
		}
	}

	// A gateway's backlog: a reading 30 hours old, inside the retention,
	// below every aggregate's watermark now.
	late := now.Add(-30 * time.Hour).Truncate(time.Hour).Add(90 * time.Second)
	p := plants[0]
	hour := func() int64 {
		return countReadings(t, s, p.org.ID, p.dev.ID, late.Truncate(time.Hour), late.Truncate(time.Hour).Add(time.Hour), vibemon.BucketHour)
	}
	before := hour()
	if _, err := s.InsertReadings(ctx, p.org.ID, []vibemon.Reading{vibemon.NewReading(p.dev.ID, 100000, late)}); err != nil {
		t.Fatal(err)
	}
	if got := hour(); got != before+1 {
		t.Fatalf("the hour of a late reading counts %d right after it was stored, want %d", got, before+1)
	}
	if got := countReadings(t, s, p.org.ID, p.dev.ID, allTime, endOfTime, vibemon.BucketDay); got != int64(n)+1 {
		t.Fatalf("daily stats count %d after the late reading, want %d", got, n+1)
	}

	// Shorter retention: the policies' windows follow at once.
	p.org.RetentionDays = 1
	if err := s.UpdateOrg(ctx, p.org); err != nil {
		t.Fatal(err)
	}
	offsets, err := s.AggregatePolicyStarts(ctx, p.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"23:00:00", "23:00:00", ""}; !slices.Equal(offsets, want) {
		t.Fatalf("refresh policies' start offsets after retention 1 day = %q, want %q (an hour inside the retention; the daily one reads hourly stats)", offsets, want)
	}
	if _, err := s.PruneReadings(ctx, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RunTimescaleJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if got := countReadings(t, s, p.org.ID, p.dev.ID, allTime, endOfTime, vibemon.BucketHour); got != int64(n)+1 {
		t.Fatalf("hourly stats count %d after a prune to 1 day and every job, want all %d", got, n+1)
	}
}

// TestContinuousAggregatesLateReadingKeepsEarlierLiveOnes: a live reading
// (no refresh: the aggregates read it from the readings), then, before any
// merge, a late reading newer than it. The late reading's refresh must not
// leave the live one below the watermark unmaterialized, hidden from the
// minute, hourly and daily stats.
func TestContinuousAggregatesLateReadingKeepsEarlierLiveOnes(t *testing.T) {
	url := timescaletest.URL(t)
	now := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Hour).Add(20 * time.Minute)
	opts := testOptions(pgtest.Schema(t, url))
	opts.Now = func() time.Time { return now }
	opts.ContinuousAggregates = true
	s := openHypertableStore(t, url, opts)
	ctx := context.Background()
	org, dev := newPlant(t, s, 0)
	live := vibemon.NewReading(dev.ID, 1, now.Add(-5*time.Second))
	if _, err := s.InsertReadings(ctx, org.ID, []vibemon.Reading{live}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(10 * time.Minute)
	late := vibemon.NewReading(dev.ID, 2, now.Add(-8*time.Minute))
	if _, err := s.InsertReadings(ctx, org.ID, []vibemon.Reading{late}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []vibemon.Bucket{vibemon.BucketMinute, vibemon.BucketHour, vibemon.BucketDay} {
		if got := countReadings(t, s, org.ID, dev.ID, allTime, endOfTime, b); got != 2 {
			t.Errorf("%s stats count %d readings after a live and a later late one, want 2", b, got)
		}
	}
}

// TestContinuousAggregatesConcurrentBacklogs: six gateways of one org sync
// day-old backlogs at once, through a pool of three connections: every
// upload returns, and every reading is in the hourly stats when it has.
func TestContinuousAggregatesConcurrentBacklogs(t *testing.T) {
	url := timescaletest.URL(t)
	s := openCaggStore(t, url, pgtest.Schema(t, url))
	ctx := context.Background()
	org, _ := newPlant(t, s, 0)
	start := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Hour)
	const gateways, batches, per = 6, 3, 20
	devs := make([]*vibemon.Device, gateways)
	for g := range devs {
		devs[g] = &vibemon.Device{OrgID: org.ID, Serial: fmt.Sprintf("backlog-%d", g)}
		if _, err := s.RegisterDevice(ctx, devs[g]); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, gateways)
	for g := range devs {
		go func() {
			for b := range batches {
				rs := make([]vibemon.Reading, per)
				for i := range rs {
					seq := int64(b*per + i)
					rs[i] = vibemon.NewReading(devs[g].ID, seq, start.Add(time.Duration(seq)*time.Minute))
				}
				if _, err := s.InsertReadings(ctx, org.ID, rs); err != nil {
					errs <- err
					return
				}
				// Right after each upload its readings are counted.
				pts, err := s.QueryReadings(ctx, org.ID, vibemon.ReadingQuery{DeviceID: devs[g].ID, From: allTime, To: endOfTime, Bucket: vibemon.BucketHour})
				if err != nil {
					errs <- err
					return
				}
				var got int64
				for _, p := range pts {
					got += p.Count
				}
				if want := int64((b + 1) * per); got != want {
					errs <- fmt.Errorf("gateway %d after upload %d: hourly stats count %d, want %d", g, b+1, got, want)
					return
				}
			}
			errs <- nil
		}()
	}
	for range devs {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if f := s.IngestStats().LateRefreshFailed; f != 0 {
		t.Errorf("%d refreshes after late uploads failed, want none", f)
	}
}

// TestContinuousAggregatesAreTheSchemasChoice: the setting decides for a
// new schema only. A schema with continuous aggregates keeps them when
// opened without the setting; one that holds readings in rollup tables
// keeps those when opened with it.
func TestContinuousAggregatesAreTheSchemasChoice(t *testing.T) {
	url := timescaletest.URL(t)
	ctx := context.Background()

	schema := pgtest.Schema(t, url)
	s := openCaggStore(t, url, schema)
	org, dev := newPlant(t, s, 0)
	if _, err := s.InsertReadings(ctx, org.ID, []vibemon.Reading{vibemon.NewReading(dev.ID, 1, time.Now().Add(-time.Hour))}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	again := openHypertableStore(t, url, testOptions(schema))
	if !again.ContinuousAggregates() {
		t.Fatal("a schema with continuous aggregates, opened without the setting, uses rollup tables")
	}
	if n := countReadings(t, again, org.ID, dev.ID, allTime, endOfTime, vibemon.BucketHour); n != 1 {
		t.Fatalf("hourly stats count %d after reopening, want 1", n)
	}

	rollups := pgtest.Schema(t, url)
	r := openHypertableStore(t, url, testOptions(rollups))
	org, dev = newPlant(t, r, 0)
	if _, err := r.InsertReadings(ctx, org.ID, []vibemon.Reading{vibemon.NewReading(dev.ID, 1, time.Now().Add(-time.Hour))}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	opts := testOptions(rollups)
	opts.ContinuousAggregates = true
	r = openHypertableStore(t, url, opts)
	if r.ContinuousAggregates() {
		t.Fatal("a schema holding readings and rollups switched to continuous aggregates at Open")
	}
	if n := countReadings(t, r, org.ID, dev.ID, allTime, endOfTime, vibemon.BucketHour); n != 1 {
		t.Fatalf("hourly stats count %d after reopening with the setting, want 1", n)
	}
}
