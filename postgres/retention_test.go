package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

// TestRetentionDropsWholePartitions: with every org on a retention, the
// daily partitions past the longest one are dropped whole, and the org with
// the shorter retention loses its older rows one by one.
func TestRetentionDropsWholePartitions(t *testing.T) {
	url := testURL(t)
	schema := newSchema(t, url)
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
		o.org = &vibemon.Org{Name: "plant", RetentionDays: o.days}
		if err := s.CreateOrg(ctx, o.org); err != nil {
			t.Fatal(err)
		}
		o.dev = &vibemon.Device{OrgID: o.org.ID, Serial: "node"}
		if _, err := s.RegisterDevice(ctx, o.dev); err != nil {
			t.Fatal(err)
		}
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
