package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/alerting"
)

// DefaultEscalationInterval is how often CheckEscalations runs unless
// Config.EscalationInterval says otherwise.
const DefaultEscalationInterval = time.Minute

// CheckEscalations is the periodic job (every minute, on River's leader
// only) that escalates open alerts and reminds about them when their
// rule's policy says so (Rule.Escalation, Rule.RemindEveryMinutes).
type CheckEscalations struct{}

// Kind names the job in River's tables.
func (CheckEscalations) Kind() string { return "check_escalations" }

// InsertOpts makes a run unique per half minute: the work is idempotent
// anyway, this only saves empty runs.
func (CheckEscalations) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: 30 * time.Second}}
}

type escalationWorker struct {
	river.WorkerDefaults[CheckEscalations]
	r *Runner
}

// Work appends what is due; an error is retried (and the next run catches
// up anyway).
func (w *escalationWorker) Work(ctx context.Context, _ *river.Job[CheckEscalations]) error {
	_, err := w.r.CheckEscalations(ctx)
	return err
}

// addEscalationJob registers the worker and the periodic job.
func (r *Runner) addEscalationJob(workers *river.Workers, rc *river.Config) {
	every := r.cfg.EscalationInterval
	if every <= 0 {
		every = DefaultEscalationInterval
	}
	river.AddWorker(workers, &escalationWorker{r: r})
	rc.PeriodicJobs = append(rc.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) { return CheckEscalations{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true}))
}

// CheckEscalations appends the "escalated" and "reminded" events due at
// Config.Now for every open alert whose rule has a reminder or escalation
// policy (alerting.DueEvents), publishes each on the bus, and returns how
// many it appended. Each event is appended once: the store refuses one
// already appended (by another run or another replica) with ECONFLICT,
// which is not an error here. A rule deleted since the alert opened
// neither escalates nor reminds.
func (r *Runner) CheckEscalations(ctx context.Context) (int, error) {
	now := r.cfg.Now()
	rules := map[[2]int64]*vibemon.Rule{}
	appended := 0
	var after int64
	for {
		alerts, err := r.cfg.Store.DueAlerts(ctx, after, 500)
		if err != nil {
			return appended, fmt.Errorf("check escalations: %w", err)
		}
		if len(alerts) == 0 {
			return appended, nil
		}
		after = alerts[len(alerts)-1].ID
		for _, a := range alerts {
			key := [2]int64{a.OrgID, a.RuleID}
			rule, ok := rules[key]
			if !ok {
				rule, err = r.cfg.Store.GetRule(ctx, a.OrgID, a.RuleID)
				if vibemon.ErrorCode(err) == vibemon.ENOTFOUND {
					rule, err = nil, nil
				} else if err != nil {
					return appended, fmt.Errorf("check escalations: rule of alert %d: %w", a.ID, err)
				}
				rules[key] = rule
			}
			for _, e := range alerting.DueEvents(rule, a, now) {
				err := r.cfg.Store.AddAlertEvent(ctx, e)
				if vibemon.ErrorCode(err) == vibemon.ECONFLICT {
					continue // appended already, or acknowledged meanwhile
				} else if err != nil {
					return appended, fmt.Errorf("check escalations: alert %d: %w", a.ID, err)
				}
				appended++
				r.log.Info("alert "+string(e.Kind), "org", a.OrgID, "alert", a.ID, "level", e.Level, "due", e.At)
				r.publishEvent(ctx, e)
			}
		}
	}
}

// publishEvent sends the alert, as it is after e, with e to live clients.
func (r *Runner) publishEvent(ctx context.Context, e *vibemon.AlertEvent) {
	if r.cfg.Bus == nil {
		return
	}
	a, err := r.cfg.Store.GetAlert(ctx, e.OrgID, e.AlertID)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			r.log.Warn("publish alert event", "alert", e.AlertID, "err", err)
		}
		return
	}
	a.Appended = e
	r.publish(ctx, []*vibemon.Alert{a})
}
