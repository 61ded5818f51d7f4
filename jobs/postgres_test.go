package jobs_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/jobs"
	"github.com/vibemon/vibemon/pgtest"
	"github.com/vibemon/vibemon/postgres"
)

// countingPartitions counts the EnsurePartitions calls of every replica.
type countingPartitions struct {
	store *postgres.Store
	calls *atomic.Int64
}

func (c countingPartitions) EnsurePartitions(ctx context.Context, now time.Time) error {
	c.calls.Add(1)
	return c.store.EnsurePartitions(ctx, now)
}

// pgTestSchema returns the test PostgreSQL server's URL and a fresh
// schema (pgtest: skips without the server, fails under
// VIBEMON_TEST_STRICT=1).
func pgTestSchema(t *testing.T) (url, schema string) {
	t.Helper()
	url = pgtest.URL(t)
	return url, pgtest.Schema(t, url)
}

// pgReplicas opens n stores on one fresh schema of VIBEMON_TEST_DATABASE_URL
// (one per replica) and builds their Runners concurrently, as replicas
// starting together would; it skips without the variable (fails under
// VIBEMON_TEST_STRICT=1).
func pgReplicas(t *testing.T, n int, calls *atomic.Int64) ([]*postgres.Store, []*jobs.Runner) {
	t.Helper()
	url, schema := pgTestSchema(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stores := make([]*postgres.Store, n)
	for i := range stores {
		st, err := postgres.Open(ctx, url, postgres.Options{Schema: schema, MaxConns: 4, MaintenanceInterval: -1, MergeInterval: -1, Now: func() time.Time { return now }})
		must(t, err)
		t.Cleanup(func() { st.Close() })
		stores[i] = st
	}
	runners := make([]*jobs.Runner, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range runners {
		wg.Go(func() {
			runners[i], errs[i] = jobs.New(jobs.Config{
				PGPool: stores[i].Pool(), Store: stores[i], Orgs: stores[i], Now: func() time.Time { return now },
				Partitions: countingPartitions{stores[i], calls},
				Rollups:    stores[i], RollupInterval: 200 * time.Millisecond,
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: New with River's migrations racing: %v", i, err)
		}
		t.Cleanup(runners[i].Stop)
	}
	return stores, runners
}

func TestPostgresReplicasRunEachJobOnce(t *testing.T) {
	var calls atomic.Int64
	stores, runners := pgReplicas(t, 2, &calls)
	ctx := context.Background()
	for _, r := range runners {
		if err := r.Ready(ctx); err == nil {
			t.Error("Ready before Start = nil, want an error")
		}
		must(t, r.Start(ctx))
		must(t, r.Ready(ctx))
	}
	st := stores[0]
	org := &vibemon.Org{Name: "acme"}
	must(t, st.CreateOrg(ctx, org))
	asset := &vibemon.Asset{OrgID: org.ID, Name: "pump", RPM: 1480, ISOGroup: 2, Foundation: vibemon.FoundationRigid, Bearing: "6205"}
	must(t, st.CreateAsset(ctx, asset))
	dev := &vibemon.Device{OrgID: org.ID, AssetID: asset.ID, Serial: "node-1", Name: "DE bearing"}
	_, err := st.RegisterDevice(ctx, dev)
	must(t, err)

	// The same burst submitted through one replica and enqueued again
	// through the other is analysed once.
	w := outerRaceBurst(t)
	w.DeviceID = dev.ID
	must(t, runners[0].Submit(ctx, org.ID, w))
	must(t, runners[1].EnqueueAnalyzeWaveform(ctx, org.ID, w.ID))
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := stores[1].GetWaveform(ctx, org.ID, w.ID)
		must(t, err)
		if got.AnalysisStatus == vibemon.AnalysisDone {
			break
		}
		if got.AnalysisStatus != vibemon.AnalysisPending || time.Now().After(deadline) {
			t.Fatalf("waveform status %q (%s), want done within 30 s", got.AnalysisStatus, got.Analysis)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var jobsOfBurst int
	must(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'analyze_waveform' AND (args->>'waveform_id')::bigint = $1`, w.ID).Scan(&jobsOfBurst))
	if jobsOfBurst != 1 {
		t.Errorf("%d River jobs for the burst, want 1", jobsOfBurst)
	}

	// River's leader runs EnsurePartitions at start; the follower does not.
	for deadline := time.Now().Add(20 * time.Second); calls.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if got := calls.Load(); got != 1 {
		t.Errorf("EnsurePartitions ran %d times on two replicas, want 1", got)
	}
	// The stores do not merge rollup deltas themselves: the MergeRollups
	// job does, and queries see the readings before and after.
	rs := make([]vibemon.Reading, 120)
	for i := range rs {
		rs[i] = vibemon.NewReading(dev.ID, int64(i), now.Add(time.Duration(i-120)*time.Minute))
		rs[i].Values[vibemon.TempC] = float64(i)
	}
	_, err = st.InsertReadings(ctx, org.ID, rs)
	must(t, err)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		n, err := st.PendingRollupDeltas(ctx)
		must(t, err)
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rollup deltas still unmerged after 20 s; the MergeRollups job did not run", n)
		}
	}
	pts, err := stores[1].QueryReadings(ctx, org.ID, vibemon.ReadingQuery{DeviceID: dev.ID, From: now.Add(-3 * time.Hour), To: now, Bucket: vibemon.BucketDay})
	must(t, err)
	var count int64
	for _, p := range pts {
		count += p.Count
	}
	if count != 120 {
		t.Errorf("daily rollups count %d readings after the merge job, want 120", count)
	}
	for _, r := range runners {
		r.Stop()
		if err := r.Ready(ctx); err == nil {
			t.Error("Ready after Stop = nil, want an error")
		}
	}
}
