package alerting

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/vibemon/vibemon"
)

// LevelsTTL is how long the engine keeps an asset's ISO levels before it
// asks Config.Levels again: the baseline behind the alarm and trip levels
// is the device's first day and changes rarely.
const LevelsTTL = 10 * time.Minute

// ISOLevels are an asset's ISO 10816-3 zone boundaries (from its machine
// group and foundation) and its baselined alarm and trip levels, velocity
// RMS in mm/s.
type ISOLevels struct {
	BC, CD      float64 // zone C from BC, zone D from CD
	Alarm, Trip float64
}

// Level returns the velocity at which an iso_zone rule with zone fires.
func (l ISOLevels) Level(zone string) float64 {
	switch zone {
	case vibemon.ZoneC:
		return l.BC
	case vibemon.ZoneD:
		return l.CD
	case vibemon.ZoneAlarm:
		return l.Alarm
	case vibemon.ZoneTrip:
		return l.Trip
	}
	return math.NaN()
}

type cachedLevels struct {
	levels ISOLevels
	at     time.Time
	ok     bool
}

// watchesReadings reports whether rule is evaluated on readings as they
// arrive (threshold and iso_zone rules) and covers dev.
func watchesReadings(rule *vibemon.Rule, dev *vibemon.Device) bool {
	if rule.Kind == vibemon.RuleISOZone {
		return dev.AssetID != 0 && rule.Watches(dev)
	}
	return rule.Applies(dev)
}

// samplerFor returns how rule reads a reading of dev, nil when it cannot
// (a metric unknown, no levels for an iso_zone rule).
func (e *Engine) samplerFor(ctx context.Context, rule *vibemon.Rule, dev *vibemon.Device) (func(r vibemon.Reading, lead string) (sample, bool), error) {
	switch {
	case rule.Kind == vibemon.RuleISOZone:
		lv, ok, err := e.assetLevels(ctx, rule.OrgID, dev.AssetID)
		if err != nil || !ok {
			return nil, err
		}
		return isoSampler(rule, dev, lv), nil
	case len(rule.Conditions) > 0:
		return conditionsSampler(rule, dev), nil
	}
	metric, ok := vibemon.ParseMetric(rule.Metric)
	if !ok {
		return nil, nil
	}
	return func(r vibemon.Reading, _ string) (sample, bool) {
		v := r.Values[metric]
		return sample{ts: r.TS, metric: rule.Metric, op: rule.Op, v: v, threshold: rule.Threshold,
			trig: rule.Triggered(v), clear: rule.Cleared(v)}, true
	}, nil
}

// assetLevels returns the asset's ISO levels, from the cache when fresh.
// ok is false without a Levels source or when the asset is gone.
func (e *Engine) assetLevels(ctx context.Context, orgID, assetID int64) (ISOLevels, bool, error) {
	if e.levelsOf == nil {
		return ISOLevels{}, false, nil
	}
	key := [2]int64{orgID, assetID}
	now := e.now()
	e.levelsMu.Lock()
	c, hit := e.levels[key]
	e.levelsMu.Unlock()
	if hit && now.Sub(c.at) < LevelsTTL && !now.Before(c.at) {
		return c.levels, c.ok, nil
	}
	lv, err := e.levelsOf(ctx, orgID, assetID)
	switch vibemon.ErrorCode(err) {
	case "":
		c = cachedLevels{levels: lv, at: now, ok: true}
	case vibemon.ENOTFOUND, vibemon.EINVALID:
		e.logger.Debug("iso_zone rule: no ISO levels for the asset", "org", orgID, "asset", assetID, "err", err)
		c = cachedLevels{at: now}
	default:
		return ISOLevels{}, false, fmt.Errorf("iso levels of asset %d: %w", assetID, err)
	}
	e.levelsMu.Lock()
	e.levels[key] = c
	e.levelsMu.Unlock()
	return c.levels, c.ok, nil
}

var velMetrics = [3]vibemon.Metric{vibemon.VelRMSX, vibemon.VelRMSY, vibemon.VelRMSZ}

