package main

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// TestBrowserConditionReport: the Reports page lists the machines with the
// one to act on first and why, draws each one's daily levels, switches the
// period, and downloads the same table as a CSV file.
func TestBrowserConditionReport(t *testing.T) {
	chromium := chromiumPath(t)
	p := startProgram(t, map[string]string{"VIBEMON_DATA_DIR": t.TempDir()}, "serve", "--addr", "127.0.0.1:0")
	c := login(t, p.URL, testAdminEmail, testAdminPassword)
	// Two machines: a fan at 5 mm/s (ISO group 2 rigid: zone D) and a
	// quiet pump, each with two days of readings every 10 minutes; a rule
	// that both breach, so each has an alert open.
	if st := c.do("POST", "/api/v1/alert-rules", map[string]any{"name": "any vibration", "metric": "vel_rms_x", "op": "above", "threshold": 0.5, "severity": "warning", "enabled": true}, nil); st != 201 {
		t.Fatalf("create rule: status %d", st)
	}
	var ids []int64
	for _, m := range []struct {
		name string
		vel  float64
	}{{"Quiet pump P-1", 0.9}, {"Kiln fan F-2", 5}} {
		var asset, dev struct{ ID int64 }
		if st := c.do("POST", "/api/v1/assets", map[string]any{"name": m.name, "type": "fan", "rpm": 1480, "iso_group": 2, "foundation": "rigid"}, &asset); st != 201 {
			t.Fatalf("create asset: status %d", st)
		}
		if st := c.do("POST", "/api/v1/devices", map[string]any{"serial": m.name + " node", "asset_id": asset.ID}, &dev); st != 201 {
			t.Fatalf("register device: status %d", st)
		}
		var rs []map[string]any
		start := time.Now().UTC().Add(-48 * time.Hour)
		for i := range 48 * 6 {
			rs = append(rs, map[string]any{"device_id": dev.ID, "seq": i + 1, "ts": start.Add(time.Duration(i) * 10 * time.Minute).Format(time.RFC3339),
				"vel_rms_x": m.vel, "vel_rms_y": 0.7 * m.vel, "vel_rms_z": 0.4 * m.vel})
		}
		if st := c.do("POST", "/api/v1/telemetry", map[string]any{"readings": rs}, nil); st != 200 {
			t.Fatalf("post readings: status %d", st)
		}
		ids = append(ids, asset.ID)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bctx := headless(t, ctx, chromium, 1280, 900)
	fail := func(step string, err error) {
		t.Helper()
		shown, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`(document.getElementById("page-error")||{}).textContent||""`))
		t.Fatalf("%s: %v (error banner %q)", step, err, shown)
	}
	poll := func(step, expr string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			fail(step, err)
		}
	}

	if err := signIn(bctx, p.URL+"/login?next=/reports", testAdminEmail, testAdminPassword); err != nil {
		fail("sign in to the report", err)
	}
	poll("the report's rows", `document.querySelectorAll("#report tbody tr").length === 2`)
	rows, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#report tbody tr")].map(tr =>
		[tr.dataset.assetId, tr.dataset.condition, tr.querySelector(".reasons") ? tr.querySelector(".reasons").textContent : "", tr.querySelectorAll(".spark path").length].join("|"))`))
	if err != nil {
		fail("read the rows", err)
	}
	// The fan first (zone D: act now, saying so), then the pump (watch:
	// its alert); each with its line of daily levels.
	if len(rows) != 2 || !strings.HasPrefix(rows[0], strconv.FormatInt(ids[1], 10)+"|act|ISO 10816-3 zone D now") || !strings.HasSuffix(rows[0], "1 alert open|1") ||
		rows[1] != strconv.FormatInt(ids[0], 10)+"|watch|1 alert open|1" {
		t.Errorf("rows = %q, want the fan (%d) to act on because of zone D, then the pump (%d) to watch for its alert, each with a line", rows, ids[1], ids[0])
	}

	// On a phone the rows become cards that fit the screen.
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(375, 800), chromedp.Navigate(p.URL+"/reports")); err != nil {
		fail("the report on a phone", err)
	}
	poll("the report fits a phone", `document.querySelectorAll("#report tbody tr").length === 2 &&
		document.documentElement.scrollWidth <= window.innerWidth && document.getElementById("report").scrollWidth <= document.getElementById("report").clientWidth`)
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(p.URL+"/reports")); err != nil {
		fail("back to a wide screen", err)
	}
	poll("the report's rows again", `document.querySelectorAll("#report tbody tr").length === 2`)

	// Another period: the page asks again and says which.
	err = chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`#period [data-days="7"]`)))
	if err != nil {
		fail("pick 7 days", err)
	}
	poll("the 7-day report", `document.querySelector('#period [data-days="7"]').getAttribute("aria-pressed") === "true" &&
		document.querySelectorAll("#report tbody tr").length === 2 && Number(document.querySelector("#report .spark").dataset.days) === 8`)

	// Download CSV saves the same rows as a file.
	dir := t.TempDir()
	err = chromedp.Do(bctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		events := true
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir, EventsEnabled: &events})
		return err
	}), chromedp.Click(chromedp.CSS("#report-csv")))
	if err != nil {
		fail("download the CSV", err)
	}
	var file string
	for deadline := time.Now().Add(20 * time.Second); file == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		m, _ := filepath.Glob(filepath.Join(dir, "vibemon-condition-7d-*.csv"))
		if len(m) == 1 {
			file = m[0]
		}
	}
	if file == "" {
		fail("the CSV file", os.ErrNotExist)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) != 3 || recs[1][0] != "Kiln fan F-2" || recs[1][4] != "act" || recs[2][0] != "Quiet pump P-1" {
		t.Errorf("csv = %q (%v), want a header, the fan to act on, the pump", recs, err)
	}
	// A row's alerts lead to that machine's alerts, whatever their status.
	if err := clickToPage(bctx, `#report tbody tr[data-asset-id="`+strconv.FormatInt(ids[1], 10)+`"] .report-alerts`); err != nil {
		fail("open the fan's alerts", err)
	}
	poll("the fan's alerts", `location.pathname === "/alerts" && document.getElementById("f-asset").value === "`+strconv.FormatInt(ids[1], 10)+`" &&
		document.getElementById("f-asset").selectedOptions[0].textContent === "Kiln fan F-2" && document.getElementById("f-status").value === "" &&
		document.querySelectorAll("#alerts .alert-item").length === 1 && document.querySelector("#alerts .alert-item").textContent.includes("Kiln fan F-2 node")`)
	// All machines again: both alerts.
	err = chromedp.Do(bctx, chromedp.SetValue(chromedp.CSS("#f-asset"), ""),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("f-asset").dispatchEvent(new Event("change"))`))
	if err != nil {
		fail("all machines", err)
	}
	poll("every machine's alerts", `document.querySelectorAll("#alerts .alert-item").length === 2 && !location.search.includes("asset=")`)

	if got, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`JSON.stringify(document.documentElement.dataset)`)); got != "{}" {
		t.Errorf("the page counted problems: %s", got)
	}
}
