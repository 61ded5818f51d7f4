package jobs_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/jobs"
	"github.com/vibemon/vibemon/sqlite"
)

// offlineEnv is a store with an org, an asset with two devices that
// reported at t0, and an offline rule (15 minutes) over the asset.
type offlineEnv struct {
	store  *sqlite.Store
	clock  *frozenClock
	org    *vibemon.Org
	asset  *vibemon.Asset
	a, b   *vibemon.Device
	rule   *vibemon.Rule
	runner *jobs.Runner
	bus    *chanBus
	t0     time.Time
}

func newOfflineEnv(t *testing.T) *offlineEnv {
	t.Helper()
	ctx := context.Background()
	e := &offlineEnv{clock: &frozenClock{}, t0: time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC), bus: &chanBus{ch: make(chan vibemon.Event, 100)}}
	e.clock.set(e.t0)
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "vibemon.db"), sqlite.Options{Now: e.clock.now, Synchronous: "NORMAL"})
	must(t, err)
	t.Cleanup(func() { st.Close() })
	e.store = st
	e.org = &vibemon.Org{Name: "acme"}
	must(t, st.CreateOrg(ctx, e.org))
	e.asset = &vibemon.Asset{OrgID: e.org.ID, Name: "Kiln fan", ISOGroup: 2, Foundation: vibemon.FoundationRigid}
	must(t, st.CreateAsset(ctx, e.asset))
	e.a = &vibemon.Device{OrgID: e.org.ID, Serial: "node-a", AssetID: e.asset.ID}
	e.b = &vibemon.Device{OrgID: e.org.ID, Serial: "node-b", AssetID: e.asset.ID}
	for _, d := range []*vibemon.Device{e.a, e.b} {
		_, err := st.RegisterDevice(ctx, d)
		must(t, err)
	}
	e.report(t, e.a, e.t0)
	e.report(t, e.b, e.t0)
	e.rule = &vibemon.Rule{OrgID: e.org.ID, Name: "silent 15 min", Kind: vibemon.RuleOffline, AssetID: e.asset.ID,
		OfflineMinutes: 15, Severity: vibemon.SeverityWarning, Enabled: true}
	must(t, st.CreateRule(ctx, e.rule))
	e.runner, err = jobs.New(jobs.Config{Path: filepath.Join(dir, "jobs.db"), Store: st, Orgs: st, Bus: e.bus, Now: e.clock.now})
	must(t, err)
	t.Cleanup(e.runner.Stop)
	return e
}

// report stores one reading of d at ts (what moves last_seen_at).
func (e *offlineEnv) report(t *testing.T, d *vibemon.Device, ts time.Time) {
	t.Helper()
	r := vibemon.NewReading(d.ID, int64(ts.Sub(e.t0)/time.Second), ts)
	r.Values[vibemon.VelRMSX] = 1.5
	_, err := e.store.InsertReadings(context.Background(), e.org.ID, []vibemon.Reading{r})
	must(t, err)
}

// check runs CheckOfflineRules at t0+after and returns how many alerts it
// opened.
func (e *offlineEnv) check(t *testing.T, after time.Duration) int {
	t.Helper()
	e.clock.set(e.t0.Add(after))
	n, err := e.runner.CheckOfflineRules(context.Background())
	must(t, err)
	return n
}

func (e *offlineEnv) alerts(t *testing.T) []*vibemon.Alert {
	t.Helper()
	as, err := e.store.ListAlerts(context.Background(), e.org.ID, vibemon.AlertFilter{})
	must(t, err)
	return as
}

func TestOfflineRuleOpensOnceUpdatesAndResolves(t *testing.T) {
	e := newOfflineEnv(t)
	// Device a keeps reporting; b falls silent after t0.
	for m := 1; m <= 14; m++ {
		e.report(t, e.a, e.t0.Add(time.Duration(m)*time.Minute))
		if n := e.check(t, time.Duration(m)*time.Minute); n != 0 {
			t.Fatalf("minute %d: %d alerts opened, want none before 15 minutes of silence", m, n)
		}
	}
	e.report(t, e.a, e.t0.Add(15*time.Minute))
	if n := e.check(t, 15*time.Minute); n != 1 {
		t.Fatalf("b silent for 15 minutes: %d alerts opened, want 1", n)
	}
	// The job runs every minute (and twice on a restart): one alert.
	for m := 16; m <= 30; m++ {
		e.report(t, e.a, e.t0.Add(time.Duration(m)*time.Minute))
		e.check(t, time.Duration(m)*time.Minute)
		e.check(t, time.Duration(m)*time.Minute)
	}
	as := e.alerts(t)
	if len(as) != 1 || as[0].DeviceID != e.b.ID || as[0].Status != vibemon.AlertOpen || as[0].Metric != vibemon.AlertMetricOffline || as[0].Value != 30 {
		t.Fatalf("alerts after 30 minutes = %+v, want one open offline alert for b at 30 minutes", as)
	}
	// b reports again: the next run resolves the alert.
	e.report(t, e.b, e.t0.Add(31*time.Minute))
	e.check(t, 31*time.Minute+30*time.Second)
	as = e.alerts(t)
	if len(as) != 1 || as[0].Status != vibemon.AlertResolved || as[0].ResolvedBy != 0 {
		t.Fatalf("alerts after b reported = %+v, want the alert resolved automatically", as)
	}
	select {
	case ev := <-e.bus.ch:
		if ev.Type != vibemon.EventAlert || ev.DeviceID != e.b.ID {
			t.Errorf("published %+v, want an alert event of b", ev)
		}
	default:
		t.Error("no live alert event published")
	}
}

