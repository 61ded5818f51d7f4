package alerting_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/alerting"
	"github.com/vibemon/vibemon/sqlite"
)

type fixture struct {
	store  *sqlite.Store
	engine *alerting.Engine
	org    *vibemon.Org
	dev    *vibemon.Device
	other  *vibemon.Device
	rule   *vibemon.Rule
	t0     time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "v.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &fixture{store: store, t0: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	f.org = &vibemon.Org{Name: "plant"}
	must(t, store.CreateOrg(ctx, f.org))
	asset := &vibemon.Asset{OrgID: f.org.ID, Name: "Pump", ISOGroup: 2, Foundation: vibemon.FoundationRigid}
	must(t, store.CreateAsset(ctx, asset))
	f.dev = &vibemon.Device{OrgID: f.org.ID, Serial: "A", AssetID: asset.ID}
	f.other = &vibemon.Device{OrgID: f.org.ID, Serial: "B"}
	for _, d := range []*vibemon.Device{f.dev, f.other} {
		if _, err := store.RegisterDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	f.rule = &vibemon.Rule{OrgID: f.org.ID, Name: "zone D", AssetID: asset.ID, Metric: "vel_rms_x",
		Op: vibemon.OpAbove, Threshold: 4.5, Clear: 4.0, Severity: vibemon.SeverityCritical, Enabled: true}
	must(t, f.rule.Validate())
	must(t, store.CreateRule(ctx, f.rule))
	f.engine = alerting.NewEngine(alerting.Config{Store: store})
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// feed evaluates one reading per value for dev, a second apart from start.
func (f *fixture) feed(t *testing.T, dev *vibemon.Device, start int, values ...float64) []*vibemon.Alert {
	t.Helper()
	var rs []vibemon.Reading
	for i, v := range values {
		r := vibemon.NewReading(dev.ID, int64(start+i), f.t0.Add(time.Duration(start+i)*time.Second))
		r.Values[vibemon.VelRMSX] = v
		rs = append(rs, r)
	}
	devs := map[int64]*vibemon.Device{f.dev.ID: f.dev, f.other.ID: f.other}
	changed, err := f.engine.Evaluate(context.Background(), f.org.ID, devs, rs)
	must(t, err)
	return changed
}

func (f *fixture) alerts(t *testing.T) []*vibemon.Alert {
	t.Helper()
	as, err := f.store.ListAlerts(context.Background(), f.org.ID, vibemon.AlertFilter{})
	must(t, err)
	return as
}

func TestBreachOpensOneAlertAndRepeatsUpdateIt(t *testing.T) {
	f := newFixture(t)
	if got := f.feed(t, f.dev, 0, 1.0, 2.0, 4.4); len(got) != 0 {
		t.Fatalf("below threshold: got %d alert changes, want 0", len(got))
	}
	changed := f.feed(t, f.dev, 3, 5.0, 6.5, 5.5)
	if len(changed) != 1 {
		t.Fatalf("breach: got %d changes, want 1", len(changed))
	}
	f.feed(t, f.dev, 6, 4.8, 7.0)
	as := f.alerts(t)
	if len(as) != 1 {
		t.Fatalf("got %d alerts after repeated breaches, want exactly 1", len(as))
	}
	a := as[0]
	if a.Status != vibemon.AlertOpen || a.Value != 7.0 || a.Peak != 7.0 || a.Severity != vibemon.SeverityCritical {
		t.Errorf("alert = status %s value %g peak %g severity %s, want open 7 7 critical", a.Status, a.Value, a.Peak, a.Severity)
	}
	if !a.OpenedAt.Equal(f.t0.Add(3 * time.Second)) {
		t.Errorf("opened_at = %s, want the first breaching reading's time", a.OpenedAt)
	}
}

func TestHysteresisKeepsAlertOpenBetweenClearAndThreshold(t *testing.T) {
	f := newFixture(t)
	f.feed(t, f.dev, 0, 5.0)
	// Hovering between clear (4.0) and threshold (4.5) neither clears nor re-opens.
	f.feed(t, f.dev, 1, 4.4, 4.6, 4.3, 4.7, 4.2)
	as := f.alerts(t)
	if len(as) != 1 || as[0].Status != vibemon.AlertOpen {
		t.Fatalf("got %d alerts (first %v), want one still open", len(as), as)
	}
	changed := f.feed(t, f.dev, 6, 3.9)
	if len(changed) != 1 || changed[0].Status != vibemon.AlertResolved || changed[0].ResolvedBy != 0 {
		t.Fatalf("clear: got %+v, want one automatically resolved alert", changed)
	}
	// A new breach after resolving opens a new alert.
	f.feed(t, f.dev, 7, 8.0)
	if as := f.alerts(t); len(as) != 2 {
		t.Fatalf("got %d alerts after a second breach, want 2", len(as))
	}
}

func TestAcknowledgedAlertStillResolvesAutomatically(t *testing.T) {
	f := newFixture(t)
	f.feed(t, f.dev, 0, 5.0)
	a := f.alerts(t)[0]
	if _, err := f.store.AckAlert(context.Background(), f.org.ID, a.ID, 1, "on it", f.t0); err != nil {
		t.Fatal(err)
	}
	f.feed(t, f.dev, 1, 6.0)
	if as := f.alerts(t); len(as) != 1 || as[0].Status != vibemon.AlertAcknowledged {
		t.Fatalf("breach after ack: got %v, want the same acknowledged alert", as)
	}
	f.feed(t, f.dev, 2, 1.0)
	if got := f.alerts(t)[0].Status; got != vibemon.AlertResolved {
		t.Fatalf("status = %s, want resolved", got)
	}
}

func TestRuleScopeAndMissingValues(t *testing.T) {
	f := newFixture(t)
	// The rule watches the pump's asset; device B is not on it.
	if got := f.feed(t, f.other, 0, 9.0); len(got) != 0 {
		t.Fatalf("device outside the rule's asset: got %d changes, want 0", len(got))
	}
	// NaN means not measured: it neither opens nor clears.
	f.feed(t, f.dev, 0, 5.0, math.NaN())
	if as := f.alerts(t); len(as) != 1 || as[0].Status != vibemon.AlertOpen {
		t.Fatalf("got %v, want one open alert", as)
	}
	// A disabled rule does nothing.
	f.rule.Enabled = false
	must(t, f.store.UpdateRule(context.Background(), f.rule))
	if got := f.feed(t, f.dev, 2, 1.0); len(got) != 0 {
		t.Fatalf("disabled rule: got %d changes, want 0", len(got))
	}
}

func TestBatchIsEvaluatedInTimeOrder(t *testing.T) {
	f := newFixture(t)
	// A gateway may deliver a batch out of order: breach at t=1, clear at t=2.
	rs := []vibemon.Reading{vibemon.NewReading(f.dev.ID, 2, f.t0.Add(2*time.Second)), vibemon.NewReading(f.dev.ID, 1, f.t0.Add(time.Second))}
	rs[0].Values[vibemon.VelRMSX] = 1.0
	rs[1].Values[vibemon.VelRMSX] = 9.0
	changed, err := f.engine.Evaluate(context.Background(), f.org.ID, map[int64]*vibemon.Device{f.dev.ID: f.dev}, rs)
	must(t, err)
	// Both changes are reported, each with its timeline event.
	if len(changed) != 2 || changed[0].ID != changed[1].ID || changed[0].Appended.Kind != vibemon.EventOpened ||
		changed[1].Status != vibemon.AlertResolved || changed[1].Peak != 9.0 || changed[1].Appended.Kind != vibemon.EventResolved {
		t.Fatalf("got %+v, want one alert opened at 9 and resolved by the later reading", changed)
	}
}
