package jobs_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/jobs"
	"github.com/vibemon/vibemon/postgres"
)

// flakyMerger fails its first `fail` calls, as MergeRollups does when the
// database is briefly unavailable or the merge loses a deadlock against the
// monthly rollup rewrite, and then merges.
type flakyMerger struct {
	store *postgres.Store
	fail  int64
	calls atomic.Int64
	// hang makes the failing calls hang until the job's context ends or
	// the test does, as a merge stuck on a lock or a dead worker's job.
	hang chan struct{}
}

func (f *flakyMerger) TryMergeRollups(ctx context.Context) (int64, error) {
	if f.calls.Add(1) <= f.fail {
		if f.hang != nil {
			select {
			case <-f.hang:
			case <-ctx.Done():
			}
		}
		return 0, errors.New("merge rollups: the database is busy or unavailable; retry later")
	}
	return f.store.TryMergeRollups(ctx)
}

// TestMergeRollupsJobRecoversAtItsInterval: after a few failed merges (a
// database restart, a lost deadlock) the next merge runs at the job's
// interval, not after River's growing retry backoff (1 s, 16 s, 81 s, ...
// days), during which the job's uniqueness kept every periodic run out and
// rollup deltas piled up, making every bucketed query slower.
func TestMergeRollupsJobRecoversAtItsInterval(t *testing.T) {
	runFlakyMerge(t, &flakyMerger{fail: 3})
}

// TestMergeRollupsJobNotBlockedByAHungRun: a run that hangs (a merge stuck
// on a lock until its timeout, or a dead worker's job until River's
// rescuer comes an hour later) holds only its own interval; the next
// interval's run merges.
func TestMergeRollupsJobNotBlockedByAHungRun(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang) // before the runner's cleanup stops it
	runFlakyMerge(t, &flakyMerger{fail: 1, hang: hang})
}

// runFlakyMerge starts a River runner on PostgreSQL whose merge job calls
// merger (over a fresh store) every 200 ms, with an hour of deltas waiting,
// and waits for them to be merged.
func runFlakyMerge(t *testing.T, merger *flakyMerger) {
	url, schema := pgTestSchema(t)
	ctx := context.Background()
	st, err := postgres.Open(ctx, url, postgres.Options{Schema: schema, MaxConns: 4, MaintenanceInterval: -1, MergeInterval: -1, Now: func() time.Time { return now }})
	must(t, err)
	t.Cleanup(func() { st.Close() })
	merger.store = st
	r, err := jobs.New(jobs.Config{PGPool: st.Pool(), Store: st, Orgs: st, Now: func() time.Time { return now },
		Rollups: merger, RollupInterval: 200 * time.Millisecond})
	must(t, err)
	t.Cleanup(r.Stop)

	org := &vibemon.Org{Name: "acme"}
	must(t, st.CreateOrg(ctx, org))
	dev := &vibemon.Device{OrgID: org.ID, Serial: "node-1"}
	_, err = st.RegisterDevice(ctx, dev)
	must(t, err)
	rs := make([]vibemon.Reading, 60)
	for i := range rs {
		rs[i] = vibemon.NewReading(dev.ID, int64(i), now.Add(time.Duration(i-60)*time.Minute))
		rs[i].Values[vibemon.TempC] = float64(i)
	}
	_, err = st.InsertReadings(ctx, org.ID, rs)
	must(t, err)
	must(t, r.Start(ctx))

	start := time.Now()
	for deadline := start.Add(12 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		n, err := st.PendingRollupDeltas(ctx)
		must(t, err)
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rollup deltas still unmerged %s after the job started, its first %d runs having failed or hung (%d runs so far); want a later run at its interval",
				n, time.Since(start).Round(time.Millisecond), merger.fail, merger.calls.Load())
		}
	}
	t.Logf("merged %s after start, on run %d", time.Since(start).Round(time.Millisecond), merger.calls.Load())
}