func TestOfflineRuleSilencedByMaintenance(t *testing.T) {
	e := newOfflineEnv(t)
	w := &vibemon.MaintenanceWindow{OrgID: e.org.ID, AssetID: e.asset.ID, From: e.t0, To: e.t0.Add(2 * time.Hour), Reason: "fan stopped for inspection"}
	must(t, e.store.CreateMaintenance(context.Background(), w))
	for m := 15; m < 120; m += 15 {
		if n := e.check(t, time.Duration(m)*time.Minute); n != 0 {
			t.Fatalf("minute %d of maintenance: %d alerts opened, want none", m, n)
		}
	}
	// After the window both devices, still silent, raise one alert each.
	if n := e.check(t, 2*time.Hour); n != 2 {
		t.Fatalf("after maintenance: %d alerts opened, want 2 (both devices silent)", n)
	}
}

func TestHealthRulesSkipDevicesWithoutEnoughData(t *testing.T) {
	// A fresh device has no anomaly model and no trend: anomaly and
	// forecast rules raise nothing (rather than a false alarm).
	e := newOfflineEnv(t)
	ctx := context.Background()
	for _, r := range []*vibemon.Rule{
		{OrgID: e.org.ID, Name: "anomalous", Kind: vibemon.RuleAnomaly, Severity: vibemon.SeverityWarning, Enabled: true},
		{OrgID: e.org.ID, Name: "alarm within 30 days", Kind: vibemon.RuleForecast, WithinDays: 30, Severity: vibemon.SeverityWarning, Enabled: true},
	} {
		must(t, e.store.CreateRule(ctx, r))
	}
	n, err := e.runner.CheckHealthRules(ctx)
	must(t, err)
	if n != 0 || len(e.alerts(t)) != 0 {
		t.Fatalf("health rules on devices without a model or trend opened %d alerts, want none", n)
	}
}

func TestForecastRuleOpensOnARisingTrend(t *testing.T) {
	e := newOfflineEnv(t)
	ctx := context.Background()
	// 20 days of readings, one an hour, on device a: a calm first day
	// (baseline 1.5 mm/s, so alarm = 1.5 + 0.25 x 2.8 = 2.2 mm/s for group
	// 2 rigid), then a rise of 0.02 mm/s a day: the alarm level is about
	// 16 days ahead of day 20.
	start := e.t0
	var rs []vibemon.Reading
	for hr := 0; hr < 20*24; hr++ {
		ts := start.Add(time.Duration(hr) * time.Hour)
		r := vibemon.NewReading(e.a.ID, int64(1000+hr), ts)
		day := float64(hr) / 24
		r.Values[vibemon.VelRMSX] = 1.5 + 0.02*day + 0.001*float64(hr%3)
		rs = append(rs, r)
	}
	_, err := e.store.InsertReadings(ctx, e.org.ID, rs)
	must(t, err)
	e.clock.set(start.Add(20 * 24 * time.Hour))
	rule := &vibemon.Rule{OrgID: e.org.ID, Name: "alarm within 30 days", Kind: vibemon.RuleForecast, DeviceID: e.a.ID, WithinDays: 30,
		Severity: vibemon.SeverityWarning, Enabled: true}
	must(t, e.store.CreateRule(ctx, rule))
	n, err := e.runner.CheckHealthRules(ctx)
	must(t, err)
	if n != 1 {
		t.Fatalf("rising trend: %d alerts opened, want 1", n)
	}
	// The next run updates the same alert.
	e.clock.set(start.Add(20*24*time.Hour + 10*time.Minute))
	n, err = e.runner.CheckHealthRules(ctx)
	must(t, err)
	as := e.alerts(t)
	if n != 0 || len(as) != 1 || as[0].Metric != vibemon.AlertMetricForecast || as[0].Value <= 0 || as[0].Value > 30 || as[0].DeviceID != e.a.ID {
		t.Fatalf("after a second run: %d opened, alerts %+v; want the one forecast alert of device a, within 30 days", n, as)
	}
	// A rule that looks only 3 days ahead raises nothing.
	rule.WithinDays = 3
	must(t, e.store.UpdateRule(ctx, rule))
	must(t, e.store.DeleteRule(ctx, e.org.ID, e.rule.ID)) // the offline rule: device b is silent
	short := &vibemon.Rule{OrgID: e.org.ID, Name: "alarm within 3 days", Kind: vibemon.RuleForecast, DeviceID: e.a.ID, WithinDays: 3,
		Severity: vibemon.SeverityWarning, Enabled: true}
	must(t, e.store.CreateRule(ctx, short))
	if _, err := e.runner.CheckHealthRules(ctx); err != nil {
		t.Fatal(err)
	}
	for _, a := range e.alerts(t) {
		if a.RuleID == short.ID {
			t.Errorf("a crossing about %g days ahead raised an alert of a 3-day rule: %+v", as[0].Value, a)
		}
	}
}

