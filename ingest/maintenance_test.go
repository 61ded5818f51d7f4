package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

func TestReadingsInMaintenanceAreStoredButOpenNoAlert(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	asset := &vibemon.Asset{OrgID: f.orgA, Name: "kiln fan", ISOGroup: 2, Foundation: vibemon.FoundationRigid}
	if err := f.store.CreateAsset(ctx, asset); err != nil {
		t.Fatal(err)
	}
	dev := &vibemon.Device{OrgID: f.orgA, Serial: "node-kiln", AssetID: asset.ID}
	if _, err := f.store.RegisterDevice(ctx, dev); err != nil {
		t.Fatal(err)
	}
	w := &vibemon.MaintenanceWindow{OrgID: f.orgA, AssetID: asset.ID, From: f.now.Add(-time.Hour), To: f.now.Add(time.Hour), Reason: "burner service"}
	if err := f.store.CreateMaintenance(ctx, w); err != nil {
		t.Fatal(err)
	}
	// 90 °C is above the org's 80 °C rule, inside the window.
	if _, err := f.svc.Ingest(ctx, f.orgA, []vibemon.Reading{f.reading(dev, 1, 90), f.reading(dev, 2, 95)}); err != nil {
		t.Fatal(err)
	}
	pts, err := f.store.QueryReadings(ctx, f.orgA, vibemon.ReadingQuery{DeviceID: dev.ID, From: f.now.Add(-time.Minute), To: f.now.Add(time.Minute), Bucket: vibemon.BucketRaw})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 2 {
		t.Errorf("stored %d readings in maintenance, want 2", len(pts))
	}
	alerts, err := f.store.ListAlerts(ctx, f.orgA, vibemon.AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 0 {
		t.Errorf("alerts in maintenance = %+v, want none", alerts)
	}
}
