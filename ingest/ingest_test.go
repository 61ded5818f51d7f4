package ingest_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/alerting"
	"github.com/vibemon/vibemon/ingest"
	"github.com/vibemon/vibemon/inproc"
	"github.com/vibemon/vibemon/sqlite"
)

type fixture struct {
	store    *sqlite.Store
	svc      *ingest.Service
	orgA     int64
	devA     *vibemon.Device
	devB     *vibemon.Device // org B's
	now      time.Time
	mu       sync.Mutex
	events   []vibemon.Event
	received chan struct{}
}

func newFixture(t *testing.T, mods ...func(*ingest.Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "v.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &fixture{store: store, now: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC), received: make(chan struct{}, 1000)}
	orgs := []*vibemon.Org{{Name: "A"}, {Name: "B"}}
	for _, o := range orgs {
		if err := store.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	f.orgA = orgs[0].ID
	f.devA = &vibemon.Device{OrgID: orgs[0].ID, Serial: "node-a"}
	f.devB = &vibemon.Device{OrgID: orgs[1].ID, Serial: "node-b"}
	for _, d := range []*vibemon.Device{f.devA, f.devB} {
		if _, err := store.RegisterDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	rule := &vibemon.Rule{OrgID: f.orgA, Name: "hot", Metric: "temp_c", Op: vibemon.OpAbove, Threshold: 80, Clear: 75, Severity: vibemon.SeverityWarning, Enabled: true}
	if err := store.CreateRule(ctx, rule); err != nil {
		t.Fatal(err)
	}
	bus := inproc.NewBus(inproc.BusConfig{})
	t.Cleanup(func() { bus.Close() })
	cancel := bus.Subscribe(func(e vibemon.Event) {
		f.mu.Lock()
		f.events = append(f.events, e)
		f.mu.Unlock()
		f.received <- struct{}{}
	})
	t.Cleanup(cancel)
	nowFn := func() time.Time { return f.now }
	cfg := ingest.Config{
		Store:    store,
		Bus:      bus,
		Presence: inproc.NewPresence(inproc.PresenceConfig{}),
		Alerts:   alerting.NewEngine(alerting.Config{Store: store, Now: nowFn}),
		Now:      nowFn,
	}
	for _, m := range mods {
		m(&cfg)
	}
	f.svc = ingest.New(cfg)
	return f
}

func (f *fixture) reading(dev *vibemon.Device, seq int64, temp float64) vibemon.Reading {
	r := vibemon.NewReading(dev.ID, seq, f.now.Add(-time.Duration(10-seq)*time.Second))
	r.Values[vibemon.TempC] = temp
	return r
}

// waitEvents waits until n events arrived and returns them.
func (f *fixture) waitEvents(t *testing.T, n int) []vibemon.Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		f.mu.Lock()
		if len(f.events) >= n {
			out := append([]vibemon.Event(nil), f.events...)
			f.mu.Unlock()
			return out
		}
		f.mu.Unlock()
		select {
		case <-f.received:
		case <-deadline:
			t.Fatalf("got %d live events, want %d", len(f.events), n)
		}
	}
}

func TestMixedBatchStoresGoodReadingsAndRejectsBadOnesByIndex(t *testing.T) {
	f := newFixture(t)
	bad := f.reading(f.devA, 3, 40)
	bad.Values[vibemon.TempC] = 900 // outside the DS18B20's range
	unknown := f.reading(f.devA, 4, 40)
	unknown.DeviceID = 9999
	batch := []vibemon.Reading{
		f.reading(f.devA, 1, 40),
		f.reading(f.devB, 1, 40), // org B's device: must look like it does not exist
		bad,
		unknown,
		f.reading(f.devA, 2, 41),
	}
	res, err := f.svc.Ingest(context.Background(), f.orgA, batch)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 2 || res.Duplicates != 0 {
		t.Errorf("accepted, duplicates = %d, %d; want 2, 0", res.Accepted, res.Duplicates)
	}
	want := map[int]string{1: vibemon.ENOTFOUND, 2: vibemon.EINVALID, 3: vibemon.ENOTFOUND}
	if len(res.Rejected) != len(want) {
		t.Fatalf("rejected = %+v, want indexes 1, 2, 3", res.Rejected)
	}
	for _, r := range res.Rejected {
		if want[r.Index] != r.Code || r.Message == "" {
			t.Errorf("rejection %+v: want code %q and a message", r, want[r.Index])
		}
	}
	pts, err := f.store.QueryReadings(context.Background(), f.orgA, vibemon.ReadingQuery{DeviceID: f.devA.ID, From: f.now.Add(-time.Hour), To: f.now.Add(time.Hour), Bucket: vibemon.BucketRaw})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 2 {
		t.Fatalf("stored %d readings of device A, want 2", len(pts))
	}
	// Nothing was written to org B's device.
	pts, _ = f.store.QueryReadings(context.Background(), f.devB.OrgID, vibemon.ReadingQuery{DeviceID: f.devB.ID, From: f.now.Add(-time.Hour), To: f.now.Add(time.Hour), Bucket: vibemon.BucketRaw})
	if len(pts) != 0 {
		t.Fatalf("org A's batch wrote %d readings to org B's device", len(pts))
	}
}

func TestSameBatchTwiceIsStoredOnce(t *testing.T) {
	f := newFixture(t)
	batch := []vibemon.Reading{f.reading(f.devA, 1, 40), f.reading(f.devA, 2, 40), f.reading(f.devA, 3, 40)}
	first, err := f.svc.Ingest(context.Background(), f.orgA, batch)
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.svc.Ingest(context.Background(), f.orgA, append(batch, f.reading(f.devA, 4, 40)))
	if err != nil {
		t.Fatal(err)
	}
	if first.Accepted != 3 || second.Accepted != 1 || second.Duplicates != 3 {
		t.Fatalf("first %+v, second %+v; want 3 accepted, then 1 accepted and 3 duplicates", first, second)
	}
}

func TestCommittedReadingsGoLiveWithAlertsAndPresence(t *testing.T) {
	f := newFixture(t)
	batch := []vibemon.Reading{f.reading(f.devA, 1, 70), f.reading(f.devA, 2, 85)}
	if _, err := f.svc.Ingest(context.Background(), f.orgA, batch); err != nil {
		t.Fatal(err)
	}
	events := f.waitEvents(t, 4)
	count := map[string]int{}
	for _, e := range events {
		count[e.Type]++
		if e.OrgID != f.orgA || e.DeviceID != f.devA.ID {
			t.Errorf("event %s for org %d device %d, want org A's device", e.Type, e.OrgID, e.DeviceID)
		}
	}
	if count[vibemon.EventReading] != 2 || count[vibemon.EventAlert] != 1 || count[vibemon.EventPresence] != 1 {
		t.Fatalf("event counts %v, want 2 readings, 1 alert, 1 presence", count)
	}
	for _, e := range events {
		if e.Type != vibemon.EventReading {
			continue
		}
		var data struct {
			Seq    int64
			Values map[string]float64
		}
		if err := json.Unmarshal(e.Data, &data); err != nil {
			t.Fatalf("reading event data %s: %v", e.Data, err)
		}
		if data.Seq == 2 && data.Values["temp_c"] != 85 {
			t.Errorf("reading event data %s: want temp_c 85", e.Data)
		}
	}
	// Re-sending publishes nothing new: duplicates are not news.
	if _, err := f.svc.Ingest(context.Background(), f.orgA, batch); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if got := len(f.waitEvents(t, 4)); got != 4 {
		t.Fatalf("after a duplicate batch: %d events, want still 4", got)
	}
}

// TestNoReadingEventsWhileNobodyWatches: with LiveWanted saying nobody
// watches the org (a single process whose hub has none of its clients),
// a batch publishes its alert and presence events but no reading events;
// once someone watches, readings go live again.
func TestNoReadingEventsWhileNobodyWatches(t *testing.T) {
	var watching atomic.Bool
	var f *fixture
	f = newFixture(t, func(c *ingest.Config) {
		c.LiveWanted = func(orgID int64) bool { return orgID == f.orgA && watching.Load() }
	})
	if _, err := f.svc.Ingest(context.Background(), f.orgA, []vibemon.Reading{f.reading(f.devA, 1, 70), f.reading(f.devA, 2, 85)}); err != nil {
		t.Fatal(err)
	}
	events := f.waitEvents(t, 2)
	time.Sleep(100 * time.Millisecond) // anything else would have come by now
	count := func() map[string]int {
		f.mu.Lock()
		defer f.mu.Unlock()
		n := map[string]int{}
		for _, e := range f.events {
			n[e.Type]++
		}
		return n
	}
	if n := count(); n[vibemon.EventReading] != 0 || n[vibemon.EventAlert] != 1 || n[vibemon.EventPresence] != 1 {
		t.Fatalf("nobody watching: events %v (%d), want 1 alert and 1 presence and no reading", n, len(events))
	}
	watching.Store(true)
	if _, err := f.svc.Ingest(context.Background(), f.orgA, []vibemon.Reading{f.reading(f.devA, 3, 70), f.reading(f.devA, 4, 71)}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); count()[vibemon.EventReading] < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := count(); n[vibemon.EventReading] != 2 {
		t.Fatalf("watching: events %v, want the batch's 2 readings", n)
	}
}

func TestLateAndBulkReadingsAreStoredButNotStreamed(t *testing.T) {
	f := newFixture(t)
	var batch []vibemon.Reading
	// An hour of backlog from a gateway that was offline, then 100 current readings.
	for i := 0; i < 360; i++ {
		r := vibemon.NewReading(f.devA.ID, int64(i), f.now.Add(-2*time.Hour+time.Duration(i)*10*time.Second))
		r.Values[vibemon.TempC] = 40
		batch = append(batch, r)
	}
	for i := 0; i < 100; i++ {
		r := vibemon.NewReading(f.devA.ID, int64(1000+i), f.now.Add(-time.Duration(100-i)*time.Second/2))
		r.Values[vibemon.TempC] = 40
		batch = append(batch, r)
	}
	res, err := f.svc.Ingest(context.Background(), f.orgA, batch)
	if err != nil || res.Accepted != 460 {
		t.Fatalf("ingest: %+v, %v; want all 460 accepted", res, err)
	}
	f.waitEvents(t, 1)
	time.Sleep(100 * time.Millisecond)
	f.mu.Lock()
	defer f.mu.Unlock()
	var seqs []int64
	for _, e := range f.events {
		if e.Type != vibemon.EventReading {
			continue
		}
		var d struct{ Seq int64 }
		_ = json.Unmarshal(e.Data, &d)
		seqs = append(seqs, d.Seq)
	}
	if len(seqs) != 32 || seqs[0] != 1068 || seqs[31] != 1099 {
		t.Fatalf("streamed seqs %v, want the newest 32 current readings (1068..1099) in time order", seqs)
	}
}

func TestDeletedDeviceIsRejectedOnceTheCacheExpires(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if res, err := f.svc.Ingest(ctx, f.orgA, []vibemon.Reading{f.reading(f.devA, 1, 40)}); err != nil || res.Accepted != 1 {
		t.Fatalf("first batch: %+v, %v", res, err)
	}
	if err := f.store.DeleteDevice(ctx, f.orgA, f.devA.ID); err != nil {
		t.Fatal(err)
	}
	// Within the cache's lifetime the store's own check refuses the batch
	// whole: nothing is written for a deleted device either way.
	if _, err := f.svc.Ingest(ctx, f.orgA, []vibemon.Reading{f.reading(f.devA, 2, 40)}); vibemon.ErrorCode(err) != vibemon.ENOTFOUND {
		t.Fatalf("batch for a just-deleted device: error %v, want not_found", err)
	}
	f.now = f.now.Add(6 * time.Second)
	res, err := f.svc.Ingest(ctx, f.orgA, []vibemon.Reading{f.reading(f.devA, 3, 40)})
	if err != nil || len(res.Rejected) != 1 || res.Rejected[0].Code != vibemon.ENOTFOUND {
		t.Fatalf("after the cache expired: %+v, %v; want the reading rejected as not_found", res, err)
	}
}
