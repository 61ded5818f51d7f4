package alerting

import (
	"context"
	"fmt"
	"log/slog"
	"math"
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
}

// NewEngine returns an engine over cfg.Store.
func NewEngine(cfg Config) *Engine {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Engine{store: cfg.Store, logger: cfg.Logger, now: cfg.Now, pending: map[pendingKey]pending{}}
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
	byDevice := map[int64][]vibemon.Reading{}
	earliest := readings[0].TS
	for _, r := range readings {
		byDevice[r.DeviceID] = append(byDevice[r.DeviceID], r)
		if r.TS.Before(earliest) {
			earliest = r.TS
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
		sort.Slice(rs, func(i, j int) bool { return rs[i].TS.Before(rs[j].TS) })
		for _, rule := range rules {
			if !rule.Applies(dev) {
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

// evaluateRule walks one device's readings through one rule's state machine
// and writes only the transitions, plus one update of an alert that stays
// open, so a batch of thousands of breaching readings costs one write.
// Inside one of the asset's maintenance windows no alert opens, and a
// breach counts from the end of the window; an open alert is updated and
// resolved as usual.
func (e *Engine) evaluateRule(ctx context.Context, rule *vibemon.Rule, dev *vibemon.Device, rs []vibemon.Reading, maintenance []*vibemon.MaintenanceWindow) ([]*vibemon.Alert, error) {
	metric, ok := vibemon.ParseMetric(rule.Metric)
	if !ok {
		return nil, nil
	}
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
	for _, r := range rs {
		v := r.Values[metric]
		if math.IsNaN(v) {
			continue
		}
		switch {
		case open == nil && rule.Triggered(v):
			if silenced(maintenance, r.TS) {
				hasPending = false
				continue
			}
			if !hasPending {
				p, hasPending = pending{since: r.TS, peak: v}, true
			} else if worse(rule.Op, v, p.peak) {
				p.peak = v
			}
			if r.TS.Sub(p.since) < forDur {
				continue // not breaching long enough yet
			}
			a := &vibemon.Alert{
				OrgID: rule.OrgID, RuleID: rule.ID, DeviceID: dev.ID, AssetID: dev.AssetID,
				Severity: rule.Severity, Status: vibemon.AlertOpen, Metric: rule.Metric,
				Value: v, Peak: p.peak, Threshold: rule.Threshold,
				Message:  message(rule, dev, v),
				OpenedAt: p.since, UpdatedAt: r.TS,
			}
			if _, err := e.store.UpsertAlert(ctx, a); err != nil {
				return changed, fmt.Errorf("open alert: %w", err)
			}
			open, dirty, hasPending = a, false, false
			opened := *a // a snapshot: later updates of a must not drop its "opened" event
			changed = append(changed, &opened)
		case open == nil:
			hasPending = false // the breach was interrupted
		case rule.Triggered(v):
			open.Value, open.UpdatedAt = v, r.TS
			if worse(rule.Op, v, open.Peak) {
				open.Peak = v
			}
			dirty, hasPending = true, false
		case rule.Cleared(v):
			if !hasPending {
				p, hasPending = pending{since: r.TS, alert: open.ID}, true
			}
			if r.TS.Sub(p.since) < clearDur {
				continue // not cleared long enough yet
			}
			if dirty {
				if _, err := e.store.UpsertAlert(ctx, open); err != nil {
					return changed, fmt.Errorf("update alert: %w", err)
				}
			}
			resolved, err := e.store.ResolveAlert(ctx, rule.OrgID, open.ID, 0, r.TS)
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

func message(rule *vibemon.Rule, dev *vibemon.Device, v float64) string {
	m, _ := vibemon.ParseMetric(rule.Metric)
	name := dev.Name
	if name == "" {
		name = dev.Serial
	}
	unit := m.Unit()
	if unit != "" {
		unit = " " + unit
	}
	return fmt.Sprintf("%s: %s %.3g%s is %s %.3g%s (rule %q).", name, rule.Metric, v, unit, rule.Op, rule.Threshold, unit, rule.Name)
}
