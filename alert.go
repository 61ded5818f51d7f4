package vibemon

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"time"
)

// Severity of an alert.
type Severity string

// Severities.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Valid reports whether s is a known severity.
func (s Severity) Valid() bool {
	return s == SeverityInfo || s == SeverityWarning || s == SeverityCritical
}

// Op compares a metric with a rule's threshold.
type Op string

// Operators.
const (
	OpAbove Op = "above"
	OpBelow Op = "below"
)

// RuleKind says what a rule watches.
type RuleKind string

// Rule kinds.
const (
	// RuleThreshold watches a reading metric against Threshold and Clear.
	RuleThreshold RuleKind = "threshold"
	// RuleDiagnosis watches the waveform analysis for Fault detected with
	// at least MinConfidence; its metric, op and threshold fields are unused.
	RuleDiagnosis RuleKind = "diagnosis"
)

// DefaultMinConfidence is the MinConfidence a diagnosis rule gets when unset.
const DefaultMinConfidence = 0.6

// MaxRuleSeconds bounds ForSeconds and ClearForSeconds (one day).
const MaxRuleSeconds = 86400

// Rule is an alert rule. A threshold rule fires for a device when the metric
// is beyond Threshold (for at least ForSeconds) and clears when it is back
// beyond Clear on the safe side (for at least ClearForSeconds), so a value
// hovering at the threshold does not flap. A diagnosis rule fires when the
// waveform analysis finds Fault with at least MinConfidence.
type Rule struct {
	ID    int64  `json:"id"`
	OrgID int64  `json:"org_id"`
	Name  string `json:"name"`
	// Kind is RuleThreshold when empty.
	Kind RuleKind `json:"kind"`
	// AssetID or DeviceID narrow the rule; both 0 means every device of the org.
	AssetID   int64   `json:"asset_id"`
	DeviceID  int64   `json:"device_id"`
	Metric    string  `json:"metric"`
	Op        Op      `json:"op"`
	Threshold float64 `json:"threshold"`
	Clear     float64 `json:"clear"`
	// ForSeconds is how long the metric must breach continuously before the
	// alert opens; ClearForSeconds how long it must stay cleared before the
	// alert resolves. 0 means at once. Threshold rules only.
	ForSeconds      int `json:"for_seconds"`
	ClearForSeconds int `json:"clear_for_seconds"`
	// Fault and MinConfidence are for diagnosis rules only.
	Fault         string    `json:"fault"`
	MinConfidence float64   `json:"min_confidence"`
	Severity      Severity  `json:"severity"`
	Enabled       bool      `json:"enabled"`
	CreatedAt     time.Time `json:"created_at"`
	// RemindEveryMinutes reminds about an open (unacknowledged) alert every
	// so many minutes after it opened; 0: no reminders.
	RemindEveryMinutes int `json:"remind_every_minutes"`
	// Escalation notifies further people while an alert stays
	// unacknowledged, ordered by AfterMinutes; empty (never nil after
	// Validate or a store read): no escalation.
	Escalation []EscalationStep `json:"escalation"`

	// The fields of the other kinds (alert_kinds.go). Zone: iso_zone rules
	// ("C", "D", "alarm", "trip"). WithinDays: forecast rules.
	// OfflineMinutes: offline rules. Conditions and Match: threshold rules
	// with several conditions (empty, never nil after Validate or a store
	// read: the single Metric/Op/Threshold/Clear; Match "all" or "any").
	Zone           string      `json:"zone"`
	WithinDays     int         `json:"within_days"`
	OfflineMinutes int         `json:"offline_minutes"`
	Conditions     []Condition `json:"conditions"`
	Match          string      `json:"match"`
}

// EscalationStep is one level of a rule's escalation policy: AfterMinutes
// after an alert opened, if it is still not acknowledged, the alert
// escalates to this level and UserIDs (users of the rule's org) are told.
type EscalationStep struct {
	AfterMinutes int     `json:"after_minutes"` // since the alert opened, while not acknowledged
	UserIDs      []int64 `json:"user_ids"`      // who is notified at this level
}

