package jobs_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/jobs"
	"github.com/vibemon/vibemon/postgres"
	"github.com/vibemon/vibemon/sqlite"
)

// TestPruneReadingsJobAppliesRetention starts a runner with Retention set:
// the periodic job runs at start and removes the readings older than the
// org's retention, by the injected clock, and keeps the rest.
func TestPruneReadingsJobAppliesRetention(t *testing.T) {
	dir := t.TempDir()
	clock := func() time.Time { return now }
	st, err := sqlite.Open(filepath.Join(dir, "vibemon.db"), sqlite.Options{Now: clock, Synchronous: "NORMAL"})
	must(t, err)
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	org := &vibemon.Org{Name: "acme", RetentionDays: 7, WaveformRetentionDays: 3}
	must(t, st.CreateOrg(ctx, org))
	dev := &vibemon.Device{OrgID: org.ID, Serial: "node-1"}
	_, err = st.RegisterDevice(ctx, dev)
	must(t, err)
	var rs []vibemon.Reading
	for i := range 20 { // one a day, 19 days ago to today, and a burst with each
		ts := now.Add(-time.Duration(19-i) * 24 * time.Hour)
		rs = append(rs, vibemon.NewReading(dev.ID, int64(i), ts))
		w := &vibemon.Waveform{OrgID: org.ID, DeviceID: dev.ID, TS: ts, SampleRateHz: 1000, Axes: 1, Samples: 256, Scale: 1.0 / 2048, Data: make([]int16, 256)}
		must(t, st.CreateWaveform(ctx, w))
	}
	_, err = st.InsertReadings(ctx, org.ID, rs)
	must(t, err)

	r, err := jobs.New(jobs.Config{Path: filepath.Join(dir, "jobs.db"), Store: st, Retention: st, Now: clock})
	must(t, err)
	t.Cleanup(r.Stop)
	must(t, r.Start(ctx))

	q := vibemon.ReadingQuery{DeviceID: dev.ID, From: now.Add(-30 * 24 * time.Hour), To: now.Add(time.Hour), Bucket: vibemon.BucketRaw}
	deadline := time.Now().Add(20 * time.Second)
	for {
		pts, err := st.QueryReadings(ctx, org.ID, q)
		must(t, err)
		ws, err := st.ListWaveforms(ctx, org.ID, dev.ID, now.Add(-30*24*time.Hour), now.Add(time.Hour), 100)
		must(t, err)
		if len(pts) == 8 && len(ws) == 4 { // 7 (3) days ago, exactly at the cutoff, to today
			if cutoff := now.Add(-7 * 24 * time.Hour); pts[0].TS.Before(cutoff) {
				t.Fatalf("oldest reading left is of %v, before the cutoff %v", pts[0].TS, cutoff)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d readings and %d bursts left after 20 s, want the 8 of the last 7 days and the 4 of the last 3", len(pts), len(ws))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPruneReadingsJobPrunesSeenBlocksOnPostgres runs the periodic job on
// River over PostgreSQL: the readings older than the org's retention go,
// and so does the idempotency bitmap (reading_seen) of their block of
// sequence numbers; the block of the kept readings stays.
func TestPruneReadingsJobPrunesSeenBlocksOnPostgres(t *testing.T) {
	url, schema := pgTestSchema(t)
	ctx := context.Background()
	clock := func() time.Time { return now }
	st, err := postgres.Open(ctx, url, postgres.Options{Schema: schema, MaxConns: 4, MaintenanceInterval: -1, Now: clock})
	must(t, err)
	t.Cleanup(func() { st.Close() })
	org := &vibemon.Org{Name: "acme", RetentionDays: 7}
	must(t, st.CreateOrg(ctx, org))
	dev := &vibemon.Device{OrgID: org.ID, Serial: "node-1"}
	_, err = st.RegisterDevice(ctx, dev)
	must(t, err)
	// Block 0: 10 readings 20 days old; block 1 (seq 512 on, PostgreSQL's
	// blocks being 512 seqs): 10 of today.
	var rs []vibemon.Reading
	for i := range 10 {
		rs = append(rs, vibemon.NewReading(dev.ID, int64(i), now.Add(-20*24*time.Hour+time.Duration(i)*time.Minute)),
			vibemon.NewReading(dev.ID, 512+int64(i), now.Add(-time.Duration(i)*time.Minute)))
	}
	for i := range rs {
		rs[i].Values[vibemon.TempC] = 40
	}
	_, err = st.InsertReadings(ctx, org.ID, rs)
	must(t, err)

	r, err := jobs.New(jobs.Config{PGPool: st.Pool(), Store: st, Retention: st, Now: clock})
	must(t, err)
	t.Cleanup(r.Stop)
	must(t, r.Start(ctx))

	deadline := time.Now().Add(20 * time.Second)
	for {
		var readings int
		var blocks []int64
		must(t, st.Pool().QueryRow(ctx, "SELECT count(*) FROM readings WHERE device_id = $1", dev.ID).Scan(&readings))
		rows, err := st.Pool().Query(ctx, "SELECT block FROM reading_seen WHERE device_id = $1 ORDER BY block", dev.ID)
		must(t, err)
		blocks, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		must(t, err)
		if readings == 10 && len(blocks) == 1 && blocks[0] == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: %d readings and seen blocks %v; want the 10 of today and block [1]", readings, blocks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
