package alerting

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/vibemon/vibemon"
)

// Store is what the engine needs from storage.
type Store interface {
	vibemon.RuleStore
	vibemon.AlertStore
	vibemon.MaintenanceStore
}

// Engine evaluates threshold rules. It is safe for concurrent use; callers
// serialize evaluation per org when they need strict ordering (the ingest
// pipeline evaluates after each committed batch).
//
// A rule's ForSeconds and ClearForSeconds are measured on reading
// timestamps: the engine remembers, in memory, since when each (rule,
// device) has been breaching without an open alert, or cleared with one.
// Nothing of this is stored, so after a restart a pending breach (or clear)
// starts again from the next reading: an alert opens, or resolves, at most
// that duration later than it would have. Open alerts are in the store and
// are not affected.
type Engine struct {
	store  Store
	logger *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	pending map[pendingKey]pending

	levelsOf func(ctx context.Context, orgID, assetID int64) (ISOLevels, error)
	levelsMu sync.Mutex
	levels   map[[2]int64]cachedLevels
}

// pendingKey names one rule on one device.
type pendingKey struct{ rule, device int64 }

// pending is a breach not yet long enough to open an alert (no alert open),
// or a clear not yet long enough to resolve one (alert open).
type pending struct {
	since time.Time
	peak  float64 // worst value of a pending breach
	alert int64   // the open alert of a pending clear; 0 for a breach
}

// Config configures an Engine. Logger defaults to slog.Default and Now to
// time.Now.
type Config struct {
	Store  Store
	Logger *slog.Logger
	Now    func() time.Time
	// Levels returns an asset's ISO 10816-3 levels for iso_zone rules
	// (analysis.Service.ISOLevels); the engine keeps each for LevelsTTL.
	// nil: iso_zone rules raise nothing.
	Levels func(ctx context.Context, orgID, assetID int64) (ISOLevels, error)
}

// NewEngine returns an engine over cfg.Store.
func NewEngine(cfg Config) *Engine {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Engine{store: cfg.Store, logger: cfg.Logger, now: cfg.Now, pending: map[pendingKey]pending{},
		levelsOf: cfg.Levels, levels: map[[2]int64]cachedLevels{}}
}

// Evaluate runs the org's enabled rules over new readings, in time order per
// device, and returns the alerts it opened, updated or resolved (the stored
// state, ready to publish), once each, except that an alert that opened
// and resolved in this batch appears twice, opened then resolved: an
// entry's Appended carries the timeline event (opened, resolved) live
// clients must hear of.
// devices holds every device of readings.
func (e *Engine) Evaluate(ctx context.Context, orgID int64, devices map[int64]*vibemon.Device, readings []vibemon.Reading) ([]*vibemon.Alert, error) {
	if len(readings) == 0 {
		return nil, nil
	}
	rules, err := e.store.ListRules(ctx, orgID)
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	if len(rules) == 0 {
		return nil, nil
	}
	byDevice := groupByDevice(readings)
	earliest := readings[0].TS
	for i := range readings {
		if readings[i].TS.Before(earliest) {
			earliest = readings[i].TS
		}
	}
	windows, err := e.store.ListMaintenance(ctx, orgID, 0, earliest)
	if err != nil {
		return nil, fmt.Errorf("list maintenance windows: %w", err)
	}
	byAsset := map[int64][]*vibemon.MaintenanceWindow{}
	for _, w := range windows {
		byAsset[w.AssetID] = append(byAsset[w.AssetID], w)
	}
	ids := make([]int64, 0, len(byDevice))
	for id := range byDevice {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })

	var changed []*vibemon.Alert
	for _, id := range ids {
		dev := devices[id]
		if dev == nil {
			continue
		}
		rs := byDevice[id]
		if !slices.IsSortedFunc(rs, byTime) {
			slices.SortStableFunc(rs, byTime)
		}
		for _, rule := range rules {
			if !watchesReadings(rule, dev) {
				continue
			}
			out, err := e.evaluateRule(ctx, rule, dev, rs, byAsset[dev.AssetID])
			if err != nil {
				return changed, fmt.Errorf("evaluate rule %d on device %d: %w", rule.ID, dev.ID, err)
			}
			changed = append(changed, out...)
		}
	}
	return changed, nil
}

