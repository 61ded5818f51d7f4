package storetest

import (
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

// testRetention: each org's raw readings older than its retention_days go,
// newer ones and every reading of an org without retention stay, rollups
// stay, and a second run finds nothing more.
func testRetention(t *testing.T, s vibemon.Store) {
	p, ok := s.(vibemon.ReadingPruner)
	if !ok {
		t.Fatalf("%T does not implement vibemon.ReadingPruner", s)
	}
	short, forever, long := newTenant(t, s, "short"), newTenant(t, s, "forever"), newTenant(t, s, "long")

	// Settings round trip; bad values are refused.
	short.org.RetentionDays = 10
	must(t, s.UpdateOrg(ctx(t), short.org))
	long.org.RetentionDays = 30
	must(t, s.UpdateOrg(ctx(t), long.org))
	got, err := s.GetOrg(ctx(t), short.org.ID)
	must(t, err)
	if got.RetentionDays != 10 {
		t.Fatalf("GetOrg retention_days = %d, want 10", got.RetentionDays)
	}
	if fresh, err := s.GetOrg(ctx(t), forever.org.ID); err != nil || fresh.RetentionDays != 0 {
		t.Fatalf("a new org's retention_days = %v (%v), want 0 (unlimited)", fresh, err)
	}
	for _, bad := range []int{-1, vibemon.MaxRetentionDays + 1} {
		o := *short.org
		o.RetentionDays = bad
		wantCode(t, s.UpdateOrg(ctx(t), &o), vibemon.EINVALID)
	}

	// Four readings a day for 41 days up to base, per org.
	start := base.Add(-40 * 24 * time.Hour)
	const perDay, days = 4, 41
	for _, tn := range []*tenant{short, forever, long} {
		insert(t, s, tn.org.ID, series(tn.device.ID, 0, perDay*days, start, 6*time.Hour))
	}
	now := base.Add(13 * time.Hour) // cutoffs fall at 13:00, between readings
	count := func(tn *tenant) (raw, rolled int64) {
		t.Helper()
		q := vibemon.ReadingQuery{DeviceID: tn.device.ID, From: start.Add(-time.Hour), To: base.Add(48 * time.Hour), Bucket: vibemon.BucketRaw, Limit: 10000}
		raw = int64(len(query(t, s, tn.org.ID, q)))
		q.Bucket = vibemon.BucketDay
		for _, pt := range query(t, s, tn.org.ID, q) {
			rolled += pt.Count
		}
		return raw, rolled
	}
	// Readings at 00, 06, 12, 18 h: a cutoff at day D 13:00 keeps D 18:00
	// and later. Ten days before base+13h is base-10d+13h.
	keep := func(retention int) int64 {
		cut := now.Add(-time.Duration(retention) * 24 * time.Hour)
		n := int64(0)
		for i := range perDay * days {
			if !start.Add(time.Duration(i) * 6 * time.Hour).Before(cut) {
				n++
			}
		}
		return n
	}
	rep, err := p.PruneReadings(ctx(t), now)
	must(t, err)
	total := int64(perDay * days)
	wantDeleted := (total - keep(10)) + (total - keep(30))
	// An org keeps everything, so no whole partition may go.
	if rep.RowsDeleted != wantDeleted || len(rep.PartitionsDropped) != 0 {
		t.Errorf("PruneReadings = %+v, want %d rows deleted and no partition dropped", rep, wantDeleted)
	}
	for _, c := range []struct {
		tn   *tenant
		want int64
	}{{short, keep(10)}, {forever, total}, {long, keep(30)}} {
		raw, rolled := count(c.tn)
		if raw != c.want {
			t.Errorf("org %s (retention %d days): %d raw readings left, want %d", c.tn.org.Name, c.tn.org.RetentionDays, raw, c.want)
		}
		if rolled != total {
			t.Errorf("org %s: daily rollups count %d readings, want all %d (rollups are kept)", c.tn.org.Name, rolled, total)
		}
	}
	rep, err = p.PruneReadings(ctx(t), now)
	must(t, err)
	if rep.RowsDeleted != 0 || len(rep.PartitionsDropped) != 0 {
		t.Errorf("second PruneReadings = %+v, want nothing left to remove", rep)
	}
}
