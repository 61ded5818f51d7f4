package alerting_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/alerting"
)

// kindRule creates a rule of the fixture's org and asset; the fixture's
// threshold rule is disabled so that only r raises alerts.
func (f *fixture) kindRule(t *testing.T, r *vibemon.Rule) *vibemon.Rule {
	t.Helper()
	ctx := context.Background()
	f.rule.Enabled = false
	must(t, f.store.UpdateRule(ctx, f.rule))
	r.OrgID, r.Severity, r.Enabled = f.org.ID, vibemon.SeverityWarning, true
	if r.AssetID == 0 && r.DeviceID == 0 {
		r.AssetID = f.dev.AssetID
	}
	if r.Kind != vibemon.RuleAnomaly {
		r.Clear = math.NaN()
	}
	must(t, f.store.CreateRule(ctx, r))
	return r
}

// readings makes one reading per row, 10 s apart from at, with the given
// metric values.
func (f *fixture) readings(at time.Duration, rows ...map[vibemon.Metric]float64) []vibemon.Reading {
	var rs []vibemon.Reading
	for i, vals := range rows {
		ts := f.t0.Add(at + time.Duration(i)*10*time.Second)
		r := vibemon.NewReading(f.dev.ID, ts.UnixMilli(), ts)
		for m, v := range vals {
			r.Values[m] = v
		}
		rs = append(rs, r)
	}
	return rs
}

func (f *fixture) evaluate(t *testing.T, e *alerting.Engine, rs []vibemon.Reading) []*vibemon.Alert {
	t.Helper()
	changed, err := e.Evaluate(context.Background(), f.org.ID, map[int64]*vibemon.Device{f.dev.ID: f.dev}, rs)
	must(t, err)
	return changed
}

func vel(x, y, z float64) map[vibemon.Metric]float64 {
	return map[vibemon.Metric]float64{vibemon.VelRMSX: x, vibemon.VelRMSY: y, vibemon.VelRMSZ: z}
}

// levels are group 2, rigid: zone C from 2.8, D from 4.5 mm/s; a baseline
// of 1.2 gives alarm 1.9 and trip 2.8.
func levelsEngine(f *fixture, calls *int) *alerting.Engine {
	now := f.t0
	return alerting.NewEngine(alerting.Config{Store: f.store, Now: func() time.Time { return now },
		Levels: func(_ context.Context, orgID, assetID int64) (alerting.ISOLevels, error) {
			*calls++
			if assetID != f.dev.AssetID {
				return alerting.ISOLevels{}, vibemon.Errorf(vibemon.ENOTFOUND, "no asset")
			}
			return alerting.ISOLevels{BC: 2.8, CD: 4.5, Alarm: 1.9, Trip: 2.8}, nil
		}})
}

func TestISOZoneRule(t *testing.T) {
	f := newFixture(t)
	calls := 0
	e := levelsEngine(f, &calls)
	f.kindRule(t, &vibemon.Rule{Name: "zone D", Kind: vibemon.RuleISOZone, Zone: vibemon.ZoneD})

	// Zone C on every axis raises nothing; the highest axis entering zone D
	// opens one alert, on that axis.
	if got := f.evaluate(t, e, f.readings(0, vel(3, 3.5, 4.4))); len(got) != 0 {
		t.Fatalf("zone C: %d changes, want none", len(got))
	}
	changed := f.evaluate(t, e, f.readings(10*time.Second, vel(3, 4.6, 4.0), vel(3, 5.2, 4.0)))
	if len(changed) != 1 || changed[0].Metric != "vel_rms_y" || changed[0].Threshold != 4.5 || changed[0].Peak != 5.2 {
		t.Fatalf("zone D: %+v, want one alert on vel_rms_y at 4.5 with peak 5.2", changed)
	}
	// Still in zone D, and between 90 % of the level and the level:
	// the same alert, updated.
	f.evaluate(t, e, f.readings(30*time.Second, vel(5.5, 3, 3), vel(4.2, 3, 3)))
	as := f.alerts(t)
	if len(as) != 1 || as[0].Status != vibemon.AlertOpen || as[0].Peak != 5.5 {
		t.Fatalf("after more zone D readings: %+v, want the one alert open, peak 5.5", as)
	}
	// At or below 90 % of 4.5 it resolves.
	changed = f.evaluate(t, e, f.readings(50*time.Second, vel(4.0, 3, 3)))
	if len(changed) != 1 || changed[0].Status != vibemon.AlertResolved {
		t.Fatalf("back to 4.0: %+v, want the alert resolved", changed)
	}
	if calls != 1 {
		t.Errorf("levels asked %d times within LevelsTTL, want 1 (cached)", calls)
	}
}

