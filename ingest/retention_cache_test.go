package ingest_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/ingest"
	"github.com/vibemon/vibemon/sqlite"
)

// TestShortenedRetentionAppliesBeforeTheCacheExpires: an owner shortens the
// org's retention and the prune runs at once; a gateway then resends a
// reading the prune removed while the service still holds the old
// retention in its cache (an hour here). The resend must be refused: stored
// again, it would be counted twice in the kept rollups.
func TestShortenedRetentionAppliesBeforeTheCacheExpires(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "v.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	org := &vibemon.Org{Name: "A", RetentionDays: 30}
	if err := store.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	dev := &vibemon.Device{OrgID: org.ID, Serial: "node"}
	if _, err := store.RegisterDevice(ctx, dev); err != nil {
		t.Fatal(err)
	}
	svc := ingest.New(ingest.Config{Store: store, Now: func() time.Time { return now }, DeviceCacheTTL: time.Hour})
	old := vibemon.NewReading(dev.ID, 1, now.Add(-5*24*time.Hour))
	old.Values[vibemon.TempC] = 40
	fresh := vibemon.NewReading(dev.ID, 2, now.Add(-time.Minute))
	fresh.Values[vibemon.TempC] = 41
	res, err := svc.Ingest(ctx, org.ID, []vibemon.Reading{old, fresh}) // caches the 30 days
	if err != nil || res.Accepted != 2 {
		t.Fatalf("first send: %+v, %v; want both accepted", res, err)
	}

	org.RetentionDays = 2
	if err := store.UpdateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	rep, err := store.PruneReadings(ctx, now)
	if err != nil || rep.RowsDeleted != 1 {
		t.Fatalf("prune with 2 days: %+v, %v; want the 5-day-old reading deleted", rep, err)
	}

	res, err = svc.Ingest(ctx, org.ID, []vibemon.Reading{old, fresh})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 0 || res.Duplicates != 1 || len(res.Rejected) != 1 || res.Rejected[0].Index != 0 || res.Rejected[0].Code != vibemon.EINVALID {
		t.Errorf("resend right after the retention was shortened to 2 days and pruned: %+v; want the pruned reading rejected (index 0, invalid) and the kept one a duplicate", res)
	}
	pts, err := store.QueryReadings(ctx, org.ID, vibemon.ReadingQuery{DeviceID: dev.ID,
		From: old.TS.Truncate(24 * time.Hour), To: old.TS.Truncate(24 * time.Hour).Add(24 * time.Hour), Bucket: vibemon.BucketDay})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 1 || pts[0].Count != 1 {
		t.Errorf("daily rollup of the pruned reading's day: %+v; want one bucket counting it once", pts)
	}
}
