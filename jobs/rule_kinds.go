package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/alerting"
	"github.com/vibemon/vibemon/analysis"
)

// Defaults of the rule-kind jobs (docs/alerts.md, "Rule kinds").
const (
	// DefaultOfflineInterval is how often CheckOfflineRules runs.
	DefaultOfflineInterval = time.Minute
	// DefaultHealthRuleInterval is how often CheckHealthRules runs: the
	// anomaly score is the median of the latest 10 minutes and the
	// forecast is fitted to daily values, so more often finds nothing new.
	DefaultHealthRuleInterval = 10 * time.Minute
)

// CheckOfflineRules is the periodic job (River's leader only, so once per
// cluster) that evaluates offline rules on the devices' last_seen_at.
type CheckOfflineRules struct{}

// Kind names the job in River's tables.
func (CheckOfflineRules) Kind() string { return "check_offline_rules" }

// InsertOpts makes a run unique per half minute.
func (CheckOfflineRules) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: 30 * time.Second}}
}

// CheckHealthRules is the periodic job (leader only) that evaluates
// anomaly and forecast rules with the analytics of the asset health page.
type CheckHealthRules struct{}

// Kind names the job in River's tables.
func (CheckHealthRules) Kind() string { return "check_health_rules" }

// InsertOpts makes a run unique per five minutes.
func (CheckHealthRules) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: 5 * time.Minute}}
}

type offlineWorker struct {
	river.WorkerDefaults[CheckOfflineRules]
	r *Runner
}

// Work evaluates; an error is retried (and the next run catches up).
func (w *offlineWorker) Work(ctx context.Context, _ *river.Job[CheckOfflineRules]) error {
	_, err := w.r.CheckOfflineRules(ctx)
	return err
}

type healthRuleWorker struct {
	river.WorkerDefaults[CheckHealthRules]
	r *Runner
}

// Work evaluates; an error is retried.
func (w *healthRuleWorker) Work(ctx context.Context, _ *river.Job[CheckHealthRules]) error {
	_, err := w.r.CheckHealthRules(ctx)
	return err
}

// Timeout allows scoring every watched device of every org.
func (w *healthRuleWorker) Timeout(*river.Job[CheckHealthRules]) time.Duration {
	return 10 * time.Minute
}

