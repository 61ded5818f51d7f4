package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/auth"
	"github.com/vibemon/vibemon/sqlite"
)

// TestBrowserAlertChartPastRetention: an alert older than the org's
// retention has no 1-minute averages left (they went with the readings);
// its page charts the hourly averages instead of nothing, and says so.
func TestBrowserAlertChartPastRetention(t *testing.T) {
	chromium := chromiumPath(t)
	dir := t.TempDir()
	ctx := context.Background()
	now := time.Now().UTC()
	opened := now.Add(-3 * 24 * time.Hour).Truncate(time.Minute)
	s, err := sqlite.Open(filepath.Join(dir, "vibemon.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	org := &vibemon.Org{Name: "My plant", RetentionDays: 1}
	must(s.CreateOrg(ctx, org))
	hash, err := auth.Hash(testAdminPassword)
	must(err)
	must(s.CreateUser(ctx, &vibemon.User{OrgID: org.ID, Email: testAdminEmail, Name: "Admin", Role: vibemon.RoleOwner, PasswordHash: hash}))
	dev := &vibemon.Device{OrgID: org.ID, Serial: "AA:BB:CC:00:00:31", Name: "P-31"}
	_, err = s.RegisterDevice(ctx, dev)
	must(err)
	// A reading a minute for the 6 h before the alert and the hour after.
	var rs []vibemon.Reading
	for i := range 7 * 60 {
		r := vibemon.NewReading(dev.ID, int64(i), opened.Add(-6*time.Hour+time.Duration(i)*time.Minute))
		r.Values[vibemon.VelRMSX] = 2 + float64(i)/100
		rs = append(rs, r)
	}
	_, err = s.InsertReadings(ctx, org.ID, rs)
	must(err)
	rule := &vibemon.Rule{OrgID: org.ID, Name: "P-31 vibration", Metric: "vel_rms_x", Op: vibemon.OpAbove, Threshold: 4.5, Severity: vibemon.SeverityWarning, Enabled: true}
	must(s.CreateRule(ctx, rule))
	a := &vibemon.Alert{OrgID: org.ID, RuleID: rule.ID, DeviceID: dev.ID, Severity: vibemon.SeverityWarning, Status: vibemon.AlertOpen,
		Metric: "vel_rms_x", Value: 5.6, Peak: 5.6, Threshold: 4.5, Message: "P-31: vel_rms_x 5.6 mm/s is above 4.5 mm/s.", OpenedAt: opened, UpdatedAt: opened}
	_, err = s.UpsertAlert(ctx, a)
	must(err)
	rep, err := s.PruneReadings(ctx, now)
	must(err)
	if rep.MinuteRollupsDeleted != int64(len(rs)) {
		t.Fatalf("the prune deleted %d minute rollups, want all %d (the case needs the alert's minutes gone)", rep.MinuteRollupsDeleted, len(rs))
	}
	must(s.Close())

	p := startProgram(t, map[string]string{"VIBEMON_DATA_DIR": dir}, "serve", "--addr", "127.0.0.1:0")
	bctx := headless(t, ctx, chromium, 1280, 900)
	err = signIn(bctx, p.URL+"/login?next="+fmt.Sprintf("/alerts/%d", a.ID), testAdminEmail, testAdminPassword)
	if err == nil {
		_, err = chromedp.Run(bctx, chromedp.Poll[bool](`Number(document.getElementById("chart-alert").dataset.points) >= 7 && !!document.querySelector("#chart-alert canvas")`,
			chromedp.WithPollingTimeout(20*time.Second)))
	}
	note, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#chart-note")))
	if err != nil {
		t.Fatalf("the alert's chart from hourly averages: %v (note %q)", err, note)
	}
	if !strings.Contains(note, "hourly averages") {
		t.Errorf("chart note %q, want it to say the chart is of hourly averages", note)
	}
}
