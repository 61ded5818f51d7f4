package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/pgtest"
)

// newPlant creates an org with a retention of days (0: unlimited) and one
// device in it.
func newPlant(t *testing.T, s vibemon.Store, days int) (*vibemon.Org, *vibemon.Device) {
	t.Helper()
	ctx := context.Background()
	org := &vibemon.Org{Name: "plant", RetentionDays: days}
	if err := s.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	dev := &vibemon.Device{OrgID: org.ID, Serial: "node"}
	if _, err := s.RegisterDevice(ctx, dev); err != nil {
		t.Fatal(err)
	}
	return org, dev
}

// TestRetentionDropsWholePartitions: with every org on a retention, the
// daily partitions past the longest one are dropped whole, and the org with
// the shorter retention loses its older rows one by one.
func TestRetentionDropsWholePartitions(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url)
	now := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	opts := testOptions(schema)
	opts.Now = func() time.Time { return now }
	s := openStore(t, url, schema, opts)
	ctx := context.Background()
	start := now.Add(-20 * 24 * time.Hour).Truncate(24 * time.Hour)
	for d := start; d.Before(now); d = d.AddDate(0, 0, 1) {
		if err := s.EnsurePartitions(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	type org struct {
		days int
		org  *vibemon.Org
		dev  *vibemon.Device
	}
	orgs := []*org{{days: 5}, {days: 15}}
	const step = 6 * time.Hour
	n := int(now.Sub(start)/step) + 1
	for _, o := range orgs {
		o.org, o.dev = newPlant(t, s, o.days)
		rs := make([]vibemon.Reading, n)
		for i := range rs {
			rs[i] = vibemon.NewReading(o.dev.ID, int64(i), start.Add(time.Duration(i)*step))
			rs[i].Values[vibemon.TempC] = 40
		}
		if _, err := s.InsertReadings(ctx, o.org.ID, rs); err != nil {
			t.Fatal(err)
		}
	}
	before, err := s.Partitions(ctx)
	if err != nil {
		t.Fatal(err)
	}

	rep, err := s.PruneReadings(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	// The longest retention is 15 days: days ending at or before
	// now-15d go whole.
	cut := now.Add(-15 * 24 * time.Hour)
	var wantDropped []string
	for _, name := range before {
		day, _ := time.Parse("20060102", name[len("readings_"):])
		if !day.AddDate(0, 0, 1).After(cut) {
			wantDropped = append(wantDropped, name)
		}
	}
	if len(wantDropped) == 0 || !slices.Equal(rep.PartitionsDropped, wantDropped) {
		t.Fatalf("dropped %v, want %v", rep.PartitionsDropped, wantDropped)
	}
	after, err := s.Partitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range wantDropped {
		if slices.Contains(after, name) {
			t.Errorf("partition %s still attached after the drop", name)
		}
	}
	if rep.RowsDeleted == 0 {
		t.Error("no rows deleted row by row; the 5-day org's rows between 15 and 5 days old should have been")
	}
	for _, o := range orgs {
		cutoff := now.Add(-time.Duration(o.days) * 24 * time.Hour)
		want := 0
		for i := range n {
			if !start.Add(time.Duration(i) * step).Before(cutoff) {
				want++
			}
		}
		pts, err := s.QueryReadings(ctx, o.org.ID, vibemon.ReadingQuery{DeviceID: o.dev.ID, From: start.Add(-48 * time.Hour), To: now.Add(time.Hour), Bucket: vibemon.BucketRaw, Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		if len(pts) != want {
			t.Errorf("org with %d days: %d readings left, want %d", o.days, len(pts), want)
		}
		for _, p := range pts {
			if p.TS.Before(cutoff) {
				t.Errorf("org with %d days keeps a reading of %v, before its cutoff %v", o.days, p.TS, cutoff)
				break
			}
		}
	}
	// New readings still land after partitions were dropped.
	r := vibemon.NewReading(orgs[0].dev.ID, int64(n), now)
	if _, err := s.InsertReadings(ctx, orgs[0].org.ID, []vibemon.Reading{r}); err != nil {
		t.Fatalf("insert after pruning: %v", err)
	}
}

// TestRetentionPrunesSeenBlocks: the reading_seen bitmaps of blocks whose
// newest reading is older than the org's retention go with the readings;
// a block with any reading inside the retention stays (its readings are
// still refused as duplicates), and so does every block of an org that
// keeps everything. Ingest meanwhile is not disturbed.
func TestRetentionPrunesSeenBlocks(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url)
	now := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	opts := testOptions(schema)
	opts.Now = func() time.Time { return now }
	s := openStore(t, url, schema, opts)
	ctx := context.Background()

	// blocks: 0 all 30 days old, 1 all 12 days old, 2 from 12 to 2 days
	// old (spans the 10-day cutoff), 3 a day old.
	at := map[int64][]time.Time{
		0: {now.AddDate(0, 0, -30), now.AddDate(0, 0, -30).Add(time.Hour)},
		1: {now.AddDate(0, 0, -12)},
		2: {now.AddDate(0, 0, -12), now.AddDate(0, 0, -2)},
		3: {now.AddDate(0, 0, -1)},
	}
	type plant struct {
		days int
		org  *vibemon.Org
		dev  *vibemon.Device
		rs   []vibemon.Reading
	}
	plants := []*plant{{days: 10}, {days: 0}}
	for _, p := range plants {
		p.org, p.dev = newPlant(t, s, p.days)
		for block, tss := range at {
			for i, ts := range tss {
				r := vibemon.NewReading(p.dev.ID, block<<9+int64(i)*10, ts) // 512 seqs per block (migration 0018)
				r.Values[vibemon.TempC] = 40
				p.rs = append(p.rs, r)
			}
		}
		if _, err := s.InsertReadings(ctx, p.org.ID, p.rs); err != nil {
			t.Fatal(err)
		}
	}
	blocks := func(dev int64) []int64 {
		t.Helper()
		rows, err := s.Pool().Query(ctx, "SELECT block FROM reading_seen WHERE device_id = $1 ORDER BY block", dev)
		if err != nil {
			t.Fatal(err)
		}
		bs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			t.Fatal(err)
		}
		return bs
	}
	if got := blocks(plants[0].dev.ID); !slices.Equal(got, []int64{0, 1, 2, 3}) {
		t.Fatalf("before pruning the device has blocks %v, want 0..3", got)
	}

	rep, err := s.PruneReadings(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if rep.SeenBlocksDeleted != 2 {
		t.Errorf("PruneReadings = %+v, want 2 seen blocks deleted (0 and 1)", rep)
	}
	if got := blocks(plants[0].dev.ID); !slices.Equal(got, []int64{2, 3}) {
		t.Errorf("the 10-day org's device keeps blocks %v, want [2 3]", got)
	}
	if got := blocks(plants[1].dev.ID); !slices.Equal(got, []int64{0, 1, 2, 3}) {
		t.Errorf("the unlimited org's device keeps blocks %v, want all four", got)
	}
	// What is kept is still a duplicate; a new reading in a kept block is new.
	kept := []vibemon.Reading{}
	for _, r := range plants[0].rs {
		if !r.TS.Before(now.AddDate(0, 0, -10)) {
			kept = append(kept, r)
		}
	}
	isNew, err := s.InsertReadings(ctx, plants[0].org.ID, kept)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(isNew, true) {
		t.Errorf("kept readings sent again after pruning: new %v, want all duplicates", isNew)
	}
	fresh := vibemon.NewReading(plants[0].dev.ID, 2<<9+1, now)
	fresh.Values[vibemon.TempC] = 41
	if isNew, err := s.InsertReadings(ctx, plants[0].org.ID, []vibemon.Reading{fresh}); err != nil || !isNew[0] {
		t.Errorf("a new reading in a kept block after pruning: new %v, err %v; want stored", isNew, err)
	}
	rep, err = s.PruneReadings(ctx, now)
	if err != nil || rep.SeenBlocksDeleted != 0 {
		t.Errorf("second PruneReadings = %+v, %v; want no block left to delete", rep, err)
	}
}