func TestISOAlarmLevelRuleSilencedByMaintenance(t *testing.T) {
	f := newFixture(t)
	calls := 0
	e := levelsEngine(f, &calls)
	f.kindRule(t, &vibemon.Rule{Name: "past alarm", Kind: vibemon.RuleISOZone, Zone: vibemon.ZoneAlarm})
	f.maintenance(t, 0, time.Minute)
	if got := f.evaluate(t, e, f.readings(0, vel(2.5, 0, 0), vel(2.5, 0, 0))); len(got) != 0 {
		t.Fatalf("past the alarm level during maintenance: %+v, want no alert", got)
	}
	changed := f.evaluate(t, e, f.readings(time.Minute, vel(2.0, 0, 0)))
	if len(changed) != 1 || changed[0].Threshold != 1.9 {
		t.Fatalf("past the alarm level after maintenance: %+v, want one alert at the alarm level 1.9", changed)
	}
}

func TestConditionsAllAndAny(t *testing.T) {
	hot := func(v, temp float64) map[vibemon.Metric]float64 {
		return map[vibemon.Metric]float64{vibemon.VelRMSX: v, vibemon.TempC: temp}
	}
	tests := []struct {
		match      string
		rows       []map[vibemon.Metric]float64
		wantOpened bool
	}{
		{vibemon.MatchAll, []map[vibemon.Metric]float64{hot(8, 60), hot(3, 90)}, false}, // never both on one reading
		{vibemon.MatchAll, []map[vibemon.Metric]float64{hot(8, 60), hot(8, 90)}, true},
		{vibemon.MatchAny, []map[vibemon.Metric]float64{hot(3, 60), hot(3, 90)}, true},
		{vibemon.MatchAny, []map[vibemon.Metric]float64{hot(3, 60), hot(6.9, 79)}, false},
	}
	for _, tc := range tests {
		f := newFixture(t)
		f.kindRule(t, &vibemon.Rule{Name: "hot and shaking", Match: tc.match, Conditions: []vibemon.Condition{
			{Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 7.1},
			{Metric: "temp_c", Op: vibemon.OpAbove, Threshold: 80}}})
		changed := f.evaluate(t, f.engine, f.readings(0, tc.rows...))
		if got := len(changed) == 1; got != tc.wantOpened {
			t.Errorf("match %s over %v: opened = %v (%+v), want %v", tc.match, tc.rows, got, changed, tc.wantOpened)
		}
	}
}

func TestConditionsAnyUpdatesAndResolvesOneAlert(t *testing.T) {
	f := newFixture(t)
	clear := 70.0
	f.kindRule(t, &vibemon.Rule{Name: "hot or shaking", Match: vibemon.MatchAny, Conditions: []vibemon.Condition{
		{Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 7.1},
		{Metric: "temp_c", Op: vibemon.OpAbove, Threshold: 80, Clear: &clear}}})
	row := func(v, temp float64) map[vibemon.Metric]float64 {
		return map[vibemon.Metric]float64{vibemon.VelRMSX: v, vibemon.TempC: temp}
	}
	changed := f.evaluate(t, f.engine, f.readings(0, row(3, 85)))
	if len(changed) != 1 || changed[0].Metric != "temp_c" {
		t.Fatalf("temperature breach: %+v, want one alert on temp_c", changed)
	}
	// The other condition breaching too, then temperature between clear
	// and threshold: the same alert, never a second one.
	f.evaluate(t, f.engine, f.readings(10*time.Second, row(8, 90), row(3, 75)))
	if as := f.alerts(t); len(as) != 1 || as[0].Status != vibemon.AlertOpen || as[0].Peak != 90 {
		t.Fatalf("alerts = %+v, want one open alert with peak 90 °C", as)
	}
	changed = f.evaluate(t, f.engine, f.readings(30*time.Second, row(3, 65)))
	if len(changed) != 1 || changed[0].Status != vibemon.AlertResolved {
		t.Fatalf("every condition cleared: %+v, want the alert resolved", changed)
	}
}

