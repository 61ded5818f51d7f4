package vibemon

import (
	"math"
	"strings"
)

// More rule kinds (docs/alerts.md, "Rule kinds").
const (
	// RuleISOZone fires when a device's velocity RMS (highest axis) enters
	// an ISO 10816-3 zone (Zone "C" or "D", from the asset's group and
	// foundation) or passes the asset's baselined alarm or trip level
	// (Zone "alarm" or "trip"); it resolves at ISOClearRatio of that level.
	RuleISOZone RuleKind = "iso_zone"
	// RuleAnomaly fires when the device's anomaly score rises above
	// Threshold (a level between 0 and 1) and resolves at or below Clear.
	RuleAnomaly RuleKind = "anomaly"
	// RuleForecast fires when the trend of the device's velocity is
	// forecast to cross the asset's alarm level within WithinDays.
	RuleForecast RuleKind = "forecast"
	// RuleOffline fires when a device that reported before has sent no
	// reading for OfflineMinutes, and resolves when it reports again.
	RuleOffline RuleKind = "offline"
)

// Zones and levels of an iso_zone rule.
const (
	ZoneC     = "C"
	ZoneD     = "D"
	ZoneAlarm = "alarm"
	ZoneTrip  = "trip"
)

// ISOClearRatio is where an iso_zone alert resolves: at or below this
// share of the level that opened it (hysteresis).
const ISOClearRatio = 0.9

// DefaultAnomalyLevel is the Threshold an anomaly rule gets when unset:
// the score from which the asset health page says "anomalous".
const DefaultAnomalyLevel = 0.6

// Limits of the periodic kinds.
const (
	MaxForecastDays   = 365
	MaxOfflineMinutes = 7 * 24 * 60
	MaxConditions     = 8
)

// Alert metrics of the kinds that do not watch a reading metric: an
// alert's Metric is one of these, or a reading metric.
const (
	AlertMetricAnomaly  = "anomaly_score"   // Value: the score, Threshold: the level
	AlertMetricForecast = "forecast_days"   // Value: days until the alarm level is crossed, Threshold: WithinDays
	AlertMetricOffline  = "offline_minutes" // Value: minutes since the last reading, Threshold: OfflineMinutes
)

// Match says how a rule's Conditions combine.
const (
	MatchAll = "all" // every condition on the same reading
	MatchAny = "any" // at least one condition
)

// Condition is one comparison of a threshold rule with several conditions:
// Metric beyond Threshold fires, back beyond Clear on the safe side clears.
// Clear is nil in input when not given (no hysteresis); Validate fills it.
type Condition struct {
	Metric    string   `json:"metric"`
	Op        Op       `json:"op"`
	Threshold float64  `json:"threshold"`
	Clear     *float64 `json:"clear"`
}

// Triggered reports whether v breaches the condition.
func (c *Condition) Triggered(v float64) bool {
	if c.Op == OpAbove {
		return v > c.Threshold
	}
	return v < c.Threshold
}

// Cleared reports whether v is back on the safe side of the clear level.
func (c *Condition) Cleared(v float64) bool {
	clr := c.Threshold
	if c.Clear != nil {
		clr = *c.Clear
	}
	if c.Op == OpAbove {
		return v <= clr
	}
	return v >= clr
}

// validate checks one condition (number i, from 1) and fills Clear.
func (c *Condition) validate(i int) error {
	m, ok := ParseMetric(c.Metric)
	switch {
	case !ok:
		return Errorf(EINVALID, "condition %d: metric %q is not a reading metric.", i, c.Metric)
	case c.Op != OpAbove && c.Op != OpBelow:
		return Errorf(EINVALID, "condition %d: op must be \"above\" or \"below\".", i)
	case math.IsNaN(c.Threshold) || math.IsInf(c.Threshold, 0):
		return Errorf(EINVALID, "condition %d: threshold must be a number.", i)
	}
	if lo, hi := m.Range(); c.Threshold < lo || c.Threshold > hi {
		return Errorf(EINVALID, "condition %d: threshold %g is outside the range of %s (%g..%g).", i, c.Threshold, m, lo, hi)
	}
	if c.Clear == nil || math.IsNaN(*c.Clear) || math.IsInf(*c.Clear, 0) {
		t := c.Threshold
		c.Clear = &t
	}
	if (c.Op == OpAbove && *c.Clear > c.Threshold) || (c.Op == OpBelow && *c.Clear < c.Threshold) {
		return Errorf(EINVALID, "condition %d: clear must be on the safe side of threshold (below it for \"above\", above it for \"below\").", i)
	}
	return nil
}

// validKind reports whether k is a known rule kind.
func validKind(k RuleKind) bool {
	switch k {
	case RuleThreshold, RuleDiagnosis, RuleISOZone, RuleAnomaly, RuleForecast, RuleOffline:
		return true
	}
	return false
}