// Limits of a rule's reminder and escalation policy.
const (
	MaxEscalationMinutes = 7 * 24 * 60 // AfterMinutes and RemindEveryMinutes at most one week
	MaxEscalationSteps   = 10
	MaxEscalationUsers   = 20 // per step
)

// validatePolicy checks RemindEveryMinutes and Escalation; it does not
// know the org's users (stores check that every user id is one of them).
func (r *Rule) validatePolicy() error {
	if r.RemindEveryMinutes < 0 || r.RemindEveryMinutes > MaxEscalationMinutes {
		return Errorf(EINVALID, "remind_every_minutes must be between 0 (no reminders) and %d.", MaxEscalationMinutes)
	}
	if r.Escalation == nil {
		r.Escalation = []EscalationStep{}
	}
	if len(r.Escalation) > MaxEscalationSteps {
		return Errorf(EINVALID, "escalation has at most %d steps.", MaxEscalationSteps)
	}
	for i, st := range r.Escalation {
		switch {
		case st.AfterMinutes <= 0 || st.AfterMinutes > MaxEscalationMinutes:
			return Errorf(EINVALID, "escalation step %d: after_minutes must be between 1 and %d.", i+1, MaxEscalationMinutes)
		case i > 0 && st.AfterMinutes <= r.Escalation[i-1].AfterMinutes:
			return Errorf(EINVALID, "escalation step %d: after_minutes must be greater than the step before (steps are ordered by after_minutes).", i+1)
		case len(st.UserIDs) == 0 || len(st.UserIDs) > MaxEscalationUsers:
			return Errorf(EINVALID, "escalation step %d: user_ids must name 1 to %d users.", i+1, MaxEscalationUsers)
		}
		seen := map[int64]bool{}
		for _, id := range st.UserIDs {
			if id <= 0 || seen[id] {
				return Errorf(EINVALID, "escalation step %d: user_ids must be distinct user ids.", i+1)
			}
			seen[id] = true
		}
	}
	return nil
}