func byTime(a, b vibemon.Reading) int { return a.TS.Compare(b.TS) }

// groupByDevice returns copies of readings grouped by device, in their
// order within each device, all in one allocation.
func groupByDevice(readings []vibemon.Reading) map[int64][]vibemon.Reading {
	counts := map[int64]int{}
	for i := range readings {
		counts[readings[i].DeviceID]++
	}
	all := make([]vibemon.Reading, len(readings))
	byDevice := make(map[int64][]vibemon.Reading, len(counts))
	off := 0
	for id, n := range counts {
		byDevice[id] = all[off : off : off+n]
		off += n
	}
	for i := range readings {
		id := readings[i].DeviceID
		byDevice[id] = append(byDevice[id], readings[i])
	}
	return byDevice
}

// evaluateRule walks one device's readings through one rule's state machine
// (run).
func (e *Engine) evaluateRule(ctx context.Context, rule *vibemon.Rule, dev *vibemon.Device, rs []vibemon.Reading, maintenance []*vibemon.MaintenanceWindow) ([]*vibemon.Alert, error) {
	sampler, err := e.samplerFor(ctx, rule, dev)
	if err != nil || sampler == nil {
		return nil, err
	}
	return e.run(ctx, rule, dev, len(rs), func(i int, lead string) (sample, bool) {
		return sampler(rs[i], lead)
	}, maintenance)
}

// sample is one observation of what a rule watches on a device: the value
// (of metric, compared with threshold by op), and whether it breaches the
// rule or is cleared. A sample that is neither keeps things as they are.
type sample struct {
	ts        time.Time
	metric    string
	op        vibemon.Op
	v         float64
	threshold float64
	trig      bool
	clear     bool
	describe  func() string // the alert's message; nil for message(rule, dev, s)
}