// validateConditions checks a threshold rule's Conditions and Match. With
// conditions, the rule's Metric, Op, Threshold and Clear become those of
// the first condition (what lists and old clients show).
func (r *Rule) validateConditions() error {
	if r.Conditions == nil {
		r.Conditions = []Condition{}
	}
	if len(r.Conditions) == 0 {
		if r.Match != "" && r.Match != MatchAll && r.Match != MatchAny {
			return Errorf(EINVALID, "match must be \"all\" or \"any\".")
		}
		r.Match = MatchAll
		return nil
	}
	if r.Match == "" {
		r.Match = MatchAll
	}
	switch {
	case r.Match != MatchAll && r.Match != MatchAny:
		return Errorf(EINVALID, "match must be \"all\" (every condition on the same reading) or \"any\" (one of them).")
	case len(r.Conditions) < 2 || len(r.Conditions) > MaxConditions:
		return Errorf(EINVALID, "conditions holds 2 to %d conditions ({metric, op, threshold, clear}); for one, use metric, op and threshold.", MaxConditions)
	}
	for i := range r.Conditions {
		if err := r.Conditions[i].validate(i + 1); err != nil {
			return err
		}
	}
	c := r.Conditions[0]
	r.Metric, r.Op, r.Threshold, r.Clear = c.Metric, c.Op, c.Threshold, *c.Clear
	return nil
}

// validateOtherKind checks the fields of an iso_zone, anomaly, forecast or
// offline rule and zeroes those its kind does not use.
func (r *Rule) validateOtherKind() error {
	if len(r.Conditions) > 0 {
		return Errorf(EINVALID, "conditions are for threshold rules only.")
	}
	r.Conditions, r.Match = []Condition{}, MatchAll
	r.Fault, r.MinConfidence = "", 0
	if r.Kind != RuleISOZone {
		r.Zone = ""
	}
	if r.Kind != RuleForecast {
		r.WithinDays = 0
	}
	if r.Kind != RuleOffline {
		r.OfflineMinutes = 0
	}
	if r.Kind != RuleISOZone && (r.ForSeconds != 0 || r.ClearForSeconds != 0) {
		return Errorf(EINVALID, "for_seconds and clear_for_seconds apply to threshold and iso_zone rules only.")
	}
	switch r.Kind {
	case RuleISOZone:
		r.Zone = strings.TrimSpace(r.Zone)
		if strings.EqualFold(r.Zone, ZoneC) || strings.EqualFold(r.Zone, ZoneD) {
			r.Zone = strings.ToUpper(r.Zone)
		}
		if r.Zone != ZoneC && r.Zone != ZoneD && r.Zone != ZoneAlarm && r.Zone != ZoneTrip {
			return Errorf(EINVALID, "zone is required for an iso_zone rule: \"C\" or \"D\" (ISO 10816-3 zone entered), or \"alarm\" or \"trip\" (the asset's baselined levels).")
		}
		r.Metric, r.Op, r.Threshold, r.Clear = "", OpAbove, 0, 0
	case RuleAnomaly:
		if r.Threshold == 0 {
			r.Threshold = DefaultAnomalyLevel
		}
		if math.IsNaN(r.Threshold) || r.Threshold <= 0 || r.Threshold >= 1 {
			return Errorf(EINVALID, "threshold is the anomaly score level of an anomaly rule: a number between 0 and 1 (default 0.6).")
		}
		if math.IsNaN(r.Clear) || math.IsInf(r.Clear, 0) || r.Clear == 0 {
			r.Clear = r.Threshold
		}
		if r.Clear > r.Threshold || r.Clear < 0 {
			return Errorf(EINVALID, "clear must be between 0 and threshold (the score at which the alert resolves).")
		}
		r.Metric, r.Op = "", OpAbove
	case RuleForecast:
		if r.WithinDays < 1 || r.WithinDays > MaxForecastDays {
			return Errorf(EINVALID, "within_days is required for a forecast rule: 1 to %d days.", MaxForecastDays)
		}
		r.Metric, r.Op, r.Threshold, r.Clear = "", "", 0, 0
	case RuleOffline:
		if r.OfflineMinutes < 1 || r.OfflineMinutes > MaxOfflineMinutes {
			return Errorf(EINVALID, "offline_minutes is required for an offline rule: 1 to %d minutes without a reading.", MaxOfflineMinutes)
		}
		r.Metric, r.Op, r.Threshold, r.Clear = "", "", 0, 0
	}
	return nil
}

// validAlertMetric reports whether an alert may carry metric m.
func validAlertMetric(m string) bool {
	if _, ok := ParseMetric(m); ok {
		return true
	}
	return m == AlertMetricAnomaly || m == AlertMetricForecast || m == AlertMetricOffline
}
