package alerting_test

import (
	"context"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

func (f *fixture) maintenance(t *testing.T, from, to time.Duration) {
	t.Helper()
	w := &vibemon.MaintenanceWindow{OrgID: f.org.ID, AssetID: f.dev.AssetID, From: f.t0.Add(from), To: f.t0.Add(to), Reason: "bearing swap"}
	must(t, f.store.CreateMaintenance(context.Background(), w))
}

func TestMaintenanceWindowSilencesNewAlerts(t *testing.T) {
	f := newFixture(t)
	f.maintenance(t, 10*time.Second, 60*time.Second)
	// Breaching readings inside the window open nothing.
	if got := f.feedAt(t, 10*time.Second, 10*time.Second, 9, 9, 9, 9, 9); len(got) != 0 {
		t.Fatalf("breach inside the window: %+v, want no alert", got)
	}
	// The window ends at 60 s (exclusive): the next breach opens an alert.
	changed := f.feedAt(t, 60*time.Second, 10*time.Second, 9)
	if len(changed) != 1 || !changed[0].OpenedAt.Equal(f.t0.Add(60*time.Second)) {
		t.Fatalf("breach after the window: %+v, want one alert opened at 60 s", changed)
	}
}

func TestMaintenanceWindowKeepsOpenAlertOpen(t *testing.T) {
	f := newFixture(t)
	f.feedAt(t, 0, 10*time.Second, 9) // open before the window
	f.maintenance(t, 5*time.Second, time.Hour)
	f.feedAt(t, 10*time.Second, 10*time.Second, 9.5, 9.8)
	as := f.alerts(t)
	if len(as) != 1 || as[0].Status != vibemon.AlertOpen || as[0].Peak != 9.8 {
		t.Fatalf("alerts = %+v, want the one open alert, updated to peak 9.8", as)
	}
}

func TestBreachDuringMaintenanceCountsFromItsEnd(t *testing.T) {
	f := newFixture(t)
	f.setDurations(t, 60, 0)
	f.maintenance(t, 0, 100*time.Second)
	// Breaching from 50 s to 150 s: only 50 s of it are after the window.
	if got := f.feedAt(t, 50*time.Second, 10*time.Second, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9); len(got) != 0 {
		t.Fatalf("breach %+v, want none before 60 s past the window", got)
	}
	changed := f.feedAt(t, 160*time.Second, 10*time.Second, 9)
	if len(changed) != 1 || !changed[0].OpenedAt.Equal(f.t0.Add(100*time.Second)) {
		t.Fatalf("60 s past the window: %+v, want one alert breaching since 100 s", changed)
	}
}