func TestObserveOfflineOpensOnceAndResolves(t *testing.T) {
	f := newFixture(t)
	rule := f.kindRule(t, &vibemon.Rule{Name: "silent 15 min", Kind: vibemon.RuleOffline, OfflineMinutes: 15})
	ctx := context.Background()
	seen := f.t0
	f.dev.LastSeenAt = &seen
	observe := func(after time.Duration) []*vibemon.Alert {
		o, ok := alerting.OfflineObservation(rule, f.dev, f.t0.Add(after))
		if !ok {
			t.Fatal("a device that reported is observed")
		}
		changed, err := f.engine.Observe(ctx, rule, f.dev, o)
		must(t, err)
		return changed
	}
	if got := observe(14 * time.Minute); len(got) != 0 {
		t.Fatalf("14 minutes silent: %+v, want no alert", got)
	}
	if got := observe(15 * time.Minute); len(got) != 1 || got[0].Metric != vibemon.AlertMetricOffline || got[0].Value != 15 {
		t.Fatalf("15 minutes silent: %+v, want one offline alert of 15 minutes", got)
	}
	for m := 16; m < 40; m++ {
		observe(time.Duration(m) * time.Minute)
	}
	if as := f.alerts(t); len(as) != 1 || as[0].Value != 39 {
		t.Fatalf("after 40 minutes of checks: %+v, want one alert updated to 39 minutes", as)
	}
	back := f.t0.Add(40 * time.Minute)
	f.dev.LastSeenAt = &back
	if got := observe(41 * time.Minute); len(got) != 1 || got[0].Status != vibemon.AlertResolved {
		t.Fatalf("device reported again: %+v, want the alert resolved", got)
	}
	f.dev.LastSeenAt = nil
	if _, ok := alerting.OfflineObservation(rule, f.dev, f.t0); ok {
		t.Error("a device that never reported is observed as offline")
	}
}

func TestObserveAnomalyAndMaintenance(t *testing.T) {
	f := newFixture(t)
	rule := f.kindRule(t, &vibemon.Rule{Name: "anomalous", Kind: vibemon.RuleAnomaly, Threshold: 0.7, Clear: 0.6})
	ctx := context.Background()
	f.maintenance(t, 0, 10*time.Minute)
	observe := func(after time.Duration, score float64) []*vibemon.Alert {
		changed, err := f.engine.Observe(ctx, rule, f.dev, alerting.AnomalyObservation(rule, f.dev, score, false, f.t0.Add(after)))
		must(t, err)
		return changed
	}
	if got := observe(5*time.Minute, 0.9); len(got) != 0 {
		t.Fatalf("anomalous during maintenance: %+v, want no alert", got)
	}
	if got := observe(10*time.Minute, 0.8); len(got) != 1 || got[0].Metric != vibemon.AlertMetricAnomaly {
		t.Fatalf("anomalous after maintenance: %+v, want one anomaly alert", got)
	}
	observe(20*time.Minute, 0.65) // between clear and level: stays
	observe(30*time.Minute, 0.95)
	if as := f.alerts(t); len(as) != 1 || as[0].Peak != 0.95 || as[0].Status != vibemon.AlertOpen {
		t.Fatalf("alerts = %+v, want one open alert with peak 0.95", as)
	}
	// Far outside the baseline with a low score (the forest is blind
	// there): still breaching, not cleared.
	if got, err := f.engine.Observe(ctx, rule, f.dev, alerting.AnomalyObservation(rule, f.dev, 0.5, true, f.t0.Add(35*time.Minute))); err != nil || len(got) != 1 || got[0].Status != vibemon.AlertOpen {
		t.Fatalf("deviating with score 0.5: %+v (%v), want the alert still open", got, err)
	}
	if got := observe(40*time.Minute, 0.5); len(got) != 1 || got[0].Status != vibemon.AlertResolved {
		t.Fatalf("score back to 0.5: %+v, want resolved", got)
	}
}

