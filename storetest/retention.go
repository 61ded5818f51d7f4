package storetest

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/ingest"
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
	count := func(tn *tenant) (raw, minutes, rolled int64) {
		t.Helper()
		q := vibemon.ReadingQuery{DeviceID: tn.device.ID, From: start.Add(-time.Hour), To: base.Add(48 * time.Hour), Bucket: vibemon.BucketRaw, Limit: 10000}
		raw = int64(len(query(t, s, tn.org.ID, q)))
		q.Bucket = vibemon.BucketMinute
		for _, pt := range query(t, s, tn.org.ID, q) {
			minutes += pt.Count
		}
		q.Bucket = vibemon.BucketDay
		for _, pt := range query(t, s, tn.org.ID, q) {
			rolled += pt.Count
		}
		return raw, minutes, rolled
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
	// An org keeps everything, so no whole partition may go. Each reading
	// has a minute of its own, none the cutoff's: as many minute rollups go.
	if rep.RowsDeleted != wantDeleted || len(rep.PartitionsDropped) != 0 || rep.MinuteRollupsDeleted != wantDeleted {
		t.Errorf("PruneReadings = %+v, want %d rows and as many minute rollups deleted, and no partition dropped", rep, wantDeleted)
	}
	for _, c := range []struct {
		tn   *tenant
		want int64
	}{{short, keep(10)}, {forever, total}, {long, keep(30)}} {
		raw, minutes, rolled := count(c.tn)
		if raw != c.want {
			t.Errorf("org %s (retention %d days): %d raw readings left, want %d", c.tn.org.Name, c.tn.org.RetentionDays, raw, c.want)
		}
		if minutes != c.want {
			t.Errorf("org %s: minute rollups count %d readings, want %d: those of the kept readings (older minutes go with their readings)", c.tn.org.Name, minutes, c.want)
		}
		if rolled != total {
			t.Errorf("org %s: daily rollups count %d readings, want all %d (rollups are kept)", c.tn.org.Name, rolled, total)
		}
	}
	rep, err = p.PruneReadings(ctx(t), now)
	must(t, err)
	if rep.RowsDeleted != 0 || len(rep.PartitionsDropped) != 0 || rep.SeenBlocksDeleted != 0 || rep.MinuteRollupsDeleted != 0 {
		t.Errorf("second PruneReadings = %+v, want nothing left to remove", rep)
	}

	testRetentionKeepsIngestIdempotent(t, s, p, short, now, total)
}