func TestAnomalyRuleOpensOnceAndResolves(t *testing.T) {
	e := newOfflineEnv(t)
	ctx := context.Background()
	must(t, e.store.DeleteRule(ctx, e.org.ID, e.rule.ID)) // only the anomaly rule
	// Eight hours of a calm machine, a reading a minute, are device a's
	// baseline; the model is trained at the end of them.
	seq := int64(100)
	put := func(from time.Time, minutes int, vel, temp float64) {
		var rs []vibemon.Reading
		for i := range minutes {
			r := vibemon.NewReading(e.a.ID, seq, from.Add(time.Duration(i)*time.Minute))
			seq++
			j := float64(i%7) / 7
			r.Values[vibemon.VelRMSX], r.Values[vibemon.VelRMSY], r.Values[vibemon.VelRMSZ] = vel+0.1*j, vel*0.8+0.1*j, vel*0.6+0.05*j
			r.Values[vibemon.AccRMSX], r.Values[vibemon.KurtosisX], r.Values[vibemon.CrestX] = 0.2+0.02*j, 3+0.1*j, 3.5+0.1*j
			r.Values[vibemon.TempC] = temp + j
			rs = append(rs, r)
		}
		_, err := e.store.InsertReadings(ctx, e.org.ID, rs)
		must(t, err)
	}
	put(e.t0, 480, 1.5, 40)
	e.clock.set(e.t0.Add(8 * time.Hour))
	must(t, e.runner.TrainAll(ctx))
	rule := &vibemon.Rule{OrgID: e.org.ID, Name: "K-2 behaves oddly", Kind: vibemon.RuleAnomaly, DeviceID: e.a.ID,
		Threshold: 0.6, Clear: 0.55, Severity: vibemon.SeverityWarning, Enabled: true}
	must(t, e.store.CreateRule(ctx, rule))

	check := func() int {
		n, err := e.runner.CheckHealthRules(ctx)
		must(t, err)
		return n
	}
	// Calm: nothing.
	put(e.t0.Add(8*time.Hour), 15, 1.5, 40)
	e.clock.set(e.t0.Add(8*time.Hour + 15*time.Minute))
	if n := check(); n != 0 {
		t.Fatalf("calm machine: %d alerts opened, want none", n)
	}
	// Shaking and hot: one alert, updated by the next runs.
	put(e.t0.Add(9*time.Hour), 15, 9, 75)
	for i := range 3 {
		e.clock.set(e.t0.Add(9*time.Hour + time.Duration(15+i)*time.Minute))
		if n := check(); (i == 0) != (n == 1) {
			t.Fatalf("run %d on a shaking machine opened %d alerts, want 1 on the first run only", i, n)
		}
	}
	as := e.alerts(t)
	if len(as) != 1 || as[0].Metric != vibemon.AlertMetricAnomaly || as[0].Status != vibemon.AlertOpen {
		t.Fatalf("alerts = %+v, want one open anomaly alert", as)
	}
	// Calm again: resolved.
	put(e.t0.Add(10*time.Hour), 15, 1.5, 40)
	e.clock.set(e.t0.Add(10*time.Hour + 15*time.Minute))
	check()
	if as := e.alerts(t); len(as) != 1 || as[0].Status != vibemon.AlertResolved {
		t.Fatalf("alerts after the machine calmed down = %+v, want the one alert resolved", as)
	}
}