// run walks n samples, in time order, through the rule's state machine and
// writes only the transitions, plus one update of an alert that stays
// open, so a batch of thousands of breaching readings costs one write.
// at returns sample i given the metric of the open alert ("" when none),
// or false to skip it. Inside one of the asset's maintenance windows no
// alert opens, and a breach counts from the end of the window; an open
// alert is updated and resolved as usual.
func (e *Engine) run(ctx context.Context, rule *vibemon.Rule, dev *vibemon.Device, n int, at func(i int, lead string) (sample, bool), maintenance []*vibemon.MaintenanceWindow) ([]*vibemon.Alert, error) {
	open, err := e.store.UnresolvedAlert(ctx, rule.OrgID, rule.ID, dev.ID)
	if vibemon.ErrorCode(err) == vibemon.ENOTFOUND {
		open, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	var changed []*vibemon.Alert
	dirty := false // open alert has a newer value than stored
	key := pendingKey{rule.ID, dev.ID}
	e.mu.Lock()
	p, hasPending := e.pending[key]
	e.mu.Unlock()
	var openID int64
	if open != nil {
		openID = open.ID
	}
	if hasPending && p.alert != openID {
		hasPending = false // someone resolved the alert, or opened another
	}
	defer func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if hasPending {
			e.pending[key] = p
		} else {
			delete(e.pending, key)
		}
	}()
	forDur := time.Duration(rule.ForSeconds) * time.Second
	clearDur := time.Duration(rule.ClearForSeconds) * time.Second
	for i := 0; i < n; i++ {
		lead := ""
		if open != nil {
			lead = open.Metric
		}
		s, ok := at(i, lead)
		if !ok || (math.IsNaN(s.v) && !s.clear) {
			continue // no value; a clear without one (no forecast) still counts
		}
		switch {
		case open == nil && s.trig:
			if silenced(maintenance, s.ts) {
				hasPending = false
				continue
			}
			if !hasPending {
				p, hasPending = pending{since: s.ts, peak: s.v}, true
			} else if worse(s.op, s.v, p.peak) {
				p.peak = s.v
			}
			if s.ts.Sub(p.since) < forDur {
				continue // not breaching long enough yet
			}
			msg := ""
			if s.describe != nil {
				msg = s.describe()
			} else {
				msg = message(rule, dev, s)
			}
			a := &vibemon.Alert{
				OrgID: rule.OrgID, RuleID: rule.ID, DeviceID: dev.ID, AssetID: dev.AssetID,
				Severity: rule.Severity, Status: vibemon.AlertOpen, Metric: s.metric,
				Value: s.v, Peak: p.peak, Threshold: s.threshold,
				Message:  msg,
				OpenedAt: p.since, UpdatedAt: s.ts,
			}
			if _, err := e.store.UpsertAlert(ctx, a); err != nil {
				return changed, fmt.Errorf("open alert: %w", err)
			}
			open, dirty, hasPending = a, false, false
			opened := *a // a snapshot: later updates of a must not drop its "opened" event
			changed = append(changed, &opened)
		case open == nil:
			hasPending = false // the breach was interrupted
		case s.trig:
			open.Value, open.UpdatedAt = s.v, s.ts
			if s.metric == open.Metric && worse(s.op, s.v, open.Peak) {
				open.Peak = s.v
			}
			dirty, hasPending = true, false
		case s.clear:
			if !hasPending {
				p, hasPending = pending{since: s.ts, alert: open.ID}, true
			}
			if s.ts.Sub(p.since) < clearDur {
				continue // not cleared long enough yet
			}
			if dirty {
				if _, err := e.store.UpsertAlert(ctx, open); err != nil {
					return changed, fmt.Errorf("update alert: %w", err)
				}
			}
			resolved, err := e.store.ResolveAlert(ctx, rule.OrgID, open.ID, 0, s.ts)
			if err != nil {
				return changed, fmt.Errorf("resolve alert: %w", err)
			}
			changed = replace(changed, resolved)
			open, dirty, hasPending = nil, false, false
		default:
			hasPending = false // between clear and threshold: neither
		}
	}
	if open != nil && dirty {
		if _, err := e.store.UpsertAlert(ctx, open); err != nil {
			return changed, fmt.Errorf("update alert: %w", err)
		}
		changed = replace(changed, open)
	}
	return changed, nil
}

// silenced reports whether t is inside one of windows.
func silenced(windows []*vibemon.MaintenanceWindow, t time.Time) bool {
	for _, w := range windows {
		if w.Covers(t) {
			return true
		}
	}
	return false
}

// replace puts a in changed, over an earlier copy of the same alert.
// replace puts a, the alert's latest state, in changed over its last
// entry. When both carry a timeline event (opened, then resolved), live
// clients must hear of both: a comes after it instead; a plain update
// keeps the entry's event.
func replace(changed []*vibemon.Alert, a *vibemon.Alert) []*vibemon.Alert {
	for i := len(changed) - 1; i >= 0; i-- {
		if changed[i].ID == a.ID {
			if changed[i].Appended != nil && a.Appended != nil {
				break
			}
			if a.Appended == nil {
				a.Appended = changed[i].Appended
			}
			changed[i] = a
			return changed
		}
	}
	return append(changed, a)
}

func worse(op vibemon.Op, v, peak float64) bool {
	if op == vibemon.OpAbove {
		return v > peak
	}
	return v < peak
}

func message(rule *vibemon.Rule, dev *vibemon.Device, s sample) string {
	m, _ := vibemon.ParseMetric(s.metric)
	name := dev.Name
	if name == "" {
		name = dev.Serial
	}
	unit := m.Unit()
	if unit != "" {
		unit = " " + unit
	}
	return fmt.Sprintf("%s: %s %.3g%s is %s %.3g%s (rule %q).", name, s.metric, s.v, unit, s.op, s.threshold, unit, rule.Name)
}
