package jobs

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/riverqueue/river"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/analysis"
	"github.com/vibemon/vibemon/dsp"
)

// AnalyzeWaveform is the job that analyses one stored burst.
type AnalyzeWaveform struct {
	OrgID      int64 `json:"org_id"`
	WaveformID int64 `json:"waveform_id"`
}

// Kind names the job in River's tables.
func (AnalyzeWaveform) Kind() string { return "analyze_waveform" }

// InsertOpts makes the job unique by its arguments.
func (AnalyzeWaveform) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// TrainBaselines is the periodic job that trains anomaly models.
type TrainBaselines struct{}

// Kind names the job in River's tables.
func (TrainBaselines) Kind() string { return "train_baselines" }

// InsertOpts makes a run unique while one is queued or running.
func (TrainBaselines) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: 10 * time.Minute}}
}

// EnsurePartitions is the periodic job that creates the store's time
// partitions ahead of their day (Config.Partitions).
type EnsurePartitions struct{}

// Kind names the job in River's tables.
func (EnsurePartitions) Kind() string { return "ensure_partitions" }

// InsertOpts makes a run unique while one is queued or running.
func (EnsurePartitions) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: 10 * time.Minute}}
}

type partitionWorker struct {
	river.WorkerDefaults[EnsurePartitions]
	r *Runner
}

// Work creates the partitions around now; an error is retried.
func (w *partitionWorker) Work(ctx context.Context, job *river.Job[EnsurePartitions]) error {
	if w.r.cfg.Partitions == nil {
		return nil
	}
	if err := w.r.cfg.Partitions.EnsurePartitions(ctx, w.r.cfg.Now()); err != nil {
		return fmt.Errorf("ensure partitions: %w", err)
	}
	if ro, ok := w.r.cfg.Partitions.(RollupReorderer); ok {
		if _, err := ro.ReorderRollups(ctx, w.r.cfg.Now()); err != nil {
			return fmt.Errorf("reorder rollups: %w", err)
		}
	}
	return nil
}

// Timeout allows moving a day's rows out of the default partition.
func (w *partitionWorker) Timeout(*river.Job[EnsurePartitions]) time.Duration {
	return 10 * time.Minute
}

type analyzeWorker struct {
	river.WorkerDefaults[AnalyzeWaveform]
	r *Runner
}

// Work analyses the burst and raises diagnosis alerts. A burst or device
// that is gone cancels the job; other errors are retried.
func (w *analyzeWorker) Work(ctx context.Context, job *river.Job[AnalyzeWaveform]) error {
	a := job.Args
	out, err := w.r.svc.AnalyzeWaveform(ctx, a.OrgID, a.WaveformID)
	if vibemon.ErrorCode(err) == vibemon.ENOTFOUND {
		return river.JobCancel(err)
	} else if err != nil {
		return err
	}
	if out.Doc == nil {
		return nil // failed analysis, recorded with the burst
	}
	changed, err := w.r.raiseDiagnosisAlerts(ctx, out)
	if err != nil {
		return err
	}
	w.r.publish(ctx, changed)
	return nil
}

// Timeout allows long bursts on a slow machine.
func (w *analyzeWorker) Timeout(*river.Job[AnalyzeWaveform]) time.Duration { return 2 * time.Minute }

type trainWorker struct {
	river.WorkerDefaults[TrainBaselines]
	r *Runner
}

// Work trains every device's model that needs it. A device failing does
// not stop the others; the first error is returned so River retries.
func (w *trainWorker) Work(ctx context.Context, job *river.Job[TrainBaselines]) error {
	return w.r.TrainAll(ctx)
}

// Timeout allows a large fleet.
func (w *trainWorker) Timeout(*river.Job[TrainBaselines]) time.Duration { return 30 * time.Minute }

// TrainAll trains the model of every device of every org that needs one
// (analysis.Service.TrainBaseline decides); what TrainBaselines runs.
func (r *Runner) TrainAll(ctx context.Context) error {
	if r.cfg.Orgs == nil {
		return nil
	}
	orgs, err := r.cfg.Orgs.OrgIDs(ctx)
	if err != nil {
		return fmt.Errorf("train baselines: %w", err)
	}
	var first error
	trained := 0
	for _, org := range orgs {
		devs, err := r.cfg.Store.ListDevices(ctx, org)
		if err != nil {
			return fmt.Errorf("train baselines: %w", err)
		}
		for _, d := range devs {
			ok, err := r.svc.TrainBaseline(ctx, org, d.ID)
			if err != nil {
				r.log.Warn("train baseline", "org", org, "device", d.ID, "err", err)
				if first == nil && vibemon.ErrorCode(err) != vibemon.ENOTFOUND {
					first = err
				}
			}
			if ok {
				trained++
			}
		}
	}
	if trained > 0 {
		r.log.Info("trained baselines", "models", trained)
	}
	return first
}

// MinAlertConfidence is the confidence from which a detected fault raises
// a diagnosis alert.
const MinAlertConfidence = 0.6

// alertFaults are the faults that raise diagnosis alerts, with the
// severity of the rule created for them.
var alertFaults = map[string]vibemon.Severity{
	dsp.FaultImbalance:    vibemon.SeverityWarning,
	dsp.FaultMisalignment: vibemon.SeverityWarning,
	dsp.FaultLooseness:    vibemon.SeverityWarning,
	dsp.FaultOuterRace:    vibemon.SeverityWarning,
	dsp.FaultInnerRace:    vibemon.SeverityWarning,
	dsp.FaultBall:         vibemon.SeverityWarning,
	dsp.FaultCage:         vibemon.SeverityWarning,
}

