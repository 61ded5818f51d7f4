package httpapi

import (
	"context"
	"math"
	"slices"
	"strings"

	"github.com/vibemon/vibemon"
)

// kindFields says which rule kinds use each kind-specific field of a rule
// body; a body that sets a field its rule's kind does not use is refused,
// so that a typo in "kind" is not silently a different rule.
var kindFields = []struct {
	name  string
	set   func(in ruleInput) bool
	kinds []vibemon.RuleKind
}{
	{"metric", func(in ruleInput) bool { return in.Metric != nil }, []vibemon.RuleKind{vibemon.RuleThreshold}},
	{"op", func(in ruleInput) bool { return in.Op != nil }, []vibemon.RuleKind{vibemon.RuleThreshold}},
	{"threshold", func(in ruleInput) bool { return in.Threshold != nil }, []vibemon.RuleKind{vibemon.RuleThreshold, vibemon.RuleAnomaly}},
	{"clear", func(in ruleInput) bool { return in.Clear != nil }, []vibemon.RuleKind{vibemon.RuleThreshold, vibemon.RuleAnomaly}},
	{"for_seconds", func(in ruleInput) bool { return in.ForSeconds != nil }, []vibemon.RuleKind{vibemon.RuleThreshold, vibemon.RuleISOZone}},
	{"clear_for_seconds", func(in ruleInput) bool { return in.ClearForSeconds != nil }, []vibemon.RuleKind{vibemon.RuleThreshold, vibemon.RuleISOZone}},
	{"conditions", func(in ruleInput) bool { return in.Conditions != nil }, []vibemon.RuleKind{vibemon.RuleThreshold}},
	{"match", func(in ruleInput) bool { return in.Match != nil }, []vibemon.RuleKind{vibemon.RuleThreshold}},
	{"fault", func(in ruleInput) bool { return in.Fault != nil }, []vibemon.RuleKind{vibemon.RuleDiagnosis}},
	{"min_confidence", func(in ruleInput) bool { return in.MinConfidence != nil }, []vibemon.RuleKind{vibemon.RuleDiagnosis}},
	{"zone", func(in ruleInput) bool { return in.Zone != nil }, []vibemon.RuleKind{vibemon.RuleISOZone}},
	{"within_days", func(in ruleInput) bool { return in.WithinDays != nil }, []vibemon.RuleKind{vibemon.RuleForecast}},
	{"offline_minutes", func(in ruleInput) bool { return in.OfflineMinutes != nil }, []vibemon.RuleKind{vibemon.RuleOffline}},
}

// checkKindFields refuses fields the rule's kind does not use, and a new
// threshold rule without a threshold (or conditions).
func checkKindFields(in ruleInput, rule *vibemon.Rule) error {
	kind := rule.Kind
	if kind == "" {
		kind = vibemon.RuleThreshold
	}
	for _, f := range kindFields {
		if f.set(in) && !slices.Contains(f.kinds, kind) {
			names := make([]string, len(f.kinds))
			for i, k := range f.kinds {
				names[i] = `"` + string(k) + `"`
			}
			return invalidf("%s is not used by %s rules; it is for rules of kind %s.", f.name, kind, strings.Join(names, " or "))
		}
	}
	if kind == vibemon.RuleThreshold && rule.ID == 0 && in.Threshold == nil && (in.Conditions == nil || len(*in.Conditions) == 0) {
		return invalidf("threshold is required (or conditions, 2 to %d of {metric, op, threshold}).", vibemon.MaxConditions)
	}
	return nil
}

// applyKindFields sets the given fields of the other kinds on rule.
func applyKindFields(in ruleInput, rule *vibemon.Rule) {
	if in.Zone != nil {
		rule.Zone = *in.Zone
	}
	if in.WithinDays != nil {
		rule.WithinDays = *in.WithinDays
	}
	if in.OfflineMinutes != nil {
		rule.OfflineMinutes = *in.OfflineMinutes
	}
	if in.Conditions != nil {
		rule.Conditions = *in.Conditions
		if len(rule.Conditions) > 0 && in.Clear == nil {
			rule.Clear = math.NaN() // filled from the first condition
		}
	}
	if in.Match != nil {
		rule.Match = *in.Match
	}
}

// checkKindScope refuses an iso_zone or forecast rule for one device that
// is not attached to a machine: it could never fire (the levels are the
// machine's).
func (s *server) checkKindScope(ctx context.Context, rule *vibemon.Rule) error {
	if rule.DeviceID == 0 || (rule.Kind != vibemon.RuleISOZone && rule.Kind != vibemon.RuleForecast) {
		return nil
	}
	d, err := s.store.GetDevice(ctx, rule.OrgID, rule.DeviceID)
	if err != nil {
		return nil // applyRule reports a missing device
	}
	if d.AssetID == 0 {
		return invalidf("device_id %d is not attached to a machine; %s rules compare with the machine's ISO levels: attach the device first, or set asset_id.", rule.DeviceID, rule.Kind)
	}
	return nil
}