// testRetentionKeepsIngestIdempotent: after pruning, a gateway resending
// pruned readings through the ingest pipeline gets each rejected (with
// its index and a reason naming the retention) and the kept rollups still
// count every reading once; a resend of kept readings is a duplicate, also
// where a device's old and new readings fall in different blocks of 4096
// sequence numbers (PostgreSQL prunes the old block's seen bitmap); a new
// reading exactly at the horizon is accepted, one a millisecond older is
// not.
func testRetentionKeepsIngestIdempotent(t *testing.T, s vibemon.Store, p vibemon.ReadingPruner, short *tenant, now time.Time, total int64) {
	svc := ingest.New(ingest.Config{Store: s, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
	horizon := vibemon.RetentionHorizon(short.org.RetentionDays, now)
	rolled := func(dev int64) int64 {
		t.Helper()
		var n int64
		q := vibemon.ReadingQuery{DeviceID: dev, From: base.Add(-60 * 24 * time.Hour), To: now.Add(48 * time.Hour), Bucket: vibemon.BucketDay, Limit: 10000}
		for _, pt := range query(t, s, short.org.ID, q) {
			n += pt.Count
		}
		return n
	}

	// The first device's pruned readings (40 to 11 days old), sent again.
	start := base.Add(-40 * 24 * time.Hour)
	old := series(short.device.ID, 0, 8, start, 6*time.Hour)
	res, err := svc.Ingest(ctx(t), short.org.ID, old)
	must(t, err)
	if res.Accepted != 0 || res.Duplicates != 0 || len(res.Rejected) != len(old) {
		t.Fatalf("resending %d pruned readings: %+v; want every one rejected", len(old), res)
	}
	for i, rj := range res.Rejected {
		if rj.Index != i || rj.Code != vibemon.EINVALID || !strings.Contains(rj.Message, "retention of 10 days") {
			t.Errorf("rejection %d = %+v; want index %d, code invalid and a message naming the retention", i, rj, i)
		}
	}
	if got := rolled(short.device.ID); got != total {
		t.Errorf("after the resend the daily rollups count %d readings, want still %d", got, total)
	}

	// A second device: 10 readings 40 days ago in seq block 0, 10 a day
	// ago in block 1 (seq 5000 on).
	dev := &vibemon.Device{OrgID: short.org.ID, Serial: "retention-blocks"}
	_, err = s.RegisterDevice(ctx(t), dev)
	must(t, err)
	oldRs := series(dev.ID, 0, 10, start, time.Minute)
	newRs := series(dev.ID, 5000, 10, base.Add(-24*time.Hour), time.Minute)
	insert(t, s, short.org.ID, append(append([]vibemon.Reading{}, oldRs...), newRs...))
	rep, err := p.PruneReadings(ctx(t), now)
	must(t, err)
	if rep.RowsDeleted != int64(len(oldRs)) {
		t.Errorf("PruneReadings after the second device = %+v, want its %d old readings deleted", rep, len(oldRs))
	}
	res, err = svc.Ingest(ctx(t), short.org.ID, append(append([]vibemon.Reading{}, oldRs...), newRs...))
	must(t, err)
	if res.Accepted != 0 || res.Duplicates != len(newRs) || len(res.Rejected) != len(oldRs) {
		t.Errorf("resending the second device's readings: accepted %d, duplicates %d, rejected %d; want 0, %d, %d",
			res.Accepted, res.Duplicates, len(res.Rejected), len(newRs), len(oldRs))
	}
	if isNew := insert(t, s, short.org.ID, newRs); countTrue(isNew) != 0 {
		t.Errorf("InsertReadings of kept readings after pruning stored %d again, want 0 (duplicates)", countTrue(isNew))
	}
	if got, want := rolled(dev.ID), int64(len(oldRs)+len(newRs)); got != want {
		t.Errorf("second device's daily rollups count %d readings, want %d", got, want)
	}

	// The horizon itself: at it is kept, a millisecond before is refused.
	edge := series(dev.ID, 6000, 2, horizon.Add(-time.Millisecond), time.Millisecond)
	res, err = svc.Ingest(ctx(t), short.org.ID, edge)
	must(t, err)
	if res.Accepted != 1 || len(res.Rejected) != 1 || res.Rejected[0].Index != 0 {
		t.Errorf("readings a millisecond before and at the horizon %s: %+v; want the first rejected, the second accepted", horizon, res)
	}

	// The org remembers how far retention deleted, and a longer retention
	// set afterwards does not let the deleted readings in again: they
	// could not be told from new ones, and the kept rollups would count
	// them twice.
	o, err := s.GetOrg(ctx(t), short.org.ID)
	must(t, err)
	if o.PrunedBefore == nil || !o.PrunedBefore.Equal(horizon.Truncate(time.Millisecond)) {
		t.Errorf("org pruned_before = %v after pruning at %s with 10 days, want %s", o.PrunedBefore, now, horizon)
	}
	o.RetentionDays = 100
	must(t, s.UpdateOrg(ctx(t), o))
	if o.PrunedBefore == nil {
		t.Error("UpdateOrg's answer lost pruned_before")
	}
	res, err = svc.Ingest(ctx(t), short.org.ID, old)
	must(t, err)
	if res.Accepted != 0 || len(res.Rejected) != len(old) || !strings.Contains(res.Rejected[0].Message, "were deleted by its retention") {
		t.Fatalf("resending pruned readings after retention was raised to 100 days: %+v; want every one rejected as deleted", res)
	}
	if got := rolled(short.device.ID); got != total {
		t.Errorf("after the resend with a raised retention the daily rollups count %d readings, want still %d", got, total)
	}
	// A prune under the longer retention never moves pruned_before back.
	_, err = p.PruneReadings(ctx(t), now)
	must(t, err)
	if o2, err := s.GetOrg(ctx(t), short.org.ID); err != nil || o2.PrunedBefore == nil || !o2.PrunedBefore.Equal(*o.PrunedBefore) {
		t.Errorf("pruned_before after a prune with 100 days = %v (err %v), want it kept at %v", o2.PrunedBefore, err, o.PrunedBefore)
	}
}

// testWaveformRetention: each org's bursts older than its
// waveform_retention_days go, with more than one delete batch of them; newer
// ones, every burst of an org that keeps them, and every reading stay; a
// second run finds nothing more. The setting round-trips and refuses bad
// values.
func testWaveformRetention(t *testing.T, s vibemon.Store) {
	p, ok := s.(vibemon.ReadingPruner)
	if !ok {
		t.Fatalf("%T does not implement vibemon.ReadingPruner", s)
	}
	short, forever := newTenant(t, s, "bursts-short"), newTenant(t, s, "bursts-forever")
	short.org.WaveformRetentionDays = 7
	must(t, s.UpdateOrg(ctx(t), short.org))
	if got, err := s.GetOrg(ctx(t), short.org.ID); err != nil || got.WaveformRetentionDays != 7 || got.RetentionDays != 0 {
		t.Fatalf("GetOrg = %+v (%v), want waveform_retention_days 7 and readings kept forever", got, err)
	}
	if fresh, err := s.GetOrg(ctx(t), forever.org.ID); err != nil || fresh.WaveformRetentionDays != 0 {
		t.Fatalf("a new org's waveform_retention_days = %+v (%v), want 0 (unlimited)", fresh, err)
	}
	for _, bad := range []int{-1, vibemon.MaxRetentionDays + 1} {
		o := *short.org
		o.WaveformRetentionDays = bad
		wantCode(t, s.UpdateOrg(ctx(t), &o), vibemon.EINVALID)
	}
	// 700 bursts an hour apart (29 days) per org, and a reading with each
	// of the short org's.
	const n = 700
	now := base.Add(time.Minute)
	for _, tn := range []*tenant{short, forever} {
		for i := range n {
			createWaveform(t, s, newWaveform(tn.org.ID, tn.device.ID, now.Add(-time.Duration(i)*time.Hour-time.Minute)))
		}
	}
	insert(t, s, short.org.ID, series(short.device.ID, 0, n, now.Add(-n*time.Hour), time.Hour))
	count := func(tn *tenant) int {
		ws, err := s.ListWaveforms(ctx(t), tn.org.ID, tn.device.ID, now.Add(-60*24*time.Hour), now.Add(time.Hour), 10000)
		must(t, err)
		for _, w := range ws {
			if w.TS.Before(now.Add(-7*24*time.Hour)) && tn == short {
				t.Errorf("a burst of %s (7 days of bursts) survived the prune", w.TS)
				break
			}
		}
		return len(ws)
	}
	deleted, err := p.PruneWaveforms(ctx(t), now)
	must(t, err)
	// Bursts at now-1min, now-1h-1min, ...: those within 7 days are i*1h+1min <= 168h, i = 0..167.
	if kept := count(short); kept != 168 || deleted != n-168 {
		t.Errorf("short org: %d bursts kept, %d deleted; want 168 kept (7 days) and %d deleted", kept, deleted, n-168)
	}
	if kept := count(forever); kept != n {
		t.Errorf("an org without a burst retention kept %d of its %d bursts", kept, n)
	}
	raw := query(t, s, short.org.ID, vibemon.ReadingQuery{DeviceID: short.device.ID, From: now.Add(-60 * 24 * time.Hour), To: now.Add(time.Hour), Bucket: vibemon.BucketRaw, Limit: 10000})
	if len(raw) != n {
		t.Errorf("the burst prune left %d of the org's %d readings, want all", len(raw), n)
	}
	if again, err := p.PruneWaveforms(ctx(t), now); err != nil || again != 0 {
		t.Errorf("a second prune deleted %d (%v), want 0", again, err)
	}
}