// isoSampler reads the highest velocity axis of a reading against the
// rule's zone or level; it clears at ISOClearRatio of the level.
func isoSampler(rule *vibemon.Rule, dev *vibemon.Device, lv ISOLevels) func(r vibemon.Reading, lead string) (sample, bool) {
	level := lv.Level(rule.Zone)
	return func(r vibemon.Reading, lead string) (sample, bool) {
		v, metric := math.NaN(), ""
		for _, m := range velMetrics {
			if x := r.Values[m]; !math.IsNaN(x) && (math.IsNaN(v) || x > v) {
				v, metric = x, m.String()
			}
		}
		if math.IsNaN(v) || math.IsNaN(level) {
			return sample{}, false
		}
		if lead != "" {
			metric = lead // the alert keeps the axis it opened on; the value is the highest axis
		}
		s := sample{ts: r.TS, metric: metric, op: vibemon.OpAbove, v: v, threshold: level,
			trig: v >= level, clear: v <= vibemon.ISOClearRatio*level}
		s.describe = func() string {
			what := "in ISO 10816-3 zone " + rule.Zone
			if rule.Zone == vibemon.ZoneAlarm || rule.Zone == vibemon.ZoneTrip {
				what = "past the asset's " + rule.Zone + " level"
			}
			return fmt.Sprintf("%s: %s %.3g mm/s is %s (%.3g mm/s) (rule %q).", devName(dev), s.metric, s.v, what, level, rule.Name)
		}
		return s, true
	}
}

// conditionsSampler combines a rule's conditions on each reading: "all"
// breaches when every condition breaches and clears when any is cleared;
// "any" breaches when one does and clears when every condition with a
// value is cleared. The sample's metric is the alert's (lead) when it has
// a value, else the first breaching condition's, else the first with a
// value.
func conditionsSampler(rule *vibemon.Rule, dev *vibemon.Device) func(r vibemon.Reading, lead string) (sample, bool) {
	conds := rule.Conditions
	ms := make([]vibemon.Metric, len(conds))
	for i, c := range conds {
		ms[i], _ = vibemon.ParseMetric(c.Metric)
	}
	all := rule.Match != vibemon.MatchAny
	return func(r vibemon.Reading, lead string) (sample, bool) {
		pick, first := -1, -1
		nTrig, nClear, nVal := 0, 0, 0
		for i := range conds {
			v := r.Values[ms[i]]
			if math.IsNaN(v) {
				continue
			}
			nVal++
			if first < 0 {
				first = i
			}
			if conds[i].Triggered(v) {
				nTrig++
				if pick < 0 && lead == "" {
					pick = i
				}
			}
			if conds[i].Cleared(v) {
				nClear++
			}
			if lead != "" && conds[i].Metric == lead {
				pick = i
			}
		}
		if nVal == 0 {
			return sample{}, false
		}
		if pick < 0 {
			pick = first
		}
		s := sample{ts: r.TS, metric: conds[pick].Metric, op: conds[pick].Op, v: r.Values[ms[pick]], threshold: conds[pick].Threshold}
		if all {
			s.trig, s.clear = nTrig == len(conds), nClear > 0
		} else {
			s.trig, s.clear = nTrig > 0, nClear == nVal
		}
		s.describe = func() string {
			parts := make([]string, 0, len(conds))
			for i, c := range conds {
				if v := r.Values[ms[i]]; !math.IsNaN(v) && c.Triggered(v) {
					unit := ms[i].Unit()
					if unit != "" {
						unit = " " + unit
					}
					parts = append(parts, fmt.Sprintf("%s %.3g%s is %s %.3g%s", c.Metric, v, unit, c.Op, c.Threshold, unit))
				}
			}
			join := " and "
			if !all {
				join = "; "
			}
			return fmt.Sprintf("%s: %s (rule %q).", devName(dev), strings.Join(parts, join), rule.Name)
		}
		return s, true
	}
}

func devName(dev *vibemon.Device) string {
	if dev.Name != "" {
		return dev.Name
	}
	return dev.Serial
}

// Observation is what a periodic job saw of a rule's subject on one device
// at one time: the value (of Metric, compared with Threshold by Op) and
// whether it breaches the rule or is cleared.
type Observation struct {
	At        time.Time
	Metric    string // an alert metric (vibemon.AlertMetric...)
	Op        vibemon.Op
	Value     float64
	Threshold float64
	Breaching bool
	Cleared   bool
	Message   string // the alert's message if this opens it
}

