package ingest_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/ingest"
	"github.com/vibemon/vibemon/sqlite"
)

// TestIngestRefusesReadingsOlderThanTheRetention: with a retention set, a
// reading older than the horizon is rejected (its index, code invalid, a
// message naming the retention) and the rest of the batch is stored; a
// retention set on the org applies once the service's cached copy (a
// DeviceCacheTTL old) has expired; an org without retention takes any
// valid age.
func TestIngestRefusesReadingsOlderThanTheRetention(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "v.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	org := &vibemon.Org{Name: "A"}
	if err := store.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	dev := &vibemon.Device{OrgID: org.ID, Serial: "node"}
	if _, err := store.RegisterDevice(ctx, dev); err != nil {
		t.Fatal(err)
	}
	svc := ingest.New(ingest.Config{Store: store, Now: func() time.Time { return now }, DeviceCacheTTL: 50 * time.Millisecond})
	reading := func(seq int64, age time.Duration) vibemon.Reading {
		r := vibemon.NewReading(dev.ID, seq, now.Add(-age))
		r.Values[vibemon.TempC] = 40
		return r
	}

	// No retention: a reading of last year is stored.
	res, err := svc.Ingest(ctx, org.ID, []vibemon.Reading{reading(1, 365*24*time.Hour)})
	if err != nil || res.Accepted != 1 {
		t.Fatalf("a year-old reading without retention: %+v, %v; want accepted", res, err)
	}

	org.RetentionDays = 7
	if err := store.UpdateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	// Within the cache's 50 ms the old setting may still apply; after it,
	// the 7 days must.
	deadline := time.Now().Add(10 * time.Second)
	seq := int64(100)
	for {
		seq++
		batch := []vibemon.Reading{reading(seq, 8*24*time.Hour), reading(seq+1000, time.Hour)}
		res, err = svc.Ingest(ctx, org.ID, batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rejected) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after setting a 7-day retention an 8-day-old reading is still stored: %+v", res)
		}
		time.Sleep(10 * time.Millisecond)
	}
	rj := res.Rejected[0]
	if rj.Index != 0 || rj.Code != vibemon.EINVALID || !strings.Contains(rj.Message, "retention of 7 days") || res.Accepted != 1 {
		t.Errorf("8-day-old reading and a fresh one with a 7-day retention: %+v; want index 0 rejected (invalid, naming the retention) and the fresh one accepted", res)
	}
}