// addRuleKindJobs registers the workers and periodic jobs.
func (r *Runner) addRuleKindJobs(workers *river.Workers, rc *river.Config) {
	offline, health := r.cfg.OfflineInterval, r.cfg.HealthRuleInterval
	if offline <= 0 {
		offline = DefaultOfflineInterval
	}
	if health <= 0 {
		health = DefaultHealthRuleInterval
	}
	river.AddWorker(workers, &offlineWorker{r: r})
	river.AddWorker(workers, &healthRuleWorker{r: r})
	rc.PeriodicJobs = append(rc.PeriodicJobs,
		river.NewPeriodicJob(river.PeriodicInterval(offline),
			func() (river.JobArgs, *river.InsertOpts) { return CheckOfflineRules{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(health),
			func() (river.JobArgs, *river.InsertOpts) { return CheckHealthRules{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}))
}

// alerts returns the engine the rule-kind jobs raise alerts with.
func (r *Runner) alerts() *alerting.Engine {
	r.alertsOnce.Do(func() {
		r.engine = r.cfg.Alerts
		if r.engine == nil {
			r.engine = alerting.NewEngine(alerting.Config{Store: r.cfg.Store, Logger: r.log, Now: r.cfg.Now})
		}
	})
	return r.engine
}

// orgRules calls fn for every org (Config.Orgs) that has enabled rules of
// one of kinds, with those rules and the org's devices.
func (r *Runner) orgRules(ctx context.Context, kinds []vibemon.RuleKind, fn func(orgID int64, rules []*vibemon.Rule, devices []*vibemon.Device) error) error {
	if r.cfg.Orgs == nil {
		return nil
	}
	orgs, err := r.cfg.Orgs.OrgIDs(ctx)
	if err != nil {
		return err
	}
	for _, org := range orgs {
		all, err := r.cfg.Store.ListRules(ctx, org)
		if err != nil {
			return fmt.Errorf("rules of org %d: %w", org, err)
		}
		var rules []*vibemon.Rule
		for _, rule := range all {
			for _, k := range kinds {
				if rule.Enabled && rule.Kind == k {
					rules = append(rules, rule)
				}
			}
		}
		if len(rules) == 0 {
			continue
		}
		devices, err := r.cfg.Store.ListDevices(ctx, org)
		if err != nil {
			return fmt.Errorf("devices of org %d: %w", org, err)
		}
		if err := fn(org, rules, devices); err != nil {
			return err
		}
	}
	return nil
}

// CheckOfflineRules evaluates every enabled offline rule on each device it
// covers at Config.Now: a device whose last reading is OfflineMinutes old
// or older opens (or updates) the rule's alert for it; one that has
// reported since resolves it. Devices that never reported are skipped. It
// publishes what changed and returns how many alerts it opened.
func (r *Runner) CheckOfflineRules(ctx context.Context) (int, error) {
	now := r.cfg.Now()
	opened := 0
	err := r.orgRules(ctx, []vibemon.RuleKind{vibemon.RuleOffline}, func(org int64, rules []*vibemon.Rule, devices []*vibemon.Device) error {
		for _, rule := range rules {
			for _, d := range devices {
				if !rule.Watches(d) {
					continue
				}
				o, ok := alerting.OfflineObservation(rule, d, now)
				if !ok {
					continue
				}
				changed, err := r.alerts().Observe(ctx, rule, d, o)
				if err != nil {
					return fmt.Errorf("offline rule %d on device %d: %w", rule.ID, d.ID, err)
				}
				opened += r.report(ctx, changed)
			}
		}
		return nil
	})
	if err != nil {
		return opened, fmt.Errorf("check offline rules: %w", err)
	}
	return opened, nil
}

// CheckHealthRules evaluates every enabled anomaly and forecast rule on
// each device it covers at Config.Now, with the device's anomaly score
// (analysis.Service.DeviceAnomaly; a device still learning its baseline is
// skipped) and its velocity trend against its asset's alarm level
// (analysis.Service.DeviceTrend; devices without an asset are skipped).
// It publishes what changed and returns how many alerts it opened.
func (r *Runner) CheckHealthRules(ctx context.Context) (int, error) {
	now := r.cfg.Now()
	opened := 0
	err := r.orgRules(ctx, []vibemon.RuleKind{vibemon.RuleAnomaly, vibemon.RuleForecast}, func(org int64, rules []*vibemon.Rule, devices []*vibemon.Device) error {
		scores := map[int64]*analysis.AnomalyHealth{}
		trends := map[int64]*analysis.TrendHealth{}
		alarms := map[int64]float64{}
		for _, d := range devices {
			for _, rule := range rules {
				if !rule.Watches(d) {
					continue
				}
				var o alerting.Observation
				switch rule.Kind {
				case vibemon.RuleAnomaly:
					h, ok := scores[d.ID]
					if !ok {
						a, err := r.svc.DeviceAnomaly(ctx, org, d)
						if err != nil {
							return err
						}
						h = &a
						scores[d.ID] = h
					}
					if h.Score == nil {
						continue // learning: no model or no recent readings
					}
					// "anomalous" with a score below AnomalousScore is the
					// robust deviation from the baseline speaking.
					deviating := h.Status == "anomalous" && *h.Score < analysis.AnomalousScore
					o = alerting.AnomalyObservation(rule, d, *h.Score, deviating, now)
				case vibemon.RuleForecast:
					if d.AssetID == 0 {
						continue
					}
					alarm, ok := alarms[d.AssetID]
					if !ok {
						iso, err := r.svc.ISOLevels(ctx, org, d.AssetID)
						if vibemon.ErrorCode(err) == vibemon.ENOTFOUND || vibemon.ErrorCode(err) == vibemon.EINVALID {
							continue
						} else if err != nil {
							return err
						}
						alarm, alarms[d.AssetID] = iso.Alarm, iso.Alarm
					}
					th, ok := trends[d.ID]
					if !ok {
						var err error
						if th, err = r.svc.DeviceTrend(ctx, org, d, alarm); err != nil {
							return err
						}
						trends[d.ID] = th
					}
					if th == nil || th.Points < analysis.MinTrendPoints {
						continue // too few days to say anything
					}
					o = alerting.ForecastObservation(rule, d, th.CrossesAlarmAt, alarm, now)
				default:
					continue
				}
				changed, err := r.alerts().Observe(ctx, rule, d, o)
				if err != nil {
					return fmt.Errorf("%s rule %d on device %d: %w", rule.Kind, rule.ID, d.ID, err)
				}
				opened += r.report(ctx, changed)
			}
		}
		return nil
	})
	if err != nil {
		return opened, fmt.Errorf("check health rules: %w", err)
	}
	return opened, nil
}

// report logs and publishes changed alerts and returns how many opened.
func (r *Runner) report(ctx context.Context, changed []*vibemon.Alert) int {
	n := 0
	for _, a := range changed {
		if a.Appended != nil && a.Appended.Kind == vibemon.EventOpened {
			n++
			r.log.Info("alert opened", "org", a.OrgID, "rule", a.RuleID, "device", a.DeviceID, "metric", a.Metric, "value", a.Value)
		}
	}
	r.publish(ctx, changed)
	return n
}