// EscalationUserIDs returns every user id the rule's escalation names,
// each once, in order of first appearance.
func (r *Rule) EscalationUserIDs() []int64 {
	var out []int64
	seen := map[int64]bool{}
	for _, st := range r.Escalation {
		for _, id := range st.UserIDs {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}

// Validate checks the rule, fills Kind with RuleThreshold when unset, and
// fills Clear with Threshold when unset (NaN or equal means no hysteresis).
// A diagnosis rule gets DefaultMinConfidence when unset and its threshold
// fields are zeroed.
func (r *Rule) Validate() error {
	r.Name = strings.TrimSpace(r.Name)
	if r.Kind == "" {
		r.Kind = RuleThreshold
	}
	switch {
	case r.Name == "" || len(r.Name) > 200:
		return Errorf(EINVALID, "name is required (at most 200 characters).")
	case !validKind(r.Kind):
		return Errorf(EINVALID, "kind must be \"threshold\", \"diagnosis\", \"iso_zone\", \"anomaly\", \"forecast\" or \"offline\".")
	case !r.Severity.Valid():
		return Errorf(EINVALID, "severity must be info, warning or critical.")
	case r.AssetID < 0 || r.DeviceID < 0:
		return Errorf(EINVALID, "asset_id and device_id must be positive ids or 0.")
	case r.ForSeconds < 0 || r.ForSeconds > MaxRuleSeconds || r.ClearForSeconds < 0 || r.ClearForSeconds > MaxRuleSeconds:
		return Errorf(EINVALID, "for_seconds and clear_for_seconds must be between 0 and %d.", MaxRuleSeconds)
	}
	if err := r.validatePolicy(); err != nil {
		return err
	}
	if r.Kind == RuleDiagnosis {
		if len(r.Conditions) > 0 {
			return Errorf(EINVALID, "conditions are for threshold rules only.")
		}
		r.Conditions, r.Match, r.Zone, r.WithinDays, r.OfflineMinutes = []Condition{}, MatchAll, "", 0, 0
		return r.validateDiagnosis()
	}
	if r.Kind != RuleThreshold {
		return r.validateOtherKind()
	}
	r.Fault, r.MinConfidence = "", 0
	r.Zone, r.WithinDays, r.OfflineMinutes = "", 0, 0
	if err := r.validateConditions(); err != nil {
		return err
	}
	m, ok := ParseMetric(r.Metric)
	switch {
	case !ok:
		return Errorf(EINVALID, "metric %q is not a reading metric.", r.Metric)
	case r.Op != OpAbove && r.Op != OpBelow:
		return Errorf(EINVALID, "op must be \"above\" or \"below\".")
	case math.IsNaN(r.Threshold) || math.IsInf(r.Threshold, 0):
		return Errorf(EINVALID, "threshold must be a number.")
	}
	if lo, hi := m.Range(); r.Threshold < lo || r.Threshold > hi {
		return Errorf(EINVALID, "threshold %g is outside the range of %s (%g..%g).", r.Threshold, m, lo, hi)
	}
	if math.IsNaN(r.Clear) || math.IsInf(r.Clear, 0) {
		r.Clear = r.Threshold
	}
	if (r.Op == OpAbove && r.Clear > r.Threshold) || (r.Op == OpBelow && r.Clear < r.Threshold) {
		return Errorf(EINVALID, "clear must be on the safe side of threshold (below it for \"above\", above it for \"below\").")
	}
	return nil
}

// validateDiagnosis checks the fields of a diagnosis rule.
func (r *Rule) validateDiagnosis() error {
	r.Fault = strings.TrimSpace(r.Fault)
	if r.MinConfidence == 0 {
		r.MinConfidence = DefaultMinConfidence
	}
	switch {
	case r.Fault == "" || len(r.Fault) > 64 || strings.Trim(r.Fault, "abcdefghijklmnopqrstuvwxyz0123456789_") != "":
		return Errorf(EINVALID, "fault is required for a diagnosis rule (a fault name such as \"bearing_outer_race\").")
	case math.IsNaN(r.MinConfidence) || r.MinConfidence < 0 || r.MinConfidence > 1:
		return Errorf(EINVALID, "min_confidence must be between 0 and 1.")
	case r.ForSeconds != 0 || r.ClearForSeconds != 0:
		return Errorf(EINVALID, "for_seconds and clear_for_seconds apply to threshold rules only.")
	}
	r.Metric, r.Op, r.Threshold, r.Clear = "", "", 0, 0
	return nil
}

// IsThreshold reports whether r is a threshold rule (Kind empty or
// RuleThreshold).
func (r *Rule) IsThreshold() bool { return r.Kind == "" || r.Kind == RuleThreshold }

// Applies reports whether the threshold rule watches device d; it is false
// for rules of other kinds, which the threshold engine skips.
func (r *Rule) Applies(d *Device) bool {
	if !r.IsThreshold() {
		return false
	}
	return r.Watches(d)
}

// Watches reports whether the enabled rule, of any kind, covers device d.
func (r *Rule) Watches(d *Device) bool {
	if !r.Enabled || r.OrgID != d.OrgID {
		return false
	}
	if r.DeviceID != 0 {
		return r.DeviceID == d.ID
	}
	if r.AssetID != 0 {
		return r.AssetID == d.AssetID
	}
	return true
}

// Triggered reports whether v breaches the rule.
func (r *Rule) Triggered(v float64) bool {
	if r.Op == OpAbove {
		return v > r.Threshold
	}
	return v < r.Threshold
}

// Cleared reports whether v is back on the safe side of the clear level.
func (r *Rule) Cleared(v float64) bool {
	if r.Op == OpAbove {
		return v <= r.Clear
	}
	return v >= r.Clear
}

// AlertStatus is where an alert is in its lifecycle.
type AlertStatus string

// Alert statuses: open -> acknowledged -> resolved, or open -> resolved.
const (
	AlertOpen         AlertStatus = "open"
	AlertAcknowledged AlertStatus = "acknowledged"
	AlertResolved     AlertStatus = "resolved"
)

// Alert is a rule firing for one device. There is at most one unresolved
// alert per (rule, device): repeated triggers update it.
type Alert struct {
	ID       int64       `json:"id"`
	OrgID    int64       `json:"org_id"`
	RuleID   int64       `json:"rule_id"`
	DeviceID int64       `json:"device_id"`
	AssetID  int64       `json:"asset_id"`
	Severity Severity    `json:"severity"`
	Status   AlertStatus `json:"status"`
	Metric   string      `json:"metric"`
	// Value is the latest breaching value; Peak the worst seen while open.
	Value      float64    `json:"value"`
	Peak       float64    `json:"peak"`
	Threshold  float64    `json:"threshold"`
	Message    string     `json:"message"`
	OpenedAt   time.Time  `json:"opened_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	AckedAt    *time.Time `json:"acked_at"`
	AckedBy    int64      `json:"acked_by"`
	AckComment string     `json:"ack_comment"`
	ResolvedAt *time.Time `json:"resolved_at"`
	ResolvedBy int64      `json:"resolved_by"` // 0: resolved automatically
	// AssigneeID is the user who looks after the alert, 0: nobody.
	AssigneeID int64 `json:"assignee_id"`
	// EscalationLevel is the highest escalation step reached (1, 2, ...);
	// 0: not escalated.
	EscalationLevel int `json:"escalation_level"`
	// Appended is the timeline event that the store call which returned
	// this alert appended (opened, acknowledged, assigned, resolved), nil
	// when it appended none. It is not stored: publishers send it along
	// (LiveData).
	Appended *AlertEvent `json:"-"`
}

// LiveData is the data of a live "alert" message: the alert's fields and,
// when the change appended a timeline event, that event as "event".
func (a *Alert) LiveData() ([]byte, error) {
	return json.Marshal(struct {
		*Alert
		Event *AlertEvent `json:"event,omitempty"`
	}{a, a.Appended})
}

// AlertEventKind says what happened to an alert.
type AlertEventKind string

// Alert event kinds, the entries of an alert's timeline
// (AlertAcknowledged and AlertResolved are statuses already, hence the
// Event prefix.)
const (
	EventOpened       AlertEventKind = "opened"
	EventAcknowledged AlertEventKind = "acknowledged"
	EventAssigned     AlertEventKind = "assigned"
	EventCommented    AlertEventKind = "commented"
	EventReminded     AlertEventKind = "reminded"
	EventEscalated    AlertEventKind = "escalated"
	EventResolved     AlertEventKind = "resolved"
)

// Valid reports whether k is a known event kind.
func (k AlertEventKind) Valid() bool {
	switch k {
	case EventOpened, EventAcknowledged, EventAssigned, EventCommented, EventReminded, EventEscalated, EventResolved:
		return true
	}
	return false
}

// MaxAlertComment is the longest comment (acknowledgement or timeline).
const MaxAlertComment = 2000

// AlertEvent is one entry of an alert's timeline; it is also the outbox the
// notification dispatcher reads (ids increase in commit order per store).
type AlertEvent struct {
	ID      int64          `json:"id"`
	OrgID   int64          `json:"org_id"`
	AlertID int64          `json:"alert_id"`
	Kind    AlertEventKind `json:"kind"`
	At      time.Time      `json:"at"`
	UserID  int64          `json:"user_id"` // who did it; 0: the system
	// Assignee for "assigned"; Level for "escalated" (1, 2, ...); Comment for
	// acknowledged/commented/assigned.
	AssigneeID int64  `json:"assignee_id,omitempty"`
	Level      int    `json:"level,omitempty"`
	Comment    string `json:"comment,omitempty"`
}

// AlertFilter narrows ListAlerts. Zero fields do not filter.
type AlertFilter struct {
	Status     AlertStatus
	DeviceID   int64
	AssetID    int64
	AssigneeID int64 // only alerts assigned to this user
	Unassigned bool  // only alerts assigned to nobody
	Limit      int   // default 100, at most 1000
}

// RuleStore keeps alert rules; every method is scoped to an org.
type RuleStore interface {
	CreateRule(ctx context.Context, r *Rule) error
	// GetRule returns ENOTFOUND when id is not a rule of orgID.
	GetRule(ctx context.Context, orgID, id int64) (*Rule, error)
	ListRules(ctx context.Context, orgID int64) ([]*Rule, error)
	UpdateRule(ctx context.Context, r *Rule) error
	// DeleteRule removes the rule; its alerts stay for the record.
	DeleteRule(ctx context.Context, orgID, id int64) error
}

// AlertStore keeps alerts; every method is scoped to an org.
type AlertStore interface {
	// UpsertAlert opens a new alert for (a.RuleID, a.DeviceID), or, when one
	// is unresolved, updates its Value, Peak and UpdatedAt. It fills a with
	// the stored alert and reports whether it was opened now.
	UpsertAlert(ctx context.Context, a *Alert) (opened bool, err error)
	// GetAlert returns ENOTFOUND when id is not an alert of orgID.
	GetAlert(ctx context.Context, orgID, id int64) (*Alert, error)
	// UnresolvedAlert returns the unresolved alert of (ruleID, deviceID),
	// ENOTFOUND when there is none.
	UnresolvedAlert(ctx context.Context, orgID, ruleID, deviceID int64) (*Alert, error)
	ListAlerts(ctx context.Context, orgID int64, f AlertFilter) ([]*Alert, error)
	// AckAlert acknowledges an open alert; ECONFLICT when it is not open.
	AckAlert(ctx context.Context, orgID, id, userID int64, comment string, at time.Time) (*Alert, error)
	// ResolveAlert resolves an unresolved alert (userID 0: automatically);
	// ECONFLICT when it is already resolved.
	ResolveAlert(ctx context.Context, orgID, id, userID int64, at time.Time) (*Alert, error)

	// The timeline. UpsertAlert appends "opened" when it opens an alert,
	// AckAlert "acknowledged" (with the comment), ResolveAlert "resolved",
	// each in the transaction of the state change.

	// AssignAlert sets the alert's assignee (0: nobody) and appends an
	// "assigned" event by byUserID. EINVALID when assigneeID is not a user
	// of orgID, ECONFLICT when the alert is resolved, ENOTFOUND as GetAlert.
	AssignAlert(ctx context.Context, orgID, id, assigneeID, byUserID int64, at time.Time) (*Alert, error)
	// AddAlertEvent appends a "commented", "reminded" or "escalated" event
	// and sets e.ID. "escalated" sets the alert's EscalationLevel to
	// e.Level in the same transaction, and only when the alert is open and
	// below that level; "reminded" only when the alert is open and was not
	// yet reminded at or after e.At (the time the reminder fell due). Both
	// are ECONFLICT otherwise, so a job that runs twice appends each once.
	AddAlertEvent(ctx context.Context, e *AlertEvent) error
	// ListAlertEvents returns the alert's timeline ordered by id;
	// ENOTFOUND when id is not an alert of orgID.
	ListAlertEvents(ctx context.Context, orgID, alertID int64) ([]*AlertEvent, error)
	// AlertEventsAfter returns up to limit events (default 100, at most
	// 1000) of every org with an id above afterID, ordered by id. Ids
	// increase in commit order, so a reader that remembers the last id it
	// saw misses none.
	AlertEventsAfter(ctx context.Context, afterID int64, limit int) ([]*AlertEvent, error)
	// DueAlerts returns the open (unacknowledged) alerts of every org whose
	// rule has reminders or escalation steps, oldest first, at most limit
	// (default 100, at most 1000) with an id above afterID.
	DueAlerts(ctx context.Context, afterID int64, limit int) ([]*Alert, error)
}

// MaxMaintenanceSpan is the longest maintenance window (90 days).
const MaxMaintenanceSpan = 90 * 24 * time.Hour

// MaintenanceWindow silences an asset: from From (inclusive) to To
// (exclusive) the alert engine opens no alert for the asset's devices.
// Readings are still stored, and an alert already open stays open.
type MaintenanceWindow struct {
	ID        int64     `json:"id"`
	OrgID     int64     `json:"org_id"`
	AssetID   int64     `json:"asset_id"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Reason    string    `json:"reason"`
	CreatedBy int64     `json:"created_by"` // user id, 0: unknown
	CreatedAt time.Time `json:"created_at"`
}

// Validate checks the window: To after From, at most MaxMaintenanceSpan
// long, a reason of at most 500 characters. It makes From and To UTC,
// truncated to the millisecond, as every store keeps them.
func (w *MaintenanceWindow) Validate() error {
	w.Reason = strings.TrimSpace(w.Reason)
	w.From, w.To = w.From.UTC().Truncate(time.Millisecond), w.To.UTC().Truncate(time.Millisecond)
	switch {
	case w.From.IsZero() || w.To.IsZero():
		return Errorf(EINVALID, "from and to are required (RFC 3339 times).")
	case !w.To.After(w.From):
		return Errorf(EINVALID, "to must be after from.")
	case w.To.Sub(w.From) > MaxMaintenanceSpan:
		return Errorf(EINVALID, "a maintenance window is at most 90 days long.")
	case len(w.Reason) > 500:
		return Errorf(EINVALID, "reason is at most 500 characters.")
	case w.AssetID <= 0:
		return Errorf(EINVALID, "asset_id is required.")
	}
	return nil
}

// Covers reports whether t is inside the window.
func (w *MaintenanceWindow) Covers(t time.Time) bool {
	return !t.Before(w.From) && t.Before(w.To)
}

// MaintenanceStore keeps maintenance windows; every method is scoped to an org.
type MaintenanceStore interface {
	// CreateMaintenance validates and inserts w and sets its ID and
	// CreatedAt; ENOTFOUND when w.AssetID is not an asset of w.OrgID.
	CreateMaintenance(ctx context.Context, w *MaintenanceWindow) error
	// ListMaintenance returns the windows that end after endsAfter (zero:
	// all), of one asset (assetID 0: of every asset), ordered by From, ID.
	ListMaintenance(ctx context.Context, orgID, assetID int64, endsAfter time.Time) ([]*MaintenanceWindow, error)
	// DeleteMaintenance removes a window; ENOTFOUND when id is not a
	// window of that asset of orgID.
	DeleteMaintenance(ctx context.Context, orgID, assetID, id int64) error
}

// Validate checks an alert before a store keeps it.
func (a *Alert) Validate() error {
	if !a.Severity.Valid() {
		return Errorf(EINVALID, "severity must be info, warning or critical.")
	}
	if !validAlertMetric(a.Metric) {
		return Errorf(EINVALID, "metric %q is not a reading metric.", a.Metric)
	}
	for _, v := range []float64{a.Value, a.Threshold} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Errorf(EINVALID, "value and threshold must be numbers.")
		}
	}
	return nil
}

