package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// DefaultRollupInterval is how often MergeRollups runs unless
// Config.RollupInterval says otherwise.
const DefaultRollupInterval = 5 * time.Second

// RollupMerger rolls up what ingest left for later (the PostgreSQL store
// does; docs/postgres.md, "Rollups"). TryMergeRollups returns at once when
// another merge is running: that one does the work.
type RollupMerger interface {
	TryMergeRollups(ctx context.Context) (int64, error)
}

// MergeRollups is the periodic job that merges rollup deltas
// (Config.Rollups). It runs on River's leader, so once per cluster per
// interval; queries include unmerged deltas, so a late run only costs them
// time.
type MergeRollups struct{}

// Kind names the job in River's tables.
func (MergeRollups) Kind() string { return "merge_rollups" }

// InsertOpts makes a run unique while one is queued or running (not
// "completed" as River's default has it: the next run is due seconds after
// the last), and gives it one attempt: a failed run is discarded and the
// next periodic one comes at the interval. Retried instead, it would wait
// out River's growing backoff (1 s, 16 s, 81 s, ... days) while its
// uniqueness keeps every periodic run out and the deltas pile up.
func (MergeRollups) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
		rivertype.JobStateRunning, rivertype.JobStateScheduled}}}
}

type rollupWorker struct {
	river.WorkerDefaults[MergeRollups]
	r *Runner
}

// Work merges every delta present when it starts; after an error the next
// periodic run tries again (what was merged stays merged).
func (w *rollupWorker) Work(ctx context.Context, job *river.Job[MergeRollups]) error {
	if _, err := w.r.cfg.Rollups.TryMergeRollups(ctx); err != nil {
		return fmt.Errorf("merge rollups: %w", err)
	}
	return nil
}

// Timeout allows working off a backlog of hours.
func (w *rollupWorker) Timeout(*river.Job[MergeRollups]) time.Duration { return 10 * time.Minute }

// addRollupJob registers MergeRollups when Config.Rollups is set.
func (r *Runner) addRollupJob(workers *river.Workers, rc *river.Config) {
	if r.cfg.Rollups == nil {
		return
	}
	every := r.cfg.RollupInterval
	if every <= 0 {
		every = DefaultRollupInterval
	}
	river.AddWorker(workers, &rollupWorker{r: r})
	// Unique per interval, too: a run that hangs (until its timeout) or
	// whose worker died (until River's rescuer, an hour) then blocks only
	// its own interval's run, not every later one. A merge that runs while
	// another one does returns at once (TryMergeRollups).
	opts := MergeRollups{}.InsertOpts()
	opts.UniqueOpts.ByPeriod = max(every, time.Second) // River's smallest period
	rc.PeriodicJobs = append(rc.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) { o := opts; return MergeRollups{}, &o },
		&river.PeriodicJobOpts{RunOnStart: true}))
}