func TestObserveForecast(t *testing.T) {
	f := newFixture(t)
	rule := f.kindRule(t, &vibemon.Rule{Name: "alarm within 30 days", Kind: vibemon.RuleForecast, WithinDays: 30})
	ctx := context.Background()
	observe := func(now time.Time, crosses *time.Time) []*vibemon.Alert {
		changed, err := f.engine.Observe(ctx, rule, f.dev, alerting.ForecastObservation(rule, f.dev, crosses, 5.6, now))
		must(t, err)
		return changed
	}
	in := func(d int) *time.Time { c := f.t0.Add(time.Duration(d) * 24 * time.Hour); return &c }
	if got := observe(f.t0, in(45)); len(got) != 0 {
		t.Fatalf("crossing in 45 days: %+v, want no alert", got)
	}
	if got := observe(f.t0, in(20)); len(got) != 1 || got[0].Value != 20 || got[0].Metric != vibemon.AlertMetricForecast {
		t.Fatalf("crossing in 20 days: %+v, want one alert of 20 days", got)
	}
	observe(f.t0.Add(time.Hour), in(12))
	if as := f.alerts(t); len(as) != 1 || as[0].Peak > 12 {
		t.Fatalf("alerts = %+v, want one alert, nearest crossing about 12 days", as)
	}
	if got := observe(f.t0.Add(2*time.Hour), nil); len(got) != 1 || got[0].Status != vibemon.AlertResolved {
		t.Fatalf("no crossing forecast any more: %+v, want resolved", got)
	}
}

// TestFlappingSignalOnTheOtherReadingKinds: the flapping signal of
// TestFlappingSignal (20 minutes, 2 minutes in zone D, 1 minute calm, in
// 2-minute batches) makes one alert for an iso_zone rule and for a rule
// with conditions, given for 60 s and clear for 5 min; without durations
// it makes one per swing.
func TestFlappingSignalOnTheOtherReadingKinds(t *testing.T) {
	kinds := map[string]func() *vibemon.Rule{
		"iso_zone": func() *vibemon.Rule {
			return &vibemon.Rule{Name: "zone D", Kind: vibemon.RuleISOZone, Zone: vibemon.ZoneD}
		},
		"conditions": func() *vibemon.Rule {
			return &vibemon.Rule{Name: "shaking on x or y", Match: vibemon.MatchAny, Conditions: []vibemon.Condition{
				{Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 4.5}, {Metric: "vel_rms_y", Op: vibemon.OpAbove, Threshold: 4.5}}}
		},
	}
	for name, mk := range kinds {
		for _, tc := range []struct {
			forS, clearForS, want int
		}{{0, 0, 7}, {60, 300, 1}} {
			t.Run(name, func(t *testing.T) {
				f := newFixture(t)
				calls := 0
				e := levelsEngine(f, &calls)
				r := mk()
				r.ForSeconds, r.ClearForSeconds = tc.forS, tc.clearForS
				f.kindRule(t, r)
				vs := flapping()
				for i := 0; i < len(vs); i += 12 {
					var rows []map[vibemon.Metric]float64
					for _, v := range vs[i : i+12] {
						rows = append(rows, vel(v, 1, 1))
					}
					f.evaluate(t, e, f.readings(time.Duration(i)*10*time.Second, rows...))
				}
				if got := len(f.alerts(t)); got != tc.want {
					t.Fatalf("20 minutes of flapping with for %d s, clear for %d s made %d alerts, want %d", tc.forS, tc.clearForS, got, tc.want)
				}
			})
		}
	}
}