// Observe runs one observation of a periodic rule (anomaly, forecast,
// offline) of dev through the same state machine as readings: at most one
// unresolved alert per (rule, device), updated while it breaches, resolved
// once cleared, and no alert opened inside a maintenance window of the
// device's asset. It returns the alerts it opened, updated or resolved.
func (e *Engine) Observe(ctx context.Context, rule *vibemon.Rule, dev *vibemon.Device, o Observation) ([]*vibemon.Alert, error) {
	var windows []*vibemon.MaintenanceWindow
	if dev.AssetID != 0 {
		var err error
		if windows, err = e.store.ListMaintenance(ctx, rule.OrgID, dev.AssetID, o.At); err != nil {
			return nil, fmt.Errorf("list maintenance windows: %w", err)
		}
	}
	s := sample{ts: o.At, metric: o.Metric, op: o.Op, v: o.Value, threshold: o.Threshold, trig: o.Breaching, clear: o.Cleared}
	if o.Message != "" {
		msg := o.Message
		s.describe = func() string { return msg }
	}
	return e.run(ctx, rule, dev, 1, func(int, string) (sample, bool) { return s, true }, windows)
}

// OfflineObservation is what an offline rule sees of dev at now: minutes
// since its last reading against OfflineMinutes. ok is false for a device
// that never reported (it is not offline, it was never online).
func OfflineObservation(rule *vibemon.Rule, dev *vibemon.Device, now time.Time) (o Observation, ok bool) {
	if dev.LastSeenAt == nil {
		return Observation{}, false
	}
	mins := now.Sub(*dev.LastSeenAt).Minutes()
	if mins < 0 {
		mins = 0
	}
	limit := float64(rule.OfflineMinutes)
	return Observation{
		At: now, Metric: vibemon.AlertMetricOffline, Op: vibemon.OpAbove, Value: math.Round(mins*10) / 10, Threshold: limit,
		Breaching: mins >= limit, Cleared: mins < limit,
		Message: fmt.Sprintf("%s: no reading since %s (%.0f minutes; rule %q allows %d).",
			devName(dev), dev.LastSeenAt.UTC().Format(time.RFC3339), mins, rule.Name, rule.OfflineMinutes),
	}, true
}

// AnomalyObservation is what an anomaly rule sees of dev at now: its
// anomaly score against the rule's level (Threshold), cleared at or below
// Clear. deviating says that the device's latest readings are far outside
// its baseline (the health page's "anomalous" by robust deviation, where
// the Isolation Forest, blind beyond its training range, scores low): that
// breaches whatever the score, and keeps the alert from clearing.
func AnomalyObservation(rule *vibemon.Rule, dev *vibemon.Device, score float64, deviating bool, now time.Time) Observation {
	why := fmt.Sprintf("anomaly score %.2f is above %.2f", score, rule.Threshold)
	if deviating && score <= rule.Threshold {
		why = fmt.Sprintf("readings are far outside the baseline (anomaly score %.2f)", score)
	}
	return Observation{
		At: now, Metric: vibemon.AlertMetricAnomaly, Op: vibemon.OpAbove, Value: score, Threshold: rule.Threshold,
		Breaching: score > rule.Threshold || deviating, Cleared: score <= rule.Clear && !deviating,
		Message: fmt.Sprintf("%s: %s (rule %q).", devName(dev), why, rule.Name),
	}
}

// ForecastObservation is what a forecast rule sees of dev at now: the
// days until its velocity trend is forecast to cross the asset's alarm
// level (crossesAt nil: no crossing forecast), against WithinDays.
func ForecastObservation(rule *vibemon.Rule, dev *vibemon.Device, crossesAt *time.Time, alarm float64, now time.Time) Observation {
	limit := float64(rule.WithinDays)
	if crossesAt == nil {
		return Observation{At: now, Metric: vibemon.AlertMetricForecast, Op: vibemon.OpBelow, Value: math.NaN(), Threshold: limit, Cleared: true}
	}
	days := math.Max(0, crossesAt.Sub(now).Hours()/24)
	days = math.Round(days*10) / 10
	return Observation{
		At: now, Metric: vibemon.AlertMetricForecast, Op: vibemon.OpBelow, Value: days, Threshold: limit,
		Breaching: days <= limit, Cleared: days > limit,
		Message: fmt.Sprintf("%s: velocity is forecast to reach the alarm level %.3g mm/s on %s, in %.0f days (rule %q: within %d).",
			devName(dev), alarm, crossesAt.UTC().Format("2006-01-02"), days, rule.Name, rule.WithinDays),
	}
}
