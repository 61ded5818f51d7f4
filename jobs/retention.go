package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// DefaultRetentionInterval is how often PruneReadings runs unless
// Config.RetentionInterval says otherwise.
const DefaultRetentionInterval = time.Hour

// PruneReadings is the periodic job that removes raw readings and bursts
// older than their org's retentions (Config.Retention). It runs on River's
// leader, so once per cluster per interval.
type PruneReadings struct{}

// Kind names the job in River's tables.
func (PruneReadings) Kind() string { return "prune_readings" }

// InsertOpts makes a run unique while one is queued or running.
func (PruneReadings) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: 10 * time.Minute}}
}

type pruneWorker struct {
	river.WorkerDefaults[PruneReadings]
	r *Runner
}

// Work prunes at Config.Now; an error is retried (what was removed stays
// removed, and the next run continues).
func (w *pruneWorker) Work(ctx context.Context, job *river.Job[PruneReadings]) error {
	start := time.Now()
	now := w.r.cfg.Now()
	rep, err := w.r.cfg.Retention.PruneReadings(ctx, now)
	if err != nil {
		return fmt.Errorf("prune readings: %w", err)
	}
	if rep.RowsDeleted > 0 || len(rep.PartitionsDropped) > 0 || rep.SeenBlocksDeleted > 0 || rep.MinuteRollupsDeleted > 0 {
		w.r.log.Info("pruned readings past retention", "rows_deleted", rep.RowsDeleted,
			"partitions_dropped", rep.PartitionsDropped, "seen_blocks_deleted", rep.SeenBlocksDeleted,
			"minute_rollups_deleted", rep.MinuteRollupsDeleted,
			"took", time.Since(start).Round(time.Millisecond))
	}
	start = time.Now()
	n, err := w.r.cfg.Retention.PruneWaveforms(ctx, now)
	if err != nil {
		return fmt.Errorf("prune waveforms: %w", err)
	}
	if n > 0 {
		w.r.log.Info("pruned bursts past retention", "waveforms_deleted", n, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// Timeout allows a first run over months of an org's readings.
func (w *pruneWorker) Timeout(*river.Job[PruneReadings]) time.Duration { return time.Hour }

// addRetentionJob registers PruneReadings when Config.Retention is set.
func (r *Runner) addRetentionJob(workers *river.Workers, rc *river.Config) {
	if r.cfg.Retention == nil {
		return
	}
	every := r.cfg.RetentionInterval
	if every <= 0 {
		every = DefaultRetentionInterval
	}
	river.AddWorker(workers, &pruneWorker{r: r})
	rc.PeriodicJobs = append(rc.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) { return PruneReadings{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true}))
}