// WorsePeak returns whichever of peak and v lies further beyond threshold,
// counting v only when it is on peak's side: the peak of an "above" alert
// is its maximum, of a "below" alert its minimum. Stores use it so that
// concurrent updates of one alert keep the worst value seen.
func WorsePeak(threshold, peak, v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return peak
	}
	if (v > threshold) != (peak > threshold) {
		return peak // v is not on the breaching side; ignore it
	}
	if math.Abs(v-threshold) > math.Abs(peak-threshold) {
		return v
	}
	return peak
}

// ValidateAdded checks an event for AlertStore.AddAlertEvent: only
// commented, reminded and escalated events are added on their own (the
// others come with their state change). It trims the comment and clears
// the fields the kind does not use.
func (e *AlertEvent) ValidateAdded() error {
	e.Comment = strings.TrimSpace(e.Comment)
	switch {
	case e.Kind != EventCommented && e.Kind != EventReminded && e.Kind != EventEscalated:
		return Errorf(EINVALID, "only commented, reminded and escalated events can be added; %q comes with its state change.", e.Kind)
	case e.At.IsZero():
		return Errorf(EINVALID, "the event's time is required.")
	case e.Kind == EventCommented && (e.Comment == "" || len(e.Comment) > MaxAlertComment):
		return Errorf(EINVALID, "comment is required (at most %d characters).", MaxAlertComment)
	case e.Kind == EventEscalated && e.Level <= 0:
		return Errorf(EINVALID, "an escalated event needs its level (1, 2, ...).")
	}
	if e.Kind != EventEscalated {
		e.Level = 0
	}
	e.AssigneeID = 0
	return nil
}