// DiagnosisRuleName returns the name of the org's built-in rule for fault.
func DiagnosisRuleName(fault string) string { return "Diagnosis: " + fault }

// diagnosisRules returns the org's diagnosis rules for fault. When there is
// none and create is set, it creates the built-in org-wide one.
func (r *Runner) diagnosisRules(ctx context.Context, orgID int64, fault string, create bool) ([]*vibemon.Rule, error) {
	r.ruleMu.Lock()
	defer r.ruleMu.Unlock()
	rules, err := r.cfg.Store.ListRules(ctx, orgID)
	if err != nil {
		return nil, err
	}
	var out []*vibemon.Rule
	for _, rule := range rules {
		if rule.Kind == vibemon.RuleDiagnosis && rule.Fault == fault {
			out = append(out, rule)
		}
	}
	if len(out) > 0 || !create {
		return out, nil
	}
	rule := &vibemon.Rule{
		OrgID: orgID, Name: DiagnosisRuleName(fault), Kind: vibemon.RuleDiagnosis, Fault: fault,
		MinConfidence: MinAlertConfidence, Severity: alertFaults[fault], Enabled: true,
	}
	if err := r.cfg.Store.CreateRule(ctx, rule); err != nil {
		return nil, err
	}
	r.log.Info("created diagnosis rule", "org", orgID, "rule", rule.ID, "fault", fault)
	return []*vibemon.Rule{rule}, nil
}

// raiseDiagnosisAlerts opens, or updates, one alert per (fault rule,
// device) for each fault the burst shows with enough confidence. The
// alert's metric and value are the velocity RMS of the axis with the
// strongest evidence, so the alert carries a level as well as a name.
func (r *Runner) raiseDiagnosisAlerts(ctx context.Context, out *analysis.Outcome) ([]*vibemon.Alert, error) {
	var changed []*vibemon.Alert
	w, dev, doc := out.Waveform, out.Device, out.Doc
	if dev.AssetID != 0 {
		// A burst taken while its asset is in maintenance raises nothing
		// new; an alert already open stays open (and is not updated).
		windows, err := r.cfg.Store.ListMaintenance(ctx, w.OrgID, dev.AssetID, w.TS)
		if err != nil {
			return nil, fmt.Errorf("maintenance windows: %w", err)
		}
		for _, mw := range windows {
			if mw.Covers(w.TS) {
				return nil, nil
			}
		}
	}
	for _, f := range doc.Diagnosis {
		if _, ok := alertFaults[f.Fault]; !ok || !f.Detected {
			continue
		}
		// The built-in rule is created by the first finding confident
		// enough for it, not by every weak one.
		rules, err := r.diagnosisRules(ctx, w.OrgID, f.Fault, f.Confidence >= MinAlertConfidence)
		if err != nil {
			return changed, fmt.Errorf("diagnosis rules: %w", err)
		}
		for _, rule := range rules {
			// A disabled rule switches this diagnosis off; a rule may ask
			// for more (or less) confidence and narrow to an asset or device.
			if !rule.Watches(dev) || f.Confidence < rule.MinConfidence {
				continue
			}
			a, err := r.raiseDiagnosisAlert(ctx, out, rule, f)
			if err != nil {
				return changed, err
			}
			changed = append(changed, a)
		}
	}
	return changed, nil
}

// raiseDiagnosisAlert opens, or updates, rule's alert for the burst's device.
func (r *Runner) raiseDiagnosisAlert(ctx context.Context, out *analysis.Outcome, rule *vibemon.Rule, f analysis.Finding) (*vibemon.Alert, error) {
	w, dev, doc := out.Waveform, out.Device, out.Doc
	axis, vel := "x", 0.0
	for _, ad := range doc.AxesData {
		if ad.Axis == f.Axis || (f.Axis == "" && ad.VelRMS > vel) {
			axis, vel = ad.Axis, ad.VelRMS
		}
	}
	if math.IsNaN(vel) || math.IsInf(vel, 0) {
		vel = 0
	}
	name := dev.Name
	if name == "" {
		name = dev.Serial
	}
	a := &vibemon.Alert{
		OrgID: w.OrgID, RuleID: rule.ID, DeviceID: dev.ID, AssetID: dev.AssetID, Severity: rule.Severity,
		Status: vibemon.AlertOpen, Metric: "vel_rms_" + axis, Value: vel, Peak: vel, Threshold: 0,
		Message: fmt.Sprintf("%s: likely %s (confidence %.0f %%) in the burst of %s (waveform %d). %s",
			name, analysis.FaultWords(f.Fault), 100*f.Confidence, w.TS.UTC().Format(time.RFC3339), w.ID, f.Summary),
		OpenedAt: w.TS, UpdatedAt: w.TS,
	}
	if _, err := r.cfg.Store.UpsertAlert(ctx, a); err != nil {
		return nil, fmt.Errorf("diagnosis alert: %w", err)
	}
	return a, nil
}

func (r *Runner) publish(ctx context.Context, alerts []*vibemon.Alert) {
	if r.cfg.Bus == nil || len(alerts) == 0 {
		return
	}
	events := make([]vibemon.Event, 0, len(alerts))
	for _, a := range alerts {
		data, _ := a.LiveData()
		events = append(events, vibemon.Event{Type: vibemon.EventAlert, OrgID: a.OrgID, DeviceID: a.DeviceID, AssetID: a.AssetID, Data: data})
	}
	if err := r.cfg.Bus.Publish(ctx, events...); err != nil {
		r.log.Warn("publish diagnosis alerts", "err", err)
	}
}
